// "Keep deliveries until handled" against real processes: a receiver whose flow posts each
// event to a collector outside Node-RED that answers slowly; Node-RED killed with kill -9
// while events are in flight, including while it syncs; started again in the same user
// directory: every event answered 2xx reaches the collector at least once, and the ones
// that arrive twice are flagged redelivered.
import assert = require("node:assert/strict");
import { createHash } from "node:crypto";
import { createClient } from "redis";
import http = require("node:http");
import net = require("node:net");
import fs = require("node:fs");
import path = require("node:path");
import { synthesisBatch } from "../support/fixtures.js";
import { NodeRedProcess, sleep, startedForSuite, type FlowNode } from "../support/node-red-process.js";
import { RedisServer } from "../support/redis-server.js";

interface Received {
    uuid: string;
    redelivered: boolean;
    attempt: number | undefined;
}

/** An HTTP server outside Node-RED that takes each event after `delayMs`, as a slow database would. */
class SlowCollector {
    readonly received: Received[] = [];
    private readonly server: http.Server;
    url = "";

    constructor(private readonly delayMs: number) {
        this.server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (chunk: Buffer) => chunks.push(chunk));
            req.on("end", () => {
                setTimeout(() => {
                    const event = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { uuid: string };
                    const query = new URL(req.url ?? "/", "http://collector").searchParams;
                    const attempt = Number(query.get("attempt"));
                    this.received.push({ uuid: event.uuid, redelivered: query.get("redelivered") === "true", attempt: Number.isFinite(attempt) && attempt > 0 ? attempt : undefined });
                    res.end("stored");
                }, this.delayMs);
            });
        });
    }

    async start(): Promise<this> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}/events`;
        return this;
    }

    stop(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    uuids(): Set<string> {
        return new Set(this.received.map((entry) => entry.uuid));
    }
}

/**
 * The receiver wired straight to an http request node: an event is handled once that node has
 * its answer from the collector (it completes the message then). The URL carries the flags.
 */
function durableFlow(collectorUrl: string, redisPort?: number, claimSeconds = 2, keyPrefix = "durable:"): FlowNode[] {
    // With a shared-state node, the kept events are in Redis; another instance takes over a dead one's after claimSeconds.
    // The same Entry key on every instance, as a flow deployed with its credentials has it.
    const shared: FlowNode[] = redisPort ? [{ id: "state", type: "webhook-state", url: `redis://127.0.0.1:${redisPort}`, keyPrefix, claimSeconds, credentials: { entryKey: "durable-suite-entry-key" } }] : [];
    return [
        ...shared,
        { id: "tab-durable", type: "tab", label: "durable" },
        { id: "sessions-in", type: "synthesis-webhook", z: "tab-durable", path: "/sessions", keep: true, maxAttempts: 5, ...(redisPort ? { state: "state" } : {}), wires: [["db"], []] },
        {
            id: "db",
            type: "http request",
            z: "tab-durable",
            method: "POST",
            ret: "txt",
            url: `${collectorUrl}?redelivered={{webhook.redelivered}}&attempt={{webhook.attempt}}`,
            wires: [[]],
        },
    ];
}

/** A batch of `count` SynthesisVR sessions, unique under `label`. */
const batch = (label: string, count: number) =>
    Array.from({ length: count }, (_, index) => ({ uuid: `${label}-${index}`, action: "create", location: "Kamen Test", stations: 1, customerid: index }));

