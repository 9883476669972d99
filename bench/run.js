#!/usr/bin/env node
"use strict";
// npm run bench: in one run, on loopback, one after the other:
//   (a) a bare node:http verifier (the limit)
//   (b) a real Node-RED with `http in` ("do not parse") → `function` (HMAC) → `http response` (the peer)
//   (c) a real Node-RED with wms-webhook wired to a no-op node
//   (d) the same for meshagent-webhook
//   (e) wms-webhook the long way through Express, (f) wms-webhook with its delivery log off,
//   (g) wms-webhook keeping deliveries until handled (synced to disk before each 2xx)
//   (h) meshagent-webhook not keeping deliveries ((d) keeps them: MeshAgent never retries)
//   (i) the least receiver node Node-RED can run (bench/floor-node: verify, parse, send;
//       ahead of Express, no validation, de-duplication, log or following), (j) the same
//       keeping each delivery on disk before its 2xx, (k) (a) keeping each delivery on disk:
//       what bounds (c), (f) and (g) before this package does anything
// each driven by autocannon for a fixed time at fixed connections with unique, signed
// deliveries; then a SynthesisVR batch figure and a memory figure. Prints a table and a
// final line of JSON: each row's ratio_vs_peer and ratio_vs_limit, and each receiver's share
// of its floor.
// A shared VM's speed drifts by tens of percent within minutes, so (a) to (d) are measured
// in BENCH_ROUNDS interleaved rounds: the table shows each figure's median, and each ratio
// is the median of the ratios within a round (systems measured seconds apart).
const { fork } = require("node:child_process");
const path = require("node:path");
const autocannon = require("autocannon");
// The tests' Node-RED launcher, compiled with them (npm run bench compiles both).
const { NodeRedProcess, request, sleep } = require("../dist/test/support/node-red-process.js");

const DURATION = Number(process.env.BENCH_SECONDS || 10);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS || 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined;
const BASELINE_NAME = BASELINE ? `baseline ${path.basename(BASELINE)}` : "";
const { SECRET, wmsDelivery, meshagentDelivery, SINK, SINK_NAME } = require("./deliveries.js");

// ---- unique signed deliveries (bench/deliveries.js) ---------------------------------------
/** Deliveries enough for the whole run, each sent once. */
function pool(make, size) {
    return Array.from({ length: size }, (_, n) => make(n));
}

// ---- systems under test -----------------------------------------------------------------
async function startLimit(keep = false) {
    const child = fork(path.join(__dirname, "limit-server.js"), { env: { ...process.env, BENCH_SECRET: SECRET, ...(keep ? { BENCH_KEEP: "1" } : {}) } });
    const { port } = await new Promise((resolve) => child.once("message", resolve));
    return { url: `http://127.0.0.1:${port}/wms`, stop: async () => child.kill() };
}

const PEER_FUNCTION = `const given = Buffer.from(String(msg.req.headers["x-wms-content-mac"] || ""));
const expected = Buffer.from("hmac-sha256=" + crypto.createHmac("sha256", ${JSON.stringify(SECRET)}).update(msg.payload).digest("hex"));
if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    msg.statusCode = 401;
    msg.payload = { error: "bad mac" };
    return msg;
}
JSON.parse(msg.payload.toString("utf8"));
msg.payload = { status: "ok" };
return msg;`;

async function startNodeRed(flows, settings, packageDir, extraModules) {
    const nodeRed = await new NodeRedProcess({ ...(settings ? { settings } : {}), ...(packageDir ? { packageDir } : {}), ...(extraModules ? { extraModules } : {}) }).start();
    await nodeRed.deploy(flows);
    return { nodeRed, stop: () => nodeRed.stop() };
}

async function startPeer() {
    const { nodeRed, stop } = await startNodeRed([
        { id: "peer-in", type: "http in", url: "/peer", method: "post", skipBodyParsing: true, wires: [["peer-fn"]] },
        { id: "peer-fn", type: "function", func: PEER_FUNCTION, outputs: 1, libs: [{ var: "crypto", module: "crypto" }], wires: [["peer-out"]] },
        { id: "peer-out", type: "http response", wires: [] },
    ]);
    return { url: nodeRed.nodeUrl("/peer"), stop };
}

