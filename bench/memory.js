"use strict";
// Memory growth over 1,000,000 unique deliveries through the receiving pipeline, with the
// default state bound (run with --expose-gc by bench/run.js): the heap and the typed arrays
// outside it (the de-duplication table's).
const path = require("node:path");
const { Readable } = require("node:stream");
const dist = (module) => require(path.join(__dirname, "..", "dist", "nodes", module));
const { Receiver, DEFAULT_SETTINGS } = dist("receive/pipeline.js");
const { synthesis } = dist("providers/synthesis.js");
const { MemoryState } = dist("dedup/state.js");

const DELIVERIES = Number(process.env.BENCH_MEMORY_DELIVERIES || 1_000_000);

function exchange(body) {
    const req = Readable.from([Buffer.from(body)]);
    Object.assign(req, { method: "POST", headers: { "content-type": "application/json", "content-length": String(body.length) }, socket: {} });
    const res = { headersSent: false, setHeader() {}, writeHead(status) { this.status = status; this.headersSent = true; }, end() {} };
    return { req, res };
}

function heap() {
    global.gc();
    global.gc();
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
}

(async () => {
    const state = new MemoryState(DEFAULT_SETTINGS);
    const receiver = new Receiver(synthesis, {}, [], DEFAULT_SETTINGS, { keeps: false, keep: () => Promise.resolve(), emit: () => () => true, answered: () => {}, refused: () => {} }, { scope: "bench", state });
    const deliver = async (n) => {
        const { req, res } = exchange(`[{"uuid":"41509791-3de8-5bb9-b4fc-${n}","action":"create","location":"Kamen Test","stations":1,"customerid":${n}}]`);
        await receiver.handle({ req, res, path: ["bench"], extraPath: [], query: "" });
        if (res.status !== 200) throw new Error(`delivery ${n} answered ${res.status}`);
    };
    for (let n = 0; n < 1000; n++) await deliver(-1 - n); // lazily built structures belong to the baseline
    const before = heap();
    for (let n = 0; n < DELIVERIES; n++) await deliver(n);
    const growthMb = (heap() - before) / 1024 / 1024;
    process.send({ growthMb, deliveries: DELIVERIES, maxEntries: DEFAULT_SETTINGS.maxEntries, held: state.size }, () => process.exit(0));
})();
