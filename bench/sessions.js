#!/usr/bin/env node
"use strict";
// npm run bench, last: a Mentra app built as a flow (mentra-webhook with an app → mentra in
// (transcription) → mentra out), in a real Node-RED, against the tests' fake cloud in this
// process. SESSIONS sessions are joined through the webhook; then, round robin, one
// transcription frame per session at most every second (the display is coalesced at one per
// 300 ms per session, so each frame gets a display of its own): the time from a data_stream
// frame leaving the cloud to its display_event arriving back (p50, p99), and the memory the
// Node-RED process holds per session (RSS after the sessions joined, less before, by sessions).
const fs = require("node:fs");
const { NodeRedProcess, sleep } = require("../dist/test/support/node-red-process.js");
const { FakeMentraCloud } = require("../dist/test/support/fake-mentra-cloud.js");

const SESSIONS = Number(process.env.BENCH_SESSIONS || 1000);
const FRAMES = Number(process.env.BENCH_SESSION_FRAMES || 3000);
const APP = { packageName: "com.example.bench", apiKey: "bench-api-key" };

function flow() {
    return [
        { id: "tab", type: "tab", label: "sessions bench" },
        { id: "app", type: "mentra-app", packageName: APP.packageName, maxSessions: SESSIONS, credentials: { apiKey: APP.apiKey } },
        { id: "webhook", type: "mentra-webhook", z: "tab", path: "/mentra", allowedHosts: "127.0.0.1", allowInsecureWs: true, app: "app", logDeliveries: 0, x: 100, y: 100, wires: [[], []] },
        { id: "in", type: "mentra-in", z: "tab", app: "app", stream: "transcription", language: "en-US", x: 100, y: 200, wires: [["out"], []] },
        { id: "out", type: "mentra-out", z: "tab", app: "app", layout: "text_wall", view: "main", x: 300, y: 200, wires: [] },
    ];
}

/** Resident memory of process `pid`, in bytes. */
function rss(pid) {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main() {
    const cloud = await FakeMentraCloud.start(APP);
    const nodeRed = await new NodeRedProcess().start();
    try {
        await nodeRed.deploy(flow());
        await sleep(500);
        const before = rss(nodeRed.process.pid);
        const sessionIds = Array.from({ length: SESSIONS }, (_, index) => `bench-user-${index}@example.com-${APP.packageName}`);
        for (let start = 0; start < SESSIONS; start += 50) {
            await Promise.all(
                sessionIds.slice(start, start + 50).map((sessionId) =>
                    nodeRed.post("/mentra/webhook", JSON.stringify({ type: "session_request", sessionId, userId: sessionId.split("-com")[0], timestamp: new Date().toISOString(), mentraOSWebsocketUrl: cloud.url })),
                ),
            );
        }
        await cloud.waitFor("subscription_update", SESSIONS, 60_000);
        await sleep(1000);
        const after = rss(nodeRed.process.pid);

        const sentAt = new Map();
        const interval = 1000 / SESSIONS; // each session at most once a second
        for (let frame = 0; frame < FRAMES; frame++) {
            const sessionId = sessionIds[frame % SESSIONS];
            const text = `caption ${frame}`;
            sentAt.set(text, Date.now() - cloud.started);
            cloud.sendData(sessionId, "transcription:en-US", { type: "transcription", text, isFinal: true, startTime: 0, endTime: 1 });
            if (frame % 10 === 9) await sleep(interval * 10);
        }
        await cloud.waitFor("display_event", FRAMES, 30_000).catch(() => {});
        const latencies = cloud
            .received("display_event")
            .map((each) => each.at - sentAt.get(each.frame.layout.text))
            .filter(Number.isFinite)
            .sort((a, b) => a - b);
        const result = {
            sessions: SESSIONS,
            displays: latencies.length,
            frames: FRAMES,
            p50_ms: percentile(latencies, 50),
            p99_ms: percentile(latencies, 99),
            memory_per_session_kb: Math.round((after - before) / SESSIONS / 1024),
        };
        console.log("");
        console.log("| Mentra sessions (data_stream → flow → display_event) | sessions | displays | p50 ms | p99 ms | memory / session |");
        console.log("|-------------------------------------------------------|----------|----------|--------|--------|------------------|");
        console.log(`| mentra-webhook + mentra in → mentra out, fake cloud    | ${SESSIONS} | ${latencies.length}/${FRAMES} | ${result.p50_ms} | ${result.p99_ms} | ${result.memory_per_session_kb} KiB |`);
        console.log(JSON.stringify({ mentra_sessions: result }));
    } finally {
        await nodeRed.stop();
        await cloud.stop();
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
