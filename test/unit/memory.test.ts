"use strict";
// De-duplication state stays bounded whatever the traffic: far more unique deliveries than
// its bound go through the real pipeline, and the heap is measured after a forced collection.
const assert = require("node:assert/strict");
const { Readable } = require("node:stream");
const { dist } = require("../support/fixtures");
const { Receiver, DEFAULT_SETTINGS } = dist("core/pipeline.js");
const { MemoryState } = dist("core/state.js");
const { synthesis } = dist("providers/synthesis.js");

function fakeExchange(body) {
    const req = Readable.from([Buffer.from(body)]);
    Object.assign(req, { method: "POST", headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }, socket: {} });
    const res = {
        headersSent: false,
        status: 0,
        setHeader() {},
        writeHead(status) {
            this.status = status;
            this.headersSent = true;
        },
        end() {},
    };
    return { req, res };
}

function heapAfterCollection() {
    global.gc();
    global.gc();
    return process.memoryUsage().heapUsed;
}

describe("memory under unique deliveries", function () {
    this.timeout(120000);

    it("stays within its bound over 200,000 unique deliveries (50× the bound)", async () => {
        assert.equal(typeof global.gc, "function", "mocha runs with --expose-gc");
        const maxEntries = 4000;
        const settings = { ...DEFAULT_SETTINGS, maxEntries, windowMs: 3_600_000 };
        const state = new MemoryState(settings);
        let emitted = 0;
        const receiver = new Receiver(synthesis, {}, [], settings, { emit: (events) => ((emitted += events.length), () => true) }, { scope: "s", state });

        const send = async (n) => {
            const { req, res } = fakeExchange(`[{"uuid":"memory-${n}-${"x".repeat(40)}","action":"create","location":"Kamen Test","stations":1,"customerid":${n}}]`);
            await receiver.handle({ req, res, path: ["s"], extraPath: [], query: "" });
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
