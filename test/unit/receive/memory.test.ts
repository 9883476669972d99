// De-duplication state stays bounded whatever the traffic: far more unique deliveries than
// its bound go through the real pipeline, and the heap is measured after a forced collection.
import assert = require("node:assert/strict");
import { Readable } from "node:stream";
import { Receiver, DEFAULT_SETTINGS } from "../../../nodes/receive/pipeline.js";
import { MemoryState } from "../../../nodes/dedup/state.js";
import { recordingOutlet } from "../../support/outlet.js";
import type { SynthesisEvent } from "../../../nodes/providers/synthesis.js";
import { synthesis } from "../../../nodes/providers/synthesis.js";
import { FakeResponse, routed, type FakeRequest } from "../../support/exchange.js";

/** A request that is a plain readable stream, and a response that keeps only its status. */
function fakeExchange(body: string) {
    const req = Object.assign(Readable.from([Buffer.from(body)]), {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
        socket: {},
    });
    const res = new FakeResponse();
    return { request: routed(req as unknown as FakeRequest, res, { path: ["s"], extraPath: [], query: "" }), res };
}

function heapAfterCollection() {
    const gc = global.gc;
    assert.ok(gc, "mocha runs with --expose-gc");
    gc();
    gc();
    // The de-duplication table's typed arrays live outside the heap: counted too.
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
}

describe("memory under unique deliveries", function () {
    this.timeout(120000);

    it("stays within its bound over 200,000 unique deliveries (50× the bound)", async () => {
        assert.equal(typeof global.gc, "function", "mocha runs with --expose-gc");
        const maxEntries = 4000;
        const settings = { ...DEFAULT_SETTINGS, maxEntries, windowMs: 3_600_000 };
        const state = new MemoryState(settings);
        let emitted = 0;
        const outlet = recordingOutlet<SynthesisEvent>();
        // Counted, not held: the test measures the receiver's memory, not a recording's.
        outlet.emit = (delivery) => ((emitted += delivery.events.length), () => true);
        outlet.answered = () => {};
        const receiver = new Receiver(synthesis, {}, [], settings, outlet, { scope: "s", state });

        const send = async (n: number) => {
            const { request, res } = fakeExchange(`[{"uuid":"memory-${n}-${"x".repeat(40)}","action":"create","location":"Kamen Test","stations":1,"customerid":${n}}]`);
            await receiver.handle(request);
            assert.equal(res.status, 200);
        };
        for (let n = 0; n < maxEntries; n++) await send(n); // fill the state to its bound
        const filled = heapAfterCollection();
        for (let n = maxEntries; n < 200_000; n++) await send(n);
        const after = heapAfterCollection();

        assert.equal(emitted, 200_000, "every unique delivery emitted once");
        assert.ok(state.size <= maxEntries, `state holds ${state.size} entries`);
        const growthMb = (after - filled) / 1024 / 1024;
        assert.ok(growthMb < 8, `heap grew ${growthMb.toFixed(1)} MB past the bound`);
    });
});