/** Sends `deliveries` batches of 5, `concurrency` at a time; returns the uuids of those answered 2xx. */
async function send(nodeRed: NodeRedProcess, label: string, deliveries: number, concurrency: number): Promise<string[]> {
    const acknowledged: string[] = [];
    let next = 0;
    const worker = async () => {
        while (next < deliveries) {
            const events = batch(`${label}-${next++}`, 5);
            try {
                const response = await nodeRed.post("/sessions", JSON.stringify(events));
                if (response.status === 200) acknowledged.push(...events.map((event) => event.uuid));
            } catch {
                // the process was killed mid-request: not acknowledged
            }
        }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return acknowledged;
}


/** Waits until every one of `acknowledged` reached the collector; fails naming the missing ones. */
async function collected(collector: SlowCollector, acknowledged: readonly string[], log: () => string, timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const missing = acknowledged.filter((uuid) => !collector.uuids().has(uuid));
        if (missing.length === 0) return;
        if (Date.now() > deadline) {
            const seen = collector.received.filter((entry) => missing.some((uuid) => entry.uuid.startsWith(uuid.replace(/-\d+$/, ""))));
            assert.fail(`${missing.length} acknowledged events never reached the collector (${missing.slice(0, 5).join(", ")}…); of their deliveries: ${JSON.stringify(seen)}\n${log().slice(-1500)}`);
        }
        await sleep(200);
    }
}

/** Every event that arrived more than once arrived flagged redelivered, with an attempt past the first. */
function assertRepeatsFlagged(collector: SlowCollector): void {
    const counts = new Map<string, Received[]>();
    for (const entry of collector.received) counts.set(entry.uuid, [...(counts.get(entry.uuid) ?? []), entry]);
    for (const [uuid, receipts] of counts) {
        if (receipts.length > 1) assert.ok(receipts.slice(1).every((entry) => entry.redelivered && (entry.attempt ?? 0) >= 2), `${uuid} arrived again unflagged`);
    }
}

describe("end to end: deliveries kept until handled survive kill -9", function () {
    this.timeout(120000);
    let collector: SlowCollector;
    let first: NodeRedProcess;
    let second: NodeRedProcess | undefined;

    beforeEach(async () => {
        collector = await new SlowCollector(400).start();
        first = await new NodeRedProcess().start();
        await first.deploy(durableFlow(collector.url));
    });
    afterEach(async () => {
        await second?.stop();
        second = undefined;
        await first.stop(); // removes the user directory both used
        await collector.stop();
    });

    async function restartAndCollect(acknowledged: readonly string[]): Promise<void> {
        second = await new NodeRedProcess({ userDir: first.userDir }).start();
        await collected(collector, acknowledged, () => second?.log ?? "");
    }

    it("redelivers every acknowledged event the flow had not handled when Node-RED was killed", async () => {
        const acknowledged = await send(first, "calm", 20, 4);
        assert.equal(acknowledged.length, 100);
        // Some reached the collector, the rest are in flight (the collector answers slowly): kill -9 now.
        await first.kill();
        const before = collector.uuids().size;
        assert.ok(before < acknowledged.length, `events were still in flight (${before} of ${acknowledged.length} arrived)`);

        await restartAndCollect(acknowledged);
        // Those whose request to the collector was under way at the kill arrive anyway, but were
        // not handled (no answer came back): they come again, flagged, once the restart emits them.
        for (const deadline = Date.now() + 10000; !collector.received.some((entry) => entry.redelivered) && Date.now() < deadline; ) await sleep(100);
        assertRepeatsFlagged(collector);
        assert.ok(collector.received.some((entry) => entry.redelivered), "some were redelivered");
        // Handled now: a further restart emits nothing again.
        await sleep(1000);
        const settled = collector.received.length;
        await second!.stop();
        second = await new NodeRedProcess({ userDir: first.userDir }).start();
        await sleep(1500);
        assert.equal(collector.received.length, settled, "handled events are not emitted again");
    });

    it("loses nothing acknowledged when killed in the middle of its syncs (a torn write)", async () => {
        // Deliveries keep arriving, 8 at a time, while the process is killed: some writes are cut off mid-sync.
        const sending = send(first, "torn", 400, 8);
        await sleep(700);
        await first.kill();
        const acknowledged = await sending;
        assert.ok(acknowledged.length > 0, "some deliveries were acknowledged before the kill");
        await restartAndCollect(acknowledged);
        assert.match(second!.log, /Started flows/);
        assert.doesNotMatch(second!.log, /\[error\]/);
    });
});

