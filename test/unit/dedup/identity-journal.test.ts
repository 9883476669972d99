// De-duplication across a restart, without Node-RED: an endpoint's committed identities and
// stream positions are written to LMDB in batches, read back unexpired after a close and an
// open, bounded, and what comes back from disk is checked like input.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import { open } from "lmdb";
import { IdentityJournals } from "../../../nodes/dedup/identity-journal.js";
import { EndpointStates, MemoryState } from "../../../nodes/dedup/state.js";

describe("identity journal", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-identities-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const limits = { windowMs: 60_000, maxEntries: 100 };

    it("reads back after a restart what an endpoint committed, not what it released, nor another endpoint's", async () => {
        const journals = IdentityJournals.open(dir);
        const states = new EndpointStates((scope) => journals.for(scope, limits.maxEntries));
        const wms = states.acquire("wms:/a", limits);
        const committed = wms.reserve("wms:/a", [{ key: "s1#0", stream: { name: "s1", position: 0 } }, { key: "s1#1", stream: { name: "s1", position: 1 } }]);
        committed.commit();
        wms.reserve("wms:/a", [{ key: "refused" }]).release();
        states.acquire("synthesis:/b", limits).reserve("synthesis:/b", [{ key: "other" }]).commit();
        await states.release("wms:/a", limits.windowMs); // a node stops: what the journal holds is written
        await journals.close();

        const reopened = IdentityJournals.open(dir);
        const after = new EndpointStates((scope) => reopened.for(scope, limits.maxEntries)).acquire("wms:/a", limits);
        const again = after.reserve("wms:/a", [{ key: "s1#0" }, { key: "s1#1" }, { key: "refused" }, { key: "other" }, { key: "s1#3", stream: { name: "s1", position: 3 } }]);
        assert.deepEqual(again.statuses, ["seen", "seen", "new", "new", "new"]);
        assert.deepEqual(again.previousHighest, [undefined, undefined, undefined, undefined, 1], "the stream's highest position came back: 2 is a gap");
        await reopened.close();
    });

    it("forgets what expired, and skips entries of the wrong shape", async () => {
        const journals = IdentityJournals.open(dir);
        const { journal } = journals.for("x", 10);
        journal.seen("expired", Date.now() - 1);
        journal.seen("kept", Date.now() + 60_000);
        await journal.flush();
        await journals.close();
        // Another writer's records: not ours to trust.
        const raw = open<unknown, [string, number, string]>({ path: dir, encoding: "msgpack" });
        await raw.put(["x", Date.now() + 60_000, "forged"], [[Date.now() + 60_000, 42], "not an entry", [Date.now() + 60_000, "s", "NaN"], { k: "odd" }]);
        await raw.close();

        const reopened = IdentityJournals.open(dir);
        const entries = reopened.for("x", 10).entries();
        assert.deepEqual(entries.map((entry) => ("key" in entry ? entry.key : entry.stream)), ["kept"]);
        const state = new MemoryState(limits);
        state.restore(entries);
        assert.deepEqual(state.reserve("x", [{ key: "kept" }, { key: "expired" }]).statuses, ["seen", "new"]);
        await reopened.close();
    });

    it("gives back each identity exactly as written: Latin-1, wider characters, an unpaired surrogate, a stream's position", async () => {
        const journals = IdentityJournals.open(dir);
        const { journal } = journals.for("x", 10);
        const later = Date.now() + 60_000;
        const keys = ["plain#0", "café", "日本語 #12", "\ud83d\ude00 emoji", "lone \ud800 surrogate", ""];
        for (const key of keys) journal.seen(key, later);
        journal.highest("stream €", 41, later);
        await journal.flush();
        await journals.close();
        const reopened = IdentityJournals.open(dir);
        const entries = reopened.for("x", 10).entries();
        assert.deepEqual(entries.filter((entry) => "key" in entry).map((entry) => ("key" in entry ? entry.key : "")), keys);
        assert.deepEqual(entries.find((entry) => "stream" in entry), { expiry: later, stream: "stream €", position: 41 });
        await reopened.close();
    });

    it("reads a record's bytes up to where they stop making sense (cut short, forged), and a 0.2 record's arrays", async () => {
        const later = Date.now() + 60_000;
        const journals = IdentityJournals.open(dir);
        const { journal } = journals.for("x", 10);
        journal.seen("good", later);
        journal.seen("cut", later);
        await journal.flush();
        await journals.close();
        const raw = open<unknown, (string | number)[]>({ path: dir, encoding: "msgpack" });
        const [{ key, value }] = [...raw.getRange({ start: ["x", 0], end: ["x", Number.MAX_SAFE_INTEGER] })];
        const bytes = Buffer.from(value as Uint8Array);
        await raw.put(key, bytes.subarray(0, bytes.length - 2)); // the second entry cut short
        // A kind no version writes, though the rest reads as an entry.
        const forged = Buffer.alloc(13);
        forged[0] = 0x08;
        forged.writeDoubleLE(later, 1);
        await raw.put(["x", later, "forged", 1], forged);
        await raw.put(["x", later, "old"], [[later, "from 0.2"], [later, "s", 3]]);
        await raw.close();
        const reopened = IdentityJournals.open(dir);
        const entries = reopened.for("x", 10).entries();
        assert.deepEqual(entries.map((entry) => ("key" in entry ? entry.key : `${entry.stream}@${entry.position}`)).sort(), ["from 0.2", "good", "s@3"]);
        await reopened.close();
    });

    it("counts a 0.2 record (no count in its key) when it prunes past the bound: it goes first, the newer record stays", async () => {
        const later = Date.now() + 60_000;
        const raw = open<unknown, (string | number)[]>({ path: dir, encoding: "msgpack" });
        await raw.put(["old", later, "from-0.2"], Array.from({ length: 1200 }, (_, n) => [later, `old-${n}`]));
        await raw.close();
        const roomy = IdentityJournals.open(dir);
        const first = roomy.for("old", 10_000);
        first.journal.seen("newer", later + 1); // a record of this version after it
        await first.journal.flush();
        await roomy.close();

        const journals = IdentityJournals.open(dir);
        const { journal, entries } = journals.for("old", 10); // a bound of 20 entries, pruned past 1,025
        assert.equal(entries().length, 1201);
        journal.seen("new", later + 2);
        // 1,202 entries: 1,182 too many. The 0.2 record goes, counted as the 1,200 it holds; the newer one stays.
        await journal.flush();
        assert.deepEqual(entries().map((entry) => ("key" in entry ? entry.key : entry.stream)), ["newer", "new"]);
        await journals.close();
    });

    it("stays within its bound: the oldest records go first", async () => {
        const journals = IdentityJournals.open(dir);
        const { journal } = journals.for("busy", 1000);
        for (let batch = 0; batch < 10; batch++) {
            for (let n = 0; n < 500; n++) journal.seen(`k${batch}-${n}`, Date.now() + 60_000 + batch);
            await journal.flush();
        }
        const entries = journals.for("busy", 1000).entries();
        assert.ok(entries.length <= 2 * 1000 * 1.25 + 1000, `${entries.length} entries`);
        assert.ok(entries.some((entry) => "key" in entry && entry.key === "k9-499"), "the newest stay");
        await journals.close();
    });
});
