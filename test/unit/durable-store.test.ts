// The durable store alone: what is put is there after it is closed and opened again (as after
// a restart), per node and in the order received; removed events are gone.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import { DurableStore, keyOf, type StoredEvent } from "../../nodes/core/durable-store.js";

function event(nodeId: string, deliveryId: string, index: number, receivedAt: string): StoredEvent {
    return { nodeId, deliveryId, index, receivedAt, verified: true, test: false, remoteAddress: "203.0.113.7", payload: JSON.stringify({ uuid: `${deliveryId}-${index}` }), attempts: 1, parked: false };
}

describe("durable store", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-store-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("keeps what it resolved a put for across a close and an open, per node, in the order received", async () => {
        const store = DurableStore.open(dir);
        await store.put([event("b", "d2", 0, "2026-11-24T10:00:02.000Z"), event("b", "d2", 1, "2026-11-24T10:00:02.000Z")]);
        await store.put([event("b", "d1", 0, "2026-11-24T10:00:01.000Z"), event("a", "d0", 0, "2026-11-24T10:00:00.000Z")]);
        await store.close();

        const reopened = DurableStore.open(dir);
        assert.equal(reopened.count, 4);
        assert.deepEqual(
            reopened.eventsOf("b").map((kept) => [kept.deliveryId, kept.index]),
            [["d1", 0], ["d2", 0], ["d2", 1]],
        );
        assert.deepEqual(reopened.eventsOf("a").map((kept) => kept.payload), ['{"uuid":"d0-0"}']);
        assert.deepEqual(reopened.eventsOf("c"), []);
        reopened.remove(keyOf({ nodeId: "b", deliveryId: "d2", index: 0 }));
        reopened.remove(keyOf({ nodeId: "b", deliveryId: "d1", index: 0 }));
        await reopened.put([{ ...event("a", "d0", 0, "2026-11-24T10:00:00.000Z"), attempts: 2 }]); // and a sync after the removals
        await reopened.close();

        const again = DurableStore.open(dir);
        assert.deepEqual(again.eventsOf("b").map((kept) => [kept.deliveryId, kept.index]), [["d2", 1]]);
        assert.equal(again.eventsOf("a")[0]?.attempts, 2, "a put over a key replaces it");
        await again.close();
    });

    it("gives a node what it kept before it started, not what it receives since, and counts attempts and parks on disk", async () => {
        const store = DurableStore.open(dir);
        await store.put([event("n", "before", 0, "2026-01-01T00:00:00.000Z"), event("n", "before", 1, "2026-01-01T00:00:00.000Z"), event("other", "x", 0, "2026-01-01T00:00:00.000Z")]);
        const view = store.forNode("n");
        const [since] = await view.put([{ deliveryId: "since", index: 0, receivedAt: new Date().toISOString(), verified: true, test: false, remoteAddress: undefined, payload: "{}" }]);
        assert.deepEqual(since, ["n", "since", 0]);
        const recovered = await view.recover();
        assert.deepEqual(recovered.map((kept) => [kept.deliveryId, kept.index, kept.attempts, kept.parked]), [["before", 0, 1, false], ["before", 1, 1, false]]);

        await view.attempted([recovered[0]!], 2);
        const [parked] = await view.park([recovered[1]!]);
        view.forget(since!);
        const later = await store.forNode("n").recover(); // a node started later: the one just forgotten is gone
        assert.deepEqual(later.map((kept) => [kept.deliveryId, kept.index, kept.attempts, kept.parked]), [["before", 0, 2, false], ["before", 1, 1, true]]);
        assert.deepEqual(later[1]!.handle, parked, "a parked event keeps its handle");
        await store.close();
    });

    it("shares a sync between the puts of one turn (group commit)", async () => {
        const store = DurableStore.open(dir);
        const many = Array.from({ length: 200 }, (_, n) => store.put([event("n", `d${n}`, 0, new Date(1_800_000_000_000 + n).toISOString())]));
        await Promise.all(many);
        assert.equal(store.count, 200);
        await store.close();
    });

    it("every node recovering after a deploy sees what any node handled before it, however the recoveries interleave", async () => {
        const store = DurableStore.open(dir);
        const receivedAt = "2026-11-24T10:00:00.000Z";
        const [key] = await store.put([event("delay", "d1", 0, receivedAt), event("delay", "d1", 1, receivedAt)]);
        store.remove(key!); // the flow handled event 0 just before the deploy
        // After the deploy, every node recovers at once: the first call writes the removal.
        const views = ["switch", "change", "delay"].map((nodeId) => store.forNode(nodeId));
        const recovered = await Promise.all(views.map((view) => view.recover()));
        assert.deepEqual(recovered[2]!.map((kept) => kept.index), [1]);
        await store.close();
    });

    it("lives in a directory only its user can read (it holds payloads)", async () => {
        const store = DurableStore.open(path.join(dir, "verified-webhooks", "deliveries"));
        for (const created of [path.join(dir, "verified-webhooks"), path.join(dir, "verified-webhooks", "deliveries")]) {
            assert.equal(fs.statSync(created).mode & 0o777, 0o700, created);
        }
        await store.close();
    });
});
