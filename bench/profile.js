#!/usr/bin/env node
"use strict";
// npm run profile: where a delivery's time goes. A real Node-RED with wms-webhook (or, with
// PROFILE_PROVIDER=meshagent, meshagent-webhook) wired to a junction, driven as `npm run
// bench` drives it (16 connections, unique signed deliveries), under --cpu-prof, for each
// setting: the delivery log on (the default), off, and keeping deliveries until handled; with BENCH_BASELINE=<a built checkout>, the same against it, in
// the same run. Prints each run's requests/s and its functions and files by self time; the
// .cpuprofile files stay in PROFILE_DIR (open them in Chrome's DevTools, Performance tab).
const fs = require("node:fs");
const path = require("node:path");
const autocannon = require("autocannon");
const { NodeRedProcess } = require("../dist/test/support/node-red-process.js");

const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const TOP = Number(process.env.PROFILE_TOP || 25);
const OUT = path.resolve(process.env.PROFILE_DIR || path.join(__dirname, "..", "test-results", "profiles"));
const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined;
const { SECRET, wmsDelivery, meshagentDelivery, SINK } = require("./deliveries.js");
// Keeping is said outright: a MeshAgent node keeps deliveries unless told not to (it never retries).
const ALL_SETTINGS = { "log on": { keep: false }, "log off": { logDeliveries: 0, keep: false }, kept: { keep: true, persist: true } };
/** PROFILE_SETTINGS="log on,kept" profiles only those settings. */
const SETTINGS = process.env.PROFILE_SETTINGS
    ? Object.fromEntries(process.env.PROFILE_SETTINGS.split(",").map((name) => [name.trim(), ALL_SETTINGS[name.trim()]]))
    : ALL_SETTINGS;
/** PROFILE_PROVIDER=meshagent profiles a meshagent-webhook node instead (HS256 tokens, bench/run.js's deliveries). */
const PROVIDER = process.env.PROFILE_PROVIDER === "meshagent" ? "meshagent" : "wms";

/** Self time by function and by file, in percent of the profile. */
function summary(file) {
    const profile = JSON.parse(fs.readFileSync(file, "utf8"));
    const timeOf = new Map();
    profile.samples.forEach((id, index) => timeOf.set(id, (timeOf.get(id) || 0) + (profile.timeDeltas[index] || 0)));
    const byFunction = new Map();
    const byFile = new Map();
    let total = 0;
    for (const node of profile.nodes) {
        const time = timeOf.get(node.id) || 0;
        total += time;
        const { functionName, url, lineNumber } = node.callFrame;
        const where = url.replace(/^file:\/\//, "").replace(/.*node_modules\//, "").replace(/.*\/dist\//, "");
        const name = `${functionName || "(anonymous)"} ${where}${where ? `:${lineNumber + 1}` : ""}`;
        byFunction.set(name, (byFunction.get(name) || 0) + time);
        byFile.set(where || `(${functionName})`, (byFile.get(where || `(${functionName})`) || 0) + time);
    }
    const top = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([name, time]) => `${((100 * time) / total).toFixed(1).padStart(5)}%  ${name}`);
    return { functions: top(byFunction), files: top(byFile) };
}

async function profileOne(label, options, packageDir, deliveries) {
    const dir = path.join(OUT, label.replace(/\W+/g, "-"));
    fs.rmSync(dir, { recursive: true, force: true });
    const nodeRed = await new NodeRedProcess({ nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`], ...(packageDir ? { packageDir } : {}) }).start();
    let rps;
    try {
        await nodeRed.deploy([{ id: "receiver", type: `${PROVIDER}-webhook`, path: "/hook", wires: [["no-op"], []], credentials: { secret: SECRET }, ...options }, SINK]);
        let next = 0;
        const result = await autocannon({
            url: nodeRed.nodeUrl("/hook"),
            method: "POST",
            connections: 16,
            duration: SECONDS,
            requests: [{ setupRequest: (req) => ({ ...req, ...deliveries[next++ % deliveries.length] }) }],
        });
        rps = Math.round(result.requests.average);
    } finally {
        await nodeRed.stop(); // the profile is written as the process exits
    }
    const file = fs.readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
    return { label, rps, file: path.join(dir, file), ...summary(path.join(dir, file)) };
}

async function main() {
    const deliveries = Array.from({ length: 400_000 }, (_, n) => (PROVIDER === "meshagent" ? meshagentDelivery(n) : wmsDelivery(n)));
    const runs = [];
    for (const [setting, options] of Object.entries(SETTINGS)) {
        runs.push(await profileOne(setting, options, undefined, deliveries));
        if (BASELINE) runs.push(await profileOne(`${setting} at ${path.basename(BASELINE)}`, options, BASELINE, deliveries));
    }
    for (const run of runs) {
        console.log(`\n## ${run.label}: ${run.rps} requests/s (${path.relative(process.cwd(), run.file)})\n`);
        console.log("self time by function:\n" + run.functions.join("\n"));
        console.log("\nself time by file:\n" + run.files.join("\n"));
    }
    console.log(JSON.stringify({ profile: runs.map(({ label, rps }) => ({ label, rps })) }));
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
