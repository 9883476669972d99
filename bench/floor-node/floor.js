"use strict";
// The least a verifying receiver node can cost in Node-RED, for npm run bench's reference rows
// (i) and (j): it takes its POSTs ahead of Express (it wraps the server's request listener, as
// no published node may), reads the body, checks WMS's HMAC, parses the JSON, answers 200 and
// sends one message (the parsed event) to its wires. No size limit, no middleware equivalence,
// no validation, no de-duplication, no delivery log, no following, Node-RED's own _msgid. With
// `keep`, each delivery is first kept on disk as bare-receiver.js does. One at a time per runtime.
const { readVerified, ok, floorStore } = require("../bare-receiver.js");

module.exports = function (RED) {
    function BenchFloor(config) {
        RED.nodes.createNode(this, config);
        const node = this;
        const { path, secret } = config;
        const store = config.keep ? floorStore() : undefined;
        const accept = (req, res) =>
            readVerified(secret, req, res, (body, payload) => {
                const answer = () => {
                    ok(res);
                    node.send({ topic: payload.event, payload });
                };
                if (!store) return answer();
                store.keep(body, req.socket.remoteAddress).then(answer);
            });
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
