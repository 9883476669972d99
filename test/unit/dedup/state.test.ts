// De-duplication state in memory: reservations, windows, bounds, stream positions.
import assert = require("node:assert/strict");
import { MemoryState, skippedPositions, MAX_MISSING_LISTED } from "../../../nodes/dedup/state.js";
import { wms } from "../../../nodes/providers/wms.js";
import { standard } from "../../../nodes/providers/standard.js";

function clock(start = 1_000_000): [{ now: number }, () => number] {
    const time = { now: start };
    return [time, () => time.now];
}

describe("MemoryState", () => {
    const limits = { windowMs: 1000, maxEntries: 10 };
    const statuses = (state: MemoryState, ...keys: string[]) => state.reserve("scope", keys.map((key) => ({ key }))).statuses;

    it("remembers an identity for the window, then forgets it", () => {
        const [time, now] = clock();
        const state = new MemoryState(limits, now);
        assert.deepEqual(statuses(state, "a"), ["new"]);
        assert.deepEqual(statuses(state, "a", "b", "b"), ["seen", "new", "seen"], "within one delivery too");
        time.now += 999;
        assert.deepEqual(statuses(state, "a"), ["seen"]);
        time.now += 2;
        assert.deepEqual(statuses(state, "a"), ["new"]);
    });

    it("remembers an identity past the window while a copy could still pass the time check (an event stamped ahead)", () => {
        const [time, now] = clock();
        const state = new MemoryState(limits, now);
        assert.deepEqual(state.reserve("scope", [{ key: "ahead", until: time.now + 5000 }, { key: "plain" }]).statuses, ["new", "new"]);
        time.now += 2000; // past the window
        assert.deepEqual(statuses(state, "ahead", "plain"), ["seen", "new"]);
        time.now += 3001;
        assert.deepEqual(statuses(state, "ahead"), ["new"]);
        // The providers say until when: WMS by the event's timestamp and Max. age, Standard Webhooks by its header and tolerance.
        const wmsOptions = wms.options({ maxAgeSeconds: 300 });
        assert.equal(wms.passesTimeCheckUntil!({ timestamp: 2_000_000_000 } as never, {} as never, wmsOptions), (2_000_000_000 + 300) * 1000);
        assert.equal(wms.passesTimeCheckUntil!({ timestamp: 2_000_000_000 } as never, {} as never, wms.options({ maxAgeSeconds: 0 })), undefined, "no age check: the window alone");
        const signedAt = { headers: { "webhook-id": "msg_1", "webhook-timestamp": "2000000000" } };
        assert.equal(standard.passesTimeCheckUntil!({} as never, signedAt as never, standard.options({ toleranceSeconds: 300 })), (2_000_000_000 + 300) * 1000);
        const svix = { headers: { "svix-id": "msg_1", "svix-timestamp": "2000000000" } };
        assert.equal(standard.passesTimeCheckUntil!({} as never, svix as never, standard.options({ toleranceSeconds: 60 })), (2_000_000_000 + 60) * 1000, "Svix's header names too");
    });

    it("forgets a released reservation, so the sender's retry is new", () => {
        const state = new MemoryState(limits);
        const reservation = state.reserve("one", [{ key: "b" }]);
        reservation.release();
        assert.deepEqual(state.reserve("one", [{ key: "b" }]).statuses, ["new"], "a retry after a release is new");
    });

    it("never holds more than maxEntries, dropping the oldest", () => {
        const state = new MemoryState({ windowMs: 60_000, maxEntries: 100 });
        for (let i = 0; i < 10_000; i++) state.reserve("scope", [{ key: `key-${i}` }]);
        assert.ok(state.size <= 100, `size ${state.size}`);
        assert.deepEqual(statuses(state, "key-9999"), ["seen"], "recent identities are kept");
        assert.deepEqual(statuses(state, "key-0"), ["new"], "the oldest were dropped");
    });

    it("tracks the highest position per stream, for gaps, repeats and late arrivals", () => {
        const state = new MemoryState({ windowMs: 60_000, maxEntries: 1000 });
        const observe = (name: string, position: number) => {
            const { statuses: [status], previousHighest: [previous] } = state.reserve("wms", [{ key: `${name}#${position}`, stream: { name, position } }]);
            return status === "new" ? skippedPositions(previous ?? -1, position) : status;
        };
        assert.deepEqual(observe("s1", 0), { missing: [], missingCount: 0 });
        assert.deepEqual(observe("s1", 1), { missing: [], missingCount: 0 });
        assert.equal(observe("s1", 1), "seen");
        assert.deepEqual(observe("s1", 4), { missing: [2, 3], missingCount: 2 });
        assert.deepEqual(observe("s1", 3), { missing: [], missingCount: 0 }, "a late event is emitted");
        assert.equal(observe("s1", 3), "seen");
        assert.deepEqual(observe("s2", 2), { missing: [0, 1], missingCount: 2 }, "streams are separate; what was missed before the first is reported");
    });

    it("lists at most MAX_MISSING_LISTED skipped positions of a huge jump", () => {
        const jump = skippedPositions(-1, 1_000_000_000);
        assert.equal(jump.missing.length, MAX_MISSING_LISTED);
        assert.equal(jump.missingCount, 1_000_000_000);
    });
});
