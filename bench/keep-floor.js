"use strict";
// The least "Keep deliveries until handled" can do, for npm run bench's reference rows: each
// event put into LMDB with the package's options (synced commits, overlapping syncs, msgpack,
// the same key and record), the 2xx sent once the store's flush resolves, the event removed
// 100 ms later as if handled. No bounds, no redelivery, no recovery.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { randomUUID } = require("node:crypto");
const { open } = require("lmdb");

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

module.exports = { floorStore };