const LONG_WAY_SETTINGS = 'module.exports = { flowFile: "flows.json", httpAdminMiddleware: function passThrough(req, res, next) { next(); } };';

async function startReceiver(type, settings, options = {}, packageDir) {
    const flows = [{ id: "receiver", type, path: "/hook", wires: [["no-op"], []], credentials: { secret: SECRET }, ...options }, SINK];
    const { nodeRed, stop } = await startNodeRed(flows, settings, packageDir);
    return { url: nodeRed.nodeUrl("/hook"), stop };
}

async function startFloor(keep) {
    const flows = [{ id: "receiver", type: "bench-floor", path: "/hook", secret: SECRET, keep, wires: [["no-op"]] }, SINK];
    const { nodeRed, stop } = await startNodeRed(flows, undefined, undefined, { "bench-floor": path.join(__dirname, "floor-node") });
    return { url: nodeRed.nodeUrl("/hook"), stop };
}

// ---- measurement ------------------------------------------------------------------------
function drive(url, deliveries, seconds) {
    let next = 0;
    return new Promise((resolve, reject) => {
        const run = autocannon(
            {
                url,
                method: "POST",
                connections: CONNECTIONS,
                duration: seconds,
                requests: [
                    {
                        setupRequest: (req) => {
                            const delivery = deliveries[next++ % deliveries.length];
                            return { ...req, body: delivery.body, headers: delivery.headers };
                        },
                    },
                ],
            },
            (error, result) => (error ? reject(error) : resolve(result)),
        );
        void run;
    });
}

async function measure(name, start, deliveries) {
    const system = await start();
    try {
        await drive(system.url, deliveries.slice(0, deliveries.length / 4), WARMUP); // warm up the JIT
        const result = await drive(system.url, deliveries.slice(deliveries.length / 4), DURATION);
        return {
            name,
            rps: Math.round(result.requests.average),
            p50: result.latency.p50,
            p99: result.latency.p99,
            errors: result.errors + result.timeouts + result.non2xx,
        };
    } finally {
        await system.stop();
    }
}

/** A SynthesisVR batch of 1,000: time to the 200 answer, and split messages per second downstream. */
async function batchFigure() {
    // The next node is bench/counter-node: per batch, when its first and last split message arrived.
    const nodeRed = await new NodeRedProcess({ extraModules: { "bench-counter": path.join(__dirname, "counter-node") } }).start();
    await nodeRed.deploy([
        { id: "receiver", type: "synthesis-webhook", path: "/batch", wires: [["count"], []] },
        { id: "count", type: "bench-counter", wires: [] },
    ]);
    const stop = () => nodeRed.stop();
    try {
        const batch = (round) =>
            JSON.stringify(Array.from({ length: 1000 }, (_, index) => ({ uuid: `${round}-${index}-41509791-3de8-5bb9-b4fc`, action: "create", location: "Kamen Test", stations: 1, customerid: index })));
        // Warm up, then measure: the answer time of single batches, and the split rate over ten.
        for (let round = 0; round < 5; round++) await nodeRed.post("/batch", batch(`warm${round}`));
        await sleep(500);
        await request(nodeRed.adminUrl("/bench-counter?reset=1"));
        const answers = [];
        for (let round = 0; round < 10; round++) {
            const body = batch(`run${round}`);
            const started = process.hrtime.bigint();
            const response = await nodeRed.post("/batch", body);
            answers.push(Number(process.hrtime.bigint() - started) / 1e6);
            if (response.status !== 200) throw new Error(`batch answered ${response.status}`);
        }
        let batches = {};
        for (let attempt = 0; attempt < 100; attempt++) {
            await sleep(100);
            batches = (await request(nodeRed.adminUrl("/bench-counter"))).json;
            if (Object.values(batches).reduce((sum, batch) => sum + batch.count, 0) >= 10000) break;
        }
        answers.sort((x, y) => x - y);
        const measured = Object.values(batches);
        const messages = measured.reduce((sum, batch) => sum + batch.count, 0);
        // Split rate within a batch: its messages over the time from its first to its last arriving.
        const spanMs = measured.reduce((sum, batch) => sum + (batch.last - batch.first), 0);
        return { answerMedianMs: answers[Math.floor(answers.length / 2)], answerMaxMs: answers.at(-1), messages, messagesPerSecond: Math.round((messages / spanMs) * 1000) };
    } finally {
        await stop();
    }
}

