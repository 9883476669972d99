#!/usr/bin/env node
"use strict";
// The store behind "Keep deliveries until handled", against the alternative the issue names:
// an append-only journal that group-commits (one write and one fdatasync for every record
// waiting). 16 writers, each writing a 220-byte event and waiting for it to be on disk before
// the next, as 16 connections do; then removing it (handled). Records/s and p99 per write.
// `node bench/stores.js` after `npm run build`; npm run bench runs it too.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { LmdbStore } = require(path.join(__dirname, "..", "dist", "nodes", "keep", "lmdb-store.js"));

const WRITERS = 16;
const SECONDS = Number(process.env.BENCH_STORE_SECONDS || 5);
const payload = JSON.stringify({ timestamp: 1, sessionId: "x".repeat(120), sequence: 0, event: "MEASUREMENT_CREATED", severity: "INFO" });

async function drive(write) {
    const latencies = [];
    const deadline = Date.now() + SECONDS * 1000;
    let n = 0;
    await Promise.all(
        Array.from({ length: WRITERS }, async (_, writer) => {
            while (Date.now() < deadline) {
                const started = process.hrtime.bigint();
                await write(writer, n++);
                latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
            }
        }),
    );
    latencies.sort((a, b) => a - b);
    return { perSecond: Math.round(latencies.length / SECONDS), p50: +latencies[latencies.length >> 1].toFixed(2), p99: +latencies[Math.floor(latencies.length * 0.99)].toFixed(2) };
}

/** The journal: records appended; whoever waits shares the next write + fdatasync. */
function journal(file) {
    const fd = fs.openSync(file, "a");
    let waiting = [];
    let flushing = false;
    const flush = () => {
        if (flushing || waiting.length === 0) return;
        flushing = true;
        const batch = waiting;
        waiting = [];
        const buffer = Buffer.from(batch.map((entry) => entry.line).join(""));
        fs.write(fd, buffer, () =>
            fs.fdatasync(fd, () => {
                flushing = false;
                for (const entry of batch) entry.resolve();
                flush();
            }),
        );
    };
    return {
        append: (line) => new Promise((resolve) => {
            waiting.push({ line, resolve });
            flush();
        }),
        close: () => fs.closeSync(fd),
    };
}

async function main() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-stores-"));
    try {
        const store = LmdbStore.open(path.join(dir, "lmdb"));
        const lmdb = await drive(async (writer, n) => {
            const event = { nodeId: "bench", deliveryId: `d${n}`, index: 0, receivedAt: "2026-11-24T10:00:00.000Z", verified: true, test: false, remoteAddress: "127.0.0.1", payload, attempts: 1, parked: false };
            await store.put([event]);
            store.remove(["bench", `d${n}`, 0]);
        });
        await store.close();
        const log = journal(path.join(dir, "journal"));
        const appendOnly = await drive(async (writer, n) => {
            await log.append(`${n}\t${payload}\n`);
            void log.append(`-${n}\n`); // the removal, not awaited (as the store's)
        });
        log.close();
        console.log(`store: LMDB (lmdb, synced commits) ${lmdb.perSecond} events/s, p50 ${lmdb.p50} ms, p99 ${lmdb.p99} ms; ` +
            `append-only journal with group commit (fdatasync) ${appendOnly.perSecond} events/s, p50 ${appendOnly.p50} ms, p99 ${appendOnly.p99} ms (${WRITERS} writers)`);
        console.log(JSON.stringify({ stores: { lmdb, journal: appendOnly } }));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