describe("end to end: two instances keeping deliveries in Redis, one killed with kill -9", function () {
    this.timeout(120000);
    let redis: RedisServer;
    let collector: SlowCollector;
    let doomed: NodeRedProcess;
    let survivor: NodeRedProcess;

    before(async () => {
        redis = await new RedisServer().start();
        collector = await new SlowCollector(400).start();
        [doomed, survivor] = await Promise.all([new NodeRedProcess().start(), new NodeRedProcess().start()]);
        await Promise.all([doomed.deploy(durableFlow(collector.url, redis.port)), survivor.deploy(durableFlow(collector.url, redis.port))]);
        await sleep(300); // both connected to Redis
    });
    after(async () => {
        await survivor?.stop();
        await doomed?.stop();
        await collector?.stop();
        await redis?.stop();
    });

    it("delivers the dead instance's pending events through the other, flagged redelivered", async () => {
        const acknowledged = await send(doomed, "doomed", 20, 4);
        const alsoAcknowledged = await send(survivor, "survivor", 4, 2);
        assert.equal(acknowledged.length, 100);
        await doomed.kill();
        const before = new Set(collector.uuids());
        const owed = acknowledged.filter((uuid) => !before.has(uuid));
        assert.ok(owed.length > 0, `events were still in flight (${before.size} arrived)`);

        await collected(collector, [...acknowledged, ...alsoAcknowledged], () => survivor.log);
        assertRepeatsFlagged(collector);
        // Not handled when it died (a first attempt may still reach the collector after the kill): every one taken over.
        const takenOver = (uuid: string) => collector.received.some((entry) => entry.uuid === uuid && entry.redelivered && entry.attempt === 2);
        for (const deadline = Date.now() + 20000; owed.some((uuid) => !takenOver(uuid)) && Date.now() < deadline; ) await sleep(200);
        const notTakenOver = owed.filter((uuid) => !takenOver(uuid));
        assert.deepEqual(notTakenOver, [], `taken over by the survivor, with their attempt: ${JSON.stringify(collector.received.filter((entry) => entry.uuid === notTakenOver[0]))}`);
        // The survivor's own events were never taken from it, and once handled nothing is emitted again.
        assert.equal(collector.received.filter((entry) => entry.uuid.startsWith("survivor-")).length, alsoAcknowledged.length);
        await sleep(2500);
        const settled = collector.received.length;
        await sleep(2500);
        assert.equal(collector.received.length, settled, "handled events are not emitted again");
        assert.doesNotMatch(survivor.log, /\[error\]/);
    });

    it("never emits an entry another writer of the Redis put in the stream (no Entry key MAC), and says so once", async () => {
        const client = createClient({ url: `redis://127.0.0.1:${redis.port}` });
        await client.connect();
        try {
            // The stream's name follows from the public path and the default layout; the fields are what the package writes.
            const stream = `durable:kept:${createHash("sha256").update("synthesis:/sessions").digest("base64url")}`;
            const payload = JSON.stringify({ uuid: "forged-by-a-redis-tenant", action: "create", location: "x", stations: 1, customerid: 1 });
            await client.xAdd(stream, "*", { d: "forged", i: "0", r: new Date().toISOString(), v: "1", t: "0", a: "", p: payload });
            const acknowledged = await send(survivor, "after-forgery", 2, 1);
            await collected(collector, acknowledged, () => survivor.log);
            await sleep(3 * 2000); // past the claim timeout: the forged entry is idle, and looks like a dead instance's
            assert.ok(!collector.uuids().has("forged-by-a-redis-tenant"), "the forged event never reached the flow");
            assert.match(survivor.log, /fail authentication/);
            assert.equal((survivor.log.match(/fail authentication/g) ?? []).length, 1, "reported once");
        } finally {
            await client.close();
        }
    });

    it("reads back what it owed when it starts again in the same user directory, long before any claim timeout", async () => {
        const alone = await new NodeRedProcess().start();
        let again: NodeRedProcess | undefined;
        try {
            // Its own keys: the survivor above must not take these over.
            await alone.deploy(durableFlow(collector.url, redis.port, 600, "alone:"));
            await sleep(300);
            const acknowledged = await send(alone, "alone", 10, 4);
            await alone.kill();
            const before = new Set(collector.uuids());
            again = await new NodeRedProcess({ userDir: alone.userDir }).start();
            const redelivered = (uuid: string) => collector.received.some((entry) => entry.uuid === uuid && entry.redelivered);
            const owed = acknowledged.filter((uuid) => !before.has(uuid));
            assert.ok(owed.length > 0);
            for (const deadline = Date.now() + 15000; owed.some((uuid) => !redelivered(uuid)) && Date.now() < deadline; ) await sleep(200);
            assert.deepEqual(owed.filter((uuid) => !redelivered(uuid)), [], "its own pending events, read back under its name");
        } finally {
            await again?.stop();
            await alone.stop();
        }
    });
});


