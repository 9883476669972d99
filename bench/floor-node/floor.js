"use strict";
// The least a verifying receiver node can cost in Node-RED, for npm run bench's reference rows
// (i) and (j): it takes its POSTs ahead of Express (it wraps the server's request listener, as
// no published node may), reads the body, checks WMS's HMAC, parses the JSON, answers 200 and
// sends one message (the parsed event) to its wires. No size limit, no middleware equivalence,
// no validation, no de-duplication, no delivery log, no following, Node-RED's own _msgid. With
// `keep`, each delivery is first kept on disk as keep-floor.js does. One at a time per runtime.
const { createHmac, timingSafeEqual } = require("node:crypto");
const { floorStore } = require("../keep-floor.js");

module.exports = function (RED) {
    function BenchFloor(config) {
        RED.nodes.createNode(this, config);
        const node = this;
        const { path, secret } = config;
        const store = config.keep ? floorStore() : undefined;
        const accept = (req, res) => {
            const chunks = [];
            req.on("data", (chunk) => chunks.push(chunk));
            req.on("end", () => {
                const body = Buffer.concat(chunks);
                const expected = Buffer.from(`hmac-sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
                const given = Buffer.from(String(req.headers["x-wms-content-mac"] ?? ""));
                if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
                    res.writeHead(401, { "content-type": "application/json" });
                    return res.end('{"error":"bad mac"}');
                }
                const payload = JSON.parse(body.toString("utf8"));
                const answer = () => {
                    res.writeHead(200, { "content-type": "application/json" });
                    res.end('{"status":"ok"}');
                    node.send({ topic: payload.event, payload });
                };
                if (!store) return answer();
                store.keep(body, req.socket.remoteAddress).then(answer);
            });
        };
        const server = RED.server;
        const others = server.listeners("request");
        server.removeAllListeners("request");
        server.on("request", (req, res) => {
            if (req.method === "POST" && req.url === path) return accept(req, res);
            for (const listener of others) listener.call(server, req, res);
        });
        node.on("close", (done) => {
            server.removeAllListeners("request");
            for (const listener of others) server.on("request", listener);
            if (store) store.close().then(() => done(), done);
            else done();
        });
    }
    RED.nodes.registerType("bench-floor", BenchFloor);
};
