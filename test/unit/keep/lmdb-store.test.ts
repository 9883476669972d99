// The durable store alone: what is put is there after it is closed and opened again (as after
// a restart), per node and in the order received; removed events are gone.
import assert = require("node:assert/strict");
import { allPending, type KeptEvent } from "../../../nodes/keep/kept-events.js";
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import { privatePackageFiles } from "../../../nodes/keep/package-files.js";
import { open } from "lmdb";
import { LmdbStore, KeptFull, PENDING_PAGE_EVENTS, keyOf, type Key, type StoredEvent } from "../../../nodes/keep/lmdb-store.js";

function event(endpoint: string, deliveryId: string, index: number, receivedAt: string): StoredEvent {
    return { endpoint, deliveryId, index, receivedAt, verified: true, test: false, remoteAddress: "203.0.113.7", payload: JSON.stringify({ uuid: `${deliveryId}-${index}` }), attempts: 1, parked: false };
}

describe("durable store", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-store-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("keeps what it resolved a put for across a close and an open, per node, in the order received", async () => {
        const store = LmdbStore.open(dir);
        await store.put([event("b", "d2", 0, "2026-11-24T10:00:02.000Z"), event("b", "d2", 1, "2026-11-24T10:00:02.000Z")]);
        await store.put([event("b", "d1", 0, "2026-11-24T10:00:01.000Z"), event("a", "d0", 0, "2026-11-24T10:00:00.000Z")]);
        await store.close();

        const reopened = LmdbStore.open(dir);
        assert.equal(reopened.count, 4);
        assert.deepEqual(
            reopened.eventsOf("b").map((kept) => [kept.deliveryId, kept.index]),
            [["d1", 0], ["d2", 0], ["d2", 1]],
        );
        assert.deepEqual(reopened.eventsOf("a").map((kept) => kept.payload), ['{"uuid":"d0-0"}']);
        assert.deepEqual(reopened.eventsOf("c"), []);
        reopened.remove(keyOf(event("b", "d2", 0, "2026-11-24T10:00:02.000Z")));
        reopened.remove(keyOf(event("b", "d1", 0, "2026-11-24T10:00:01.000Z")));
        await reopened.put([{ ...event("a", "d0", 0, "2026-11-24T10:00:00.000Z"), attempts: 2 }]); // and a sync after the removals
        await reopened.close();

        const again = LmdbStore.open(dir);
        assert.deepEqual(again.eventsOf("b").map((kept) => [kept.deliveryId, kept.index]), [["d2", 1]]);
        assert.equal(again.eventsOf("a")[0]?.attempts, 2, "a put over a key replaces it");
        await again.close();
    });

    it("writes each event's bytes as received, reads them back byte for byte, and reads an earlier version's JSON text as it is", async () => {
        const store = LmdbStore.open(dir);
        const view = store.forEndpoint("n");
        const receivedAt = "2026-01-01T00:00:00.000Z";
        // An element of a batch as it sat in the body: spacing, an escape, multi-byte characters.
        const bytes = Buffer.from('{ "uuid":"a", "location":"K\\u00e4men ✓" }');
        const [handle] = await view.put([{ deliveryId: "bytes", index: 0, receivedAt, verified: true, test: false, remoteAddress: undefined, payload: bytes.subarray(0) }]);
        assert.equal(handle![4], bytes.length, "weighed in bytes");
        await store.put([{ ...event("n", "text", 0, receivedAt), payload: '{"uuid":"written by 0.2"}' }]);
        await store.close();
        const reopened = LmdbStore.open(dir);
        const [first, second] = await allPending(reopened.forEndpoint("n"));
        assert.ok(first!.payload instanceof Uint8Array && Buffer.from(first!.payload).equals(bytes), "the same bytes");
        assert.equal(second!.payload, '{"uuid":"written by 0.2"}');
        await reopened.close();
    });

    it("gives a node what it kept before it started, not what it receives since, and counts attempts and parks on disk", async () => {
        const store = LmdbStore.open(dir);
        await store.put([event("n", "before", 0, "2026-01-01T00:00:00.000Z"), event("n", "before", 1, "2026-01-01T00:00:00.000Z"), event("other", "x", 0, "2026-01-01T00:00:00.000Z")]);
        const view = store.forEndpoint("n");
        const [since] = await view.put([{ deliveryId: "since", index: 0, receivedAt: new Date().toISOString(), verified: true, test: false, remoteAddress: undefined, payload: "{}" }]);
        assert.deepEqual([since![0], since![2], since![3], since![4]], ["n", "since", 0, 2], "node, delivery, index, payload length");
        const recovered = await allPending(view);
        assert.deepEqual(recovered.map((kept) => [kept.deliveryId, kept.index, kept.attempts, kept.parked]), [["before", 0, 1, false], ["before", 1, 1, false]]);

        await view.attempted([recovered[0]!], 2);
        const [parked] = await view.park([recovered[1]!]);
        view.forget(since!);
        const later = await allPending(store.forEndpoint("n")); // a node started later: the one just forgotten is gone
        assert.deepEqual(later.map((kept) => [kept.deliveryId, kept.index, kept.attempts, kept.parked]), [["before", 0, 2, false], ["before", 1, 1, true]]);
        assert.deepEqual(later[1]!.handle, parked, "a parked event keeps its handle");
        await store.close();
    });

    it("shares a sync between the puts of one turn (group commit)", async () => {
        const store = LmdbStore.open(dir);
        const many = Array.from({ length: 200 }, (_, n) => store.put([event("n", `d${n}`, 0, new Date(1_800_000_000_000 + n).toISOString())]));
        await Promise.all(many);
        assert.equal(store.count, 200);
        await store.close();
    });

    it("every node recovering after a deploy sees what any node handled before it, however the recoveries interleave", async () => {
        const store = LmdbStore.open(dir);
        const receivedAt = "2026-11-24T10:00:00.000Z";
        const [key] = await store.put([event("delay", "d1", 0, receivedAt), event("delay", "d1", 1, receivedAt)]);
        store.remove(key!); // the flow handled event 0 just before the deploy
        // After the deploy, every node recovers at once: the first call writes the removal.
        const views = ["switch", "change", "delay"].map((endpoint) => store.forEndpoint(endpoint));
        const recovered = await Promise.all(views.map((view) => allPending(view)));
        assert.deepEqual(recovered[2]!.map((kept) => kept.index), [1]);
        await store.close();
    });

    it("a node that closes writes what it was told to forget: Node-RED exits at shutdown without waiting for the store", async () => {
        const store = LmdbStore.open(dir);
        const view = store.forEndpoint("n");
        const [handled, pending] = await view.put([event("n", "d1", 0, "2026-11-24T10:00:00.000Z"), event("n", "d1", 1, "2026-11-24T10:00:00.000Z")]);
        view.forget(handled!);
        await view.close();
        // Read from disk as the next process would, before the store's own batching timer would have written it.
        const reader = open<StoredEvent, Key>({ path: dir, encoding: "msgpack", compression: false, readOnly: true });
        assert.deepEqual([...reader.getKeys()], [pending], "only the event not handled is left");
        await reader.close();
        await store.close();
    });

    it("lives in a directory only its user can read (it holds payloads)", async () => {
        const store = LmdbStore.open(privatePackageFiles(dir).deliveries);
        for (const created of [path.join(dir, "verified-webhooks"), path.join(dir, "verified-webhooks", "deliveries")]) {
            assert.equal(fs.statSync(created).mode & 0o777, 0o700, created);
        }
        await store.close();
    });

    it("refuses past a node's bounds (events, payload bytes), counted from its keys, and frees what is forgotten", async () => {
        const store = LmdbStore.open(dir);
        const receivedAt = "2026-01-01T00:00:00.000Z";
        await store.put([event("n", "old", 0, receivedAt)]); // kept before this view: counted from the keys
        const view = store.forEndpoint("n", { maxEvents: 3, maxBytes: 10_000 });
        const one = (id: string, payload = "{}") => ({ deliveryId: id, index: 0, receivedAt, verified: true, test: false, remoteAddress: undefined, payload });
        const [a] = await view.put([one("a")]);
        await view.put([one("b")]);
        await assert.rejects(view.put([one("c")]), KeptFull, "the fourth event");
        view.forget(a!);
        await view.put([one("c")]);
        const heavy = store.forEndpoint("m", { maxEvents: 100, maxBytes: 1000 });
        await heavy.put([one("x", "x".repeat(600))]);
        await assert.rejects(heavy.put([one("y", "y".repeat(600))]), KeptFull, "past the bytes");
        await store.close();
    });

    it("recovers in pages, in the order received, never splitting a delivery", async () => {
        const store = LmdbStore.open(dir);
        const events = [];
        for (let delivery = 0; delivery < 30; delivery++) {
            const receivedAt = new Date(Date.UTC(2026, 0, 1, 0, 0, delivery)).toISOString();
            for (let index = 0; index < 40; index++) events.push(event("n", `d${String(delivery).padStart(2, "0")}`, index, receivedAt));
        }
        await store.put(events);
        const view = store.forEndpoint("n");
        const pages: KeptEvent<unknown>[][] = [];
        for (let cursor: unknown = undefined; ; ) {
            const page = await view.pending(cursor);
            if (page.events.length) pages.push(page.events);
            if (page.cursor === undefined) break;
            cursor = page.cursor;
        }
        assert.ok(pages.length >= 2 && pages.every((page) => page.length <= PENDING_PAGE_EVENTS + 40), pages.map((page) => page.length).join(","));
        assert.equal(pages.flat().length, 1200);
        assert.deepEqual([...new Set(pages.flat().map((kept) => kept.deliveryId))], Array.from({ length: 30 }, (_, n) => `d${String(n).padStart(2, "0")}`));
        for (const page of pages) assert.equal(page.at(-1)!.index, 39, "a page ends with a whole delivery");
        await store.close();
    });
});