/** Heap growth over 1,000,000 unique deliveries through the pipeline (state bound: 100,000 identities). */
async function memoryFigure() {
    const child = fork(path.join(__dirname, "memory.js"), { execArgv: ["--expose-gc"] });
    return new Promise((resolve) => child.once("message", resolve));
}

function median(values) {
    const sorted = [...values].sort((x, y) => x - y);
    const middle = sorted.length >> 1;
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function table(rows) {
    const header = ["system", "requests/s", "p50 ms", "p99 ms", "errors"];
    const lines = rows.map((row) => [row.name, String(row.rps), String(row.p50), String(row.p99), String(row.errors)]);
    const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
    const format = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(" | ")} |`;
    return [format(header), `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`, ...lines.map(format)].join("\n");
}

async function main() {
    const size = Math.ceil(60_000 * (DURATION + WARMUP));
    console.error(`Preparing ${size} unique signed deliveries per provider…`);
    const wms = pool(wmsDelivery, size);
    const mesh = pool(meshagentDelivery, size);
    console.error(`${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s per system, ${ROUNDS} rounds, on loopback, Node ${process.version}, each receiver wired to ${SINK_NAME}`);

    // [key, name, start, deliveries]: the final JSON names rows by key.
    const systems = [
        ["limit", "(a) node:http verifier (limit)", () => startLimit(), wms],
        ["peer", "(b) http in + function + http response (peer)", startPeer, wms],
        ["wms", "(c) wms-webhook", () => startReceiver("wms-webhook"), wms],
        // MeshAgent never retries: its node keeps deliveries until handled unless told otherwise.
        ["meshagent", "(d) meshagent-webhook (kept, its default)", () => startReceiver("meshagent-webhook"), mesh],
        // Middleware the short way cannot prove harmless (here a pass-through httpAdminMiddleware
        // where the editor shares the root) sends requests the long way, through Express: its cost.
        ["longWay", "(e) wms-webhook, the long way", () => startReceiver("wms-webhook", LONG_WAY_SETTINGS), wms],
        // (c) logs every delivery (the default); here the delivery log is off: what logging costs.
        ["logOff", "(f) wms-webhook, delivery log off", () => startReceiver("wms-webhook", undefined, { logDeliveries: 0 }), wms],
        // Keep deliveries until handled: each delivery synced to disk (LMDB) before its 2xx.
        ["kept", "(g) wms-webhook, kept until handled", () => startReceiver("wms-webhook", undefined, { keep: true }), wms],
        ["meshagentNotKept", "(h) meshagent-webhook, not kept", () => startReceiver("meshagent-webhook", undefined, { keep: false }), mesh],
        // What bounds the rows above before this package does anything: Node-RED's least receiver, and the disk.
        ["floor", "(i) least receiver node (floor)", () => startFloor(false), wms],
        ["floorKept", "(j) least receiver node, kept", () => startFloor(true), wms],
        ["limitKept", "(k) node:http verifier, kept", () => startLimit(true), wms],
        // BENCH_BASELINE: a built checkout of an earlier commit (git worktree add …; node
        // scripts/build.js), measured in the same rounds: what a change costs, side by side.
        ...(BASELINE
            ? [
                  ["baselineWms", `(c) at ${BASELINE_NAME}`, () => startReceiver("wms-webhook", undefined, {}, BASELINE), wms],
                  ["baselineMeshagent", `(d) at ${BASELINE_NAME}`, () => startReceiver("meshagent-webhook", undefined, {}, BASELINE), mesh],
                  ["baselineKept", `(g) at ${BASELINE_NAME}`, () => startReceiver("wms-webhook", undefined, { keep: true, persist: true }, BASELINE), wms],
              ]
            : []),
    ];
    const rounds = [];
    for (let round = 1; round <= ROUNDS; round++) {
        const results = [];
        for (const [, name, start, deliveries] of systems) results.push(await measure(name, start, deliveries));
        console.error(`round ${round}: ${results.map((row) => row.rps).join(" / ")} requests/s`);
        rounds.push(results);
    }
    const rows = systems.map(([, name], system) => {
        const runs = rounds.map((results) => results[system]);
        return { name, rps: median(runs.map((run) => run.rps)), p50: median(runs.map((run) => run.p50)), p99: median(runs.map((run) => run.p99)), errors: runs.reduce((sum, run) => sum + run.errors, 0) };
    });
    const batch = await batchFigure();
    const memory = await memoryFigure();

    console.log(table(rows));
    console.log("");
    const receivedPerSecond = Math.round(1000 / (batch.answerMedianMs / 1000));
    console.log(`SynthesisVR 1,000-element batch: answered in ${batch.answerMedianMs.toFixed(1)} ms (median of 10, max ${batch.answerMaxMs.toFixed(1)} ms), i.e. ${receivedPerSecond} events/s received, validated and split; its messages reached the next node at ${batch.messagesPerSecond} messages/s (first to last, ${batch.messages} messages)`);
    console.log(`Memory: heap and typed arrays grew ${memory.growthMb.toFixed(1)} MB over ${memory.deliveries.toLocaleString("en")} unique deliveries (state bound ${memory.maxEntries.toLocaleString("en")} identities; stated bound 50 MB)`);
    const at = Object.fromEntries(systems.map(([key], system) => [key, system]));
    /** The median of the within-round ratios of row `key` to row `to`. */
    const ratio = (key, to) => +median(rounds.map((results) => results[at[key]].rps / results[at[to]].rps)).toFixed(3);
    const ratios = (key) => ({ rps: rows[at[key]].rps, p99_ms: rows[at[key]].p99, ratio_vs_peer: +ratio(key, "peer").toFixed(2), ratio_vs_limit: +ratio(key, "limit").toFixed(2) });
    console.log(
        JSON.stringify({
            "wms-webhook": ratios("wms"),
            "meshagent-webhook": ratios("meshagent"),
            "wms-webhook-long-way": ratios("longWay"),
            "wms-webhook-log-off": ratios("logOff"),
            delivery_log_cost: +(1 - ratio("wms", "logOff")).toFixed(3),
            "wms-webhook-persisted": ratios("kept"),
            "meshagent-webhook-not-kept": ratios("meshagentNotKept"),
            // What bounds the targets: each receiver row as a share of the least receiver node doing the same.
            floor: ratios("floor"),
            "floor-kept": ratios("floorKept"),
            "limit-kept": ratios("limitKept"),
            share_of_floor: { "wms-webhook": ratio("wms", "floor"), "wms-webhook-log-off": ratio("logOff", "floor"), "wms-webhook-persisted": ratio("kept", "floorKept") },
            // A cost is 1 − the median of the ratios within a round.
            ...(BASELINE
                ? {
                      baseline: {
                          "wms-webhook": ratios("baselineWms"),
                          "meshagent-webhook": ratios("baselineMeshagent"),
                          "wms-webhook-persisted": ratios("baselineKept"),
                          change_cost_log_on: +(1 - ratio("wms", "baselineWms")).toFixed(3),
                          change_cost_meshagent: +(1 - ratio("meshagent", "baselineMeshagent")).toFixed(3),
                          change_cost_kept: +(1 - ratio("kept", "baselineKept")).toFixed(3),
                      },
                  }
                : {}),
            synthesis_batch: { answer_ms: +batch.answerMedianMs.toFixed(1), answer_max_ms: +batch.answerMaxMs.toFixed(1), split_events_per_s: receivedPerSecond, messages_per_s: batch.messagesPerSecond },
            memory: { heap_growth_mb: +memory.growthMb.toFixed(1), deliveries: memory.deliveries },
        }),
    );
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
