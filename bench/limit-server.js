"use strict";
// (a) The limit: a bare node:http server doing the same work as a verifying receiver
// (read the body, HMAC, constant-time compare, JSON.parse, answer) and nothing else.
const http = require("node:http");
const { createHmac, timingSafeEqual } = require("node:crypto");

const secret = process.env.BENCH_SECRET;
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
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"status":"ok"}');
    });
});
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
