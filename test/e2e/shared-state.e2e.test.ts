// Two real Node-RED processes behind one Redis (Debian's redis-server on a free loopback
// port): a delivery sent to both is emitted once, WMS sequences are one stream, and
// Redis going away means 503 (the provider retries), never a duplicate or a crash.
import assert = require("node:assert/strict");
import { createHash } from "node:crypto";
import net = require("node:net");
import { createClient } from "redis";
import { NodeRedProcess, Collector, sleep, type FlowNode, type Tapped, type TappedRejection } from "../support/node-red-process.js";
import { RedisServer } from "../support/redis-server.js";
import { mentraSession, synthesisBatch, signedWms as sharedSignedWms } from "../support/fixtures.js";
import type { SynthesisEvent } from "../../nodes/providers/synthesis.js";
import { RedisState } from "../../nodes/dedup/redis-state.js";

function sharedFlow(collector: Collector, instance: string, redisPort: number): FlowNode[] {
    const receivers: FlowNode[] = [
        { id: "state", type: "webhook-state", url: `redis://127.0.0.1:${redisPort}`, keyPrefix: "test:" },
    ];
    const flows = collector.tappedTab(
        "tab-shared",
        [
            { id: "wms", type: "wms-webhook", path: "/wms", state: "state", credentials: { secret: "shared-secret" } },
            { id: "mentra", type: "mentra-webhook", path: "/mentra", state: "state" },
            { id: "synthesis", type: "synthesis-webhook", path: "/synthesis", state: "state" },
        ],
        `${instance}-`,
    );
    return [...flows, ...receivers];
}

const signedWms = (fields: Record<string, unknown>) => sharedSignedWms("shared-secret", fields);

describe("end to end: two Node-RED instances sharing state through Redis", function () {
    this.timeout(90000);
    let redis: RedisServer;
    let collector: Collector;
    let a: NodeRedProcess;
    let b: NodeRedProcess;

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

    const emitted = async <Event = Record<string, unknown>>(id: string) => [
        ...(await collector.settle<Tapped<Event>>(`a-${id}:1`, 400)),
        ...collector.list<Tapped<Event>>(`b-${id}:1`),
    ];

    /** Sends until the answer is not 503 (as a provider retries), returning the final status. */
    async function deliver(instance: NodeRedProcess, path: string, body: string, headers?: Record<string, string>): Promise<number> {
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
        const events = await emitted<{ timestamp: string }>("mentra");
        assert.deepEqual(events.map((msg) => msg.payload.timestamp).sort(), [JSON.parse(first).timestamp, JSON.parse(second).timestamp].sort());
    });

    it("tracks WMS sequences as one stream across instances", async () => {
        const session = { sessionId: `shared-${Date.now()}` };
        assert.equal(await deliver(a, "/wms", ...signedWms({ ...session, sequence: 0 })), 200);
        assert.equal(await deliver(b, "/wms", ...signedWms({ ...session, sequence: 0 })), 200, "a repeat on the other instance");
        assert.equal(await deliver(b, "/wms", ...signedWms({ ...session, sequence: 3 })), 200);
        assert.equal(await deliver(a, "/wms", ...signedWms({ ...session, sequence: 1 })), 200);
        const events = (await emitted<{ sequence: number }>("wms")).sort((x, y) => x.payload.sequence - y.payload.sequence);
        assert.deepEqual(events.map((msg) => [msg.payload.sequence, msg.webhook.missing]), [[0, []], [1, []], [3, [1, 2]]]);
    });

    it("emits each element of a batch posted to both instances once", async () => {
        const batch = synthesisBatch(5).map((event, index) => ({ ...event, uuid: `shared-${Date.now()}-${index}` }));
        const [one, two] = await Promise.all([a.post("/synthesis", JSON.stringify(batch)), b.post("/synthesis", JSON.stringify(batch))]);
        assert.deepEqual([one.status, two.status], [200, 200]);
        assert.equal(Number(one.json.accepted) + Number(two.json.accepted), 5);
        const events = await emitted<SynthesisEvent>("synthesis");
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
        const [rejection] = await collector.waitFor<TappedRejection>("a-mentra:2", 1);
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
            assert.equal(instance.process.exitCode, null, "still running");
            assert.match(instance.log, /Redis unavailable/);
            assert.doesNotMatch(instance.log, /\[error\]/);
        }
    });
});