describe("end to end: kept deliveries are bounded, whatever unauthenticated senders do", function () {
    this.timeout(240000);

    it("a failing flow and 1 MiB deliveries fill neither memory nor disk (503 past the bound), and a restart on a small heap redelivers in pages", async () => {
        const flow: FlowNode[] = [
            { id: "tab-bounded", type: "tab", label: "bounded" },
            // SynthesisVR keeps deliveries by default and needs no token: anyone can send.
            { id: "big-in", type: "synthesis-webhook", z: "tab-bounded", path: "/big", keep: true, logDeliveries: 0, x: 100, y: 100, wires: [["failing"], []] },
            { id: "failing", type: "function", z: "tab-bounded", func: 'throw new Error("the database is down");', outputs: 1, x: 300, y: 100, wires: [[]] },
        ];
        const first = await new NodeRedProcess().start();
        let second: NodeRedProcess | undefined;
        try {
            await first.deploy(flow);
            const note = "n".repeat(1000);
            const statuses: number[] = [];
            for (let delivery = 0; delivery < 80; delivery++) {
                const body = JSON.stringify(Array.from({ length: 900 }, (_, index) => ({ ...synthesisBatch(1)[0], uuid: `big-${delivery}-${index}`, note })));
                const answer = await first.post("/big", body);
                statuses.push(answer.status);
                if (answer.status === 503) assert.match(answer.text, /could not be kept/);
            }
            const accepted = statuses.filter((status) => status === 200).length;
            assert.ok(accepted >= 40 && accepted < 80, `accepted until the bound, then 503: ${statuses.join(",")}`);
            assert.ok(statuses.slice(accepted).every((status) => status === 503), "nothing accepted past the bound");
            const storeBytes = fs.readdirSync(path.join(first.userDir, "verified-webhooks", "deliveries")).reduce((sum, file) => sum + fs.statSync(path.join(first.userDir, "verified-webhooks", "deliveries", file)).size, 0);
            assert.ok(storeBytes < 200 * 1024 * 1024, `the store on disk: ${storeBytes} bytes`);
            await first.kill();

            // What crashed at start before: every kept event loaded and emitted at once on a 160 MiB heap.
            second = await new NodeRedProcess({ userDir: first.userDir, nodeArgs: ["--max-old-space-size=160"] }).start();
            await sleep(8000);
            assert.equal(second.process.exitCode, null, `still running:\n${second.log.slice(-2000)}`);
            assert.doesNotMatch(second.log, /heap out of memory|FATAL ERROR/);
            assert.match(second.log, /the database is down/, "the kept events were emitted again (and failed again)");
        } finally {
            await second?.stop();
            await first.stop();
        }
    });
});

