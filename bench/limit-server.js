"use strict";
// (a) The limit: a bare node:http server doing the same work as a verifying receiver
// (read the body, HMAC, constant-time compare, JSON.parse, answer) and nothing else.
// BENCH_KEEP=1: (k), the same keeping each delivery on disk before its 2xx.
const http = require("node:http");
const { readVerified, ok, floorStore } = require("./bare-receiver.js");

const secret = process.env.BENCH_SECRET;
const store = process.env.BENCH_KEEP ? floorStore() : undefined;
const server = http.createServer((req, res) =>
    readVerified(secret, req, res, (body) => {
        if (!store) return ok(res);
        store.keep(body, req.socket.remoteAddress).then(() => ok(res));
    }),
);
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
process.on("SIGTERM", () => (store ? store.close().then(() => process.exit(0)) : process.exit(0)));
