"use strict";
// (a) The limit: a bare node:http server doing the same work as a verifying receiver
// (read the body, HMAC, constant-time compare, JSON.parse, answer) and nothing else.
// BENCH_KEEP=1: (k), the same keeping each delivery on disk before its 2xx (keep-floor.js).
const http = require("node:http");
const { createHmac, timingSafeEqual } = require("node:crypto");

const secret = process.env.BENCH_SECRET;
const store = process.env.BENCH_KEEP ? require("./keep-floor.js").floorStore() : undefined;
const ok = (res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
};
const server = http.createServer((req, res) => {
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
        JSON.parse(body.toString("utf8"));
        if (!store) return ok(res);
        store.keep(body, req.socket.remoteAddress).then(() => ok(res));
    });
});
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
process.on("SIGTERM", () => (store ? store.close().then(() => process.exit(0)) : process.exit(0)));