describe("end to end: kept events belong to the endpoint, not to the node object", function () {
    this.timeout(60000);
    const suite = startedForSuite();

    /** A keeping receiver at /replaced with node id `id`, its events going to a function that fails (`failing`) or to the collector. */
    function replacedFlow(id: string, option: { keep?: boolean; persist?: boolean }, failing: boolean): FlowNode[] {
        const [taps, wires] = suite.collector.tap("replaced", "tab-replaced", 500, 100);
        return [
            { id: "tab-replaced", type: "tab", label: "replaced" },
            { id, type: "synthesis-webhook", z: "tab-replaced", path: "/replaced", ...option, x: 100, y: 100, wires: [[failing ? "down" : wires[0]![0]!], []] },
            { id: "down", type: "function", z: "tab-replaced", func: 'throw new Error("down");', outputs: 1, x: 300, y: 100, wires: [[]] },
            ...taps,
        ];
    }

    it("a node replaced on the same path (a new id), and one with keeping turned off, emits what the one before kept, once", async () => {
        const { nodeRed, collector } = suite;
        await nodeRed.deploy(replacedFlow("first-id", { keep: true }, true));
        const uuid = `replaced-${Date.now()}`;
        assert.equal((await nodeRed.post("/replaced", JSON.stringify([{ ...synthesisBatch(1)[0], uuid }]))).status, 200);
        await sleep(300); // failed in the flow: still kept
        // Deleted and added again (copy and paste, an import): a new id on the same path.
        await nodeRed.deploy(replacedFlow("second-id", { keep: true }, false));
        const [redelivered] = await collector.waitFor("replaced:1", 1);
        assert.equal(redelivered!.payload.uuid, uuid);
        assert.equal(redelivered!.webhook.redelivered, true);

        const again = `replaced-off-${Date.now()}`;
        await nodeRed.deploy(replacedFlow("second-id", { keep: true }, true));
        assert.equal((await nodeRed.post("/replaced", JSON.stringify([{ ...synthesisBatch(1)[0], uuid: again }]))).status, 200);
        await sleep(300);
        collector.clear();
        // Keeping turned off: what was kept is still emitted, once.
        await nodeRed.deploy(replacedFlow("second-id", { keep: false }, false));
        const [drained] = await collector.waitFor("replaced:1", 1);
        assert.equal(drained!.payload.uuid, again);
        await sleep(500);
        await nodeRed.deploy(replacedFlow("second-id", { keep: false }, false));
        assert.equal((await collector.settle("replaced:1", 500)).length, 1, "handled: not emitted again");
    });

    it("a SynthesisVR node whose flow JSON has no keep option (an older flow, the admin API) keeps deliveries, as the palette's node does", async () => {
        const { nodeRed, collector } = suite;
        await nodeRed.deploy(replacedFlow("no-option", {}, true));
        const uuid = `no-option-${Date.now()}`;
        assert.equal((await nodeRed.post("/replaced", JSON.stringify([{ ...synthesisBatch(1)[0], uuid }]))).status, 200);
        await sleep(300);
        collector.clear();
        await nodeRed.deploy(replacedFlow("no-option", {}, false));
        const [redelivered] = await collector.waitFor("replaced:1", 1);
        assert.equal(redelivered!.payload.uuid, uuid);
    });

    it("a flow saved by 0.2 says it with persist: its node keeps (or not) as that flow says", async () => {
        const { nodeRed, collector } = suite;
        await nodeRed.deploy(replacedFlow("legacy-off", { persist: false }, true));
        const lost = `legacy-off-${Date.now()}`;
        assert.equal((await nodeRed.post("/replaced", JSON.stringify([{ ...synthesisBatch(1)[0], uuid: lost }]))).status, 200);
        await sleep(300);
        collector.clear();
        await nodeRed.deploy(replacedFlow("legacy-off", { persist: false }, false));
        assert.deepEqual(await collector.settle("replaced:1", 1000), [], "persist: false, as the 0.2 flow said: nothing was kept");

        await nodeRed.deploy(replacedFlow("legacy-on", { persist: true }, true));
        const kept = `legacy-on-${Date.now()}`;
        assert.equal((await nodeRed.post("/replaced", JSON.stringify([{ ...synthesisBatch(1)[0], uuid: kept }]))).status, 200);
        await sleep(300);
        await nodeRed.deploy(replacedFlow("legacy-on", { persist: true }, false));
        const [redelivered] = await collector.waitFor("replaced:1", 1);
        assert.equal(redelivered!.payload.uuid, kept);
    });
});
