"use strict";
// A sink that does as little as a counter can: per batch (msg.parts.id), how many messages
// arrived and when the first and the last did. Read (and reset) at GET /bench-counter.
const { performance } = require("node:perf_hooks");

module.exports = function (RED) {
    let batches = {};
    function BenchCounter(config) {
        RED.nodes.createNode(this, config);
        this.on("input", (msg, _send, done) => {
            const now = performance.now();
            const id = msg.parts ? msg.parts.id : "none";
            const batch = batches[id] || (batches[id] = { count: 0, first: now, last: now });
            batch.count++;
            batch.last = now;
            done();
        });
    }
    RED.nodes.registerType("bench-counter", BenchCounter);
    RED.httpAdmin.get("/bench-counter", (req, res) => {
        res.json(batches);
        if (req.query.reset) batches = {};
    });
};
