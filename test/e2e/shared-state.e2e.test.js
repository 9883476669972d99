"use strict";
// Two real Node-RED processes behind one Redis (Debian's redis-server on a free loopback
// port): a delivery sent to both is emitted once, WMS sequences are one stream, and
// Redis going away means 503 (the provider retries), never a duplicate or a crash.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const { NodeRedProcess, Collector, freePort, sleep } = require("../support/node-red-process");
const { wmsBody, mentraSession, synthesisBatch, dist } = require("../support/fixtures");
const { wmsSignature } = dist("providers/wms.js");

const REDIS_SERVER = process.env.REDIS_SERVER || "redis-server";

class RedisServer {
    async start(port) {
        this.port = port ?? this.port ?? (await freePort());
        this.child = spawn(REDIS_SERVER, ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        this.child.stdout.on("data", (chunk) => (output += chunk));
        const deadline = Date.now() + 10000;
        while (!/Ready to accept connections/.test(output)) {
            if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`redis-server did not start: ${output}`);
            await sleep(20);
        }
        return this;
    }

    async stop() {
        if (!this.child || this.child.exitCode !== null) return;
        const exited = new Promise((resolve) => this.child.on("exit", resolve));
        this.child.kill("SIGKILL");
        await exited;
    }
}

function sharedFlow(collector, instance, redisPort) {
    const tab = "tab-shared";
    const nodes = [
        { id: tab, type: "tab", label: "shared state" },
        { id: "state", type: "webhook-state", url: `redis://127.0.0.1:${redisPort}`, keyPrefix: "test:" },
    ];
    const receivers = [
        { id: "wms", type: "wms-webhook", path: "/wms", state: "state", credentials: { secret: "shared-secret" } },
        { id: "mentra", type: "mentra-webhook", path: "/mentra", state: "state" },
        { id: "synthesis", type: "synthesis-webhook", path: "/synthesis", state: "state" },
    ];
    receivers.forEach((receiver, index) => {
        const [tapNodes, wires] = collector.tap(`${instance}-${receiver.id}`, tab, 400, index * 100);
        nodes.push({ z: tab, wires, ...receiver }, ...tapNodes);
    });
    return nodes;
}

const signedWms = (fields) => {
    const body = wmsBody(fields);
    return [body, { "x-wms-content-mac": wmsSignature(body, "shared-secret") }];
};

describe("end to end: two Node-RED instances sharing state through Redis", function () {
    this.timeout(90000);
    let redis;
    let collector;
    let a;
    let b;

    before(async () => {
        redis = await new RedisServer().start();
        collector = await new Collector().start();
        [a, b] = await Promise.all([new NodeRedProcess().start(), new NodeRedProcess().start()]);
        await Promise.all([a.deploy(sharedFlow(collector, "a", redis.port)), b.deploy(sharedFlow(collector, "b", redis.port))]);
        await sleep(300); // both clients connected
    });
    after(async () => {
        await Promise.all([a?.stop(), b?.stop()]);
        await redis?.stop();
        await collector?.stop();
    });
    beforeEach(() => collector.clear());

    const emitted = async (id) => [...(await collector.settle(`a-${id}:1`, 400)), ...collector.list(`b-${id}:1`)];

    /** Sends until the answer is not 503 (as a provider retries), returning the final status. */
    async function deliver(instance, path, body, headers) {
        for (let attempt = 0; attempt < 20; attempt++) {
            const { status } = await instance.post(path, body, headers);
            if (status !== 503) return status;
            await sleep(100);
        }
        return 503;
    }

    it("emits a retry received by both instances once, sent one after the other or at once", async () => {
        const first = JSON.stringify(mentraSession({ timestamp: new Date().toISOString() }));
        assert.equal(await deliver(a, "/mentra", first), 200);
        assert.equal(await deliver(b, "/mentra", first), 200);
        const second = JSON.stringify(mentraSession({ timestamp: new Date(Date.now() + 1000).toISOString() }));
        const statuses = await Promise.all([deliver(a, "/mentra", second), deliver(b, "/mentra", second), deliver(a, "/mentra", second)]);
        assert.deepEqual(statuses, [200, 200, 200]);
        const events = await emitted("mentra");
        assert.deepEqual(events.map((msg) => msg.payload.timestamp).sort(), [JSON.parse(first).timestamp, JSON.parse(second).timestamp].sort());
    });

    it("tracks WMS sequences as one stream across instances", async () => {
        const session = { sessionId: `shared-${Date.now()}` };
        assert.equal(await deliver(a, "/wms", ...signedWms({ ...session, sequence: 0 })), 200);
        assert.equal(await deliver(b, "/wms", ...signedWms({ ...session, sequence: 0 })), 200, "a repeat on the other instance");
        assert.equal(await deliver(b, "/wms", ...signedWms({ ...session, sequence: 3 })), 200);
        assert.equal(await deliver(a, "/wms", ...signedWms({ ...session, sequence: 1 })), 200);
        const events = (await emitted("wms")).sort((x, y) => x.payload.sequence - y.payload.sequence);
        assert.deepEqual(events.map((msg) => [msg.payload.sequence, msg.webhook.missing]), [[0, []], [1, []], [3, [1, 2]]]);
    });

    it("emits each element of a batch posted to both instances once", async () => {
        const batch = synthesisBatch(5).map((event, index) => ({ ...event, uuid: `shared-${Date.now()}-${index}` }));
        const [one, two] = await Promise.all([a.post("/synthesis", JSON.stringify(batch)), b.post("/synthesis", JSON.stringify(batch))]);
        assert.deepEqual([one.status, two.status], [200, 200]);
        assert.equal(one.json.accepted + two.json.accepted, 5);
        const events = await emitted("synthesis");
        assert.deepEqual(events.map((msg) => msg.payload.uuid).sort(), batch.map((event) => event.uuid).sort());
    });

    it("answers 503 while Redis is away, without crashing or emitting, and recovers when it returns", async () => {
        await redis.stop();
        await sleep(200);
        const body = JSON.stringify(mentraSession({ timestamp: new Date(Date.now() + 5000).toISOString() }));
        for (const instance of [a, b]) {
            const response = await instance.post("/mentra", body);
            assert.equal(response.status, 503, response.text);
            assert.equal(response.headers["retry-after"], "1");
        }
        const [rejection] = await collector.waitFor("a-mentra:2", 1);
        assert.equal(rejection.payload.status, 503);
        assert.equal((await emitted("mentra")).length, 0);

        await redis.start(redis.port);
        let status = 503;
        for (let attempt = 0; attempt < 50 && status === 503; attempt++) {
            status = (await a.post("/mentra", body)).status;
            if (status === 503) await sleep(200);
        }
        assert.equal(status, 200, "recovered once Redis returned");
        assert.equal(await deliver(b, "/mentra", body), 200);
        assert.equal((await emitted("mentra")).length, 1, "emitted once after recovery");
        for (const instance of [a, b]) {
            assert.equal(instance.child.exitCode, null, "still running");
            assert.match(instance.log, /Redis unavailable/);
            assert.doesNotMatch(instance.log, /\[error\]/);
        }
    });
});
