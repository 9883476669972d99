"use strict";
// The least a receiver can do, for npm run bench's limit (a) and reference rows (i) to (k):
// read the body, check WMS's HMAC in constant time, parse the JSON; and, keeping deliveries,
// put each event into LMDB with the package's options (synced commits, overlapping syncs,
// msgpack, the same key and record) and answer once the store's flush resolves, the event
// removed 100 ms later as if handled (no bounds, no redelivery, no recovery).
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { createHmac, randomUUID, timingSafeEqual } = require("node:crypto");
const { open } = require("lmdb");

/** Reads a WMS delivery; answers 401 if its MAC is wrong, else calls `verified` with its body and parsed event. */
function readVerified(secret, req, res, verified) {
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
        verified(body, JSON.parse(body.toString("utf8")));
    });
}

/** Answers 200, as the receivers do. */
function ok(res) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
}

/** A store in a new temporary directory; `keep(body, remoteAddress)` resolves once the event is on disk. */
function floorStore() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-keep-"));
    const db = open({ path: dir, encoding: "msgpack", compression: false });
    let removals = [];
    const timer = setInterval(() => {
        const keys = removals;
        removals = [];
        for (const key of keys) db.remove(key);
    }, 100);
    timer.unref();
    return {
        async keep(body, remoteAddress) {
            const receivedAt = new Date().toISOString();
            const deliveryId = randomUUID();
            const key = ["/hook", receivedAt, deliveryId, 0, body.length];
            await db.put(key, { endpoint: "/hook", deliveryId, index: 0, receivedAt, verified: true, test: false, remoteAddress, payload: body, attempts: 1, parked: false });
            await db.flushed;
            removals.push(key);
        },
        async close() {
            clearInterval(timer);
            await db.close();
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

module.exports = { readVerified, ok, floorStore };