describe("end to end: shared state never turns a delivery into a silent loss", function () {
    this.timeout(90000);
    let redis: RedisServer;
    let collector: Collector;
    let nodeRed: NodeRedProcess;
    let client: ReturnType<typeof createClient>;

    before(async () => {
        redis = await new RedisServer().start();
        collector = await new Collector().start();
        nodeRed = await new NodeRedProcess().start();
        await nodeRed.deploy(sharedFlow(collector, "one", redis.port));
        client = createClient({ url: `redis://127.0.0.1:${redis.port}` });
        await client.connect();
        await sleep(300);
    });
    after(async () => {
        await client?.close().catch(() => {});
        if (redis?.child?.exitCode === null) redis.signal("SIGCONT");
        await nodeRed?.stop();
        await redis?.stop();
        await collector?.stop();
    });
    beforeEach(() => collector.clear());

    /** The Redis key of a SynthesisVR element's identity on this flow's node. */
    const identityKey = (event: SynthesisEvent) => `test:id:${createHash("sha256").update(`synthesis:/synthesis\n${event.uuid}\n${event.action}`).digest("base64url")}`;
    const uniqueBatch = (label: string, count: number) => synthesisBatch(count).map((event, index) => ({ ...event, uuid: `${label}-${Date.now()}-${index}` }));

    it("takes the retry of a batch answered 503 while Redis hung (its reservation is released)", async () => {
        const batch = uniqueBatch("paused", 3);
        redis.signal("SIGSTOP");
        try {
            const started = Date.now();
            const paused = await nodeRed.post("/synthesis", JSON.stringify(batch));
            assert.equal(paused.status, 503);
            assert.ok(Date.now() - started < 1800, `answered within ${Date.now() - started} ms, before SynthesisVR gives up`);
        } finally {
            redis.signal("SIGCONT");
        }
        await sleep(100);
        const retry = await nodeRed.post("/synthesis", JSON.stringify(batch));
        assert.deepEqual(retry.json, { status: "ok", accepted: 3, duplicates: 0, rejected: 0 });
        assert.equal((await collector.waitFor("one-synthesis:1", 3)).length, 3);
        assert.match(nodeRed.log, /Redis did not answer within 1000 ms/);
        assert.equal(nodeRed.log.match(/Redis did not answer within/g)?.length, 1, "one warning per outage");
    });

    it("never answers 2xx for a batch element another delivery is still taking in", async () => {
        const [held, free] = uniqueBatch("busy", 2);
        // Another delivery holds `held` and never finishes: 503, and nothing is counted as a duplicate.
        await client.set(identityKey(held), "p:another-delivery", { PX: 3000 });
        const refused = await nodeRed.post("/synthesis", JSON.stringify([held, free]));
        assert.equal(refused.status, 503);
        assert.equal((await collector.settle("one-synthesis:1", 300)).length, 0);
        // It is released while this delivery waits: taken.
        await client.set(identityKey(held), "p:another-delivery", { PX: 3000 });
        setTimeout(() => void client.del(identityKey(held)), 300);
        const taken = await nodeRed.post("/synthesis", JSON.stringify([held, free]));
        assert.deepEqual(taken.json, { status: "ok", accepted: 2, duplicates: 0, rejected: 0 });
        // It is answered ("d") while this delivery waits: a duplicate, emitted by that delivery.
        const [answered, other] = uniqueBatch("answered", 2);
        await client.set(identityKey(answered), "p:another-delivery", { PX: 3000 });
        setTimeout(() => void client.set(identityKey(answered), "d", { PX: 60000 }), 300);
        const duplicate = await nodeRed.post("/synthesis", JSON.stringify([answered, other]));
        assert.deepEqual(duplicate.json, { status: "ok", accepted: 1, duplicates: 1, rejected: 0 });
    });

    it("answers 503 quickly against a Redis that accepts connections and never answers, warning once", async () => {
        const silent = net.createServer(() => {}); // accepts, reads nothing, answers nothing
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        const hungCollector = await new Collector().start();
        const hung = await new NodeRedProcess().start();
        try {
            await hung.deploy(sharedFlow(hungCollector, "hung", (silent.address() as net.AddressInfo).port));
            await sleep(300);
            for (let n = 0; n < 3; n++) {
                const started = Date.now();
                const response = await hung.post("/synthesis", JSON.stringify(uniqueBatch("hung", 1)));
                assert.equal(response.status, 503);
                assert.ok(Date.now() - started < 1800, `503 after ${Date.now() - started} ms`);
            }
            assert.equal((hung.log.match(/Redis unavailable/g) ?? []).length, 1, "one warning per outage");
        } finally {
            await hung.stop();
            await hungCollector.stop();
            silent.close();
        }
    });

    it("bounds the keys per receiver by count, as memory does", async () => {
        const state = new RedisState(client, { keyPrefix: "bound:", windowMs: 3_600_000, maxEntries: 50, pendingMs: 5000, timeoutMs: 1000, busyWaitMs: 0 });
        for (let n = 0; n < 300; n++) {
            const reservation = await state.reserve("scope", [{ key: `k${n}`, stream: { name: `stream-${n}`, position: 0 } }]);
            reservation.commit();
        }
        await sleep(100);
        const keys = await client.keys("bound:*");
        assert.ok(keys.length <= 2 * 50 + 2, `${keys.length} keys for a bound of 50 identities and 50 streams`);
        const recent = await state.reserve("scope", [{ key: "k299" }]);
        assert.deepEqual(recent.statuses, ["seen"], "the newest are kept");
    });
});
