// The Redis Stream store of "Keep deliveries until handled" against a real redis-server, as two
// instances use it: each owns what it puts; a restarted instance reads back what it still
// owes; an instance that stops touching its entries (it died) leaves them to the other after
// the claim timeout, and a live one never does; handled entries leave the stream; parked
// ones move aside and stay listed; Redis away fails a put at once.
import { jsonOfText, textOf } from "../../nodes/receive/record.js";
import assert = require("node:assert/strict");
import { createClient } from "redis";
import fs = require("node:fs");
import path = require("node:path");
import { RedisState } from "../../nodes/dedup/redis-state.js";
import { RedisKeptEvents, type RedisKeptOptions } from "../../nodes/keep/redis-store.js";
import { allPending, type KeptEvent, type NewKeptEvent } from "../../nodes/keep/kept-events.js";
import { PACKAGE_ROOT, sleep } from "../support/node-red-process.js";
import { RedisServer } from "../support/redis-server.js";

const CLAIM_AFTER_MS = 400;
const ENTRY_KEY = Buffer.alloc(32, 7);

function event(deliveryId: string, index: number): NewKeptEvent {
    return { deliveryId, index, receivedAt: "2026-11-24T10:00:00.000Z", verified: true, test: false, remoteAddress: "203.0.113.7", payload: JSON.stringify({ uuid: `${deliveryId}-${index}` }) };
}

const uuidsOf = (events: readonly KeptEvent<string>[]) => events.map((kept) => (jsonOfText(kept.payload) as { uuid: string }).uuid);

describe("end to end: the Redis Stream store of kept deliveries", function () {
    this.timeout(30000);
    let redis: RedisServer;
    let client: ReturnType<typeof createClient>;
    const opened: RedisKeptEvents[] = [];
    let stream: string;

    before(async () => {
        redis = await new RedisServer().start();
        client = createClient({ url: `redis://127.0.0.1:${redis.port}`, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100 } });
        client.on("error", () => {});
        await client.connect();
    });
    after(async () => {
        await client.close().catch(() => client.destroy());
        await redis.stop();
    });
    beforeEach(() => {
        stream = `test:kept:${Math.random().toString(36).slice(2)}`;
    });
    afterEach(async () => {
        await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    function instance(consumer: string, overrides: Partial<RedisKeptOptions> = {}): RedisKeptEvents {
        const store = new RedisKeptEvents(client as never, { stream, group: "verified-webhooks", consumer, claimAfterMs: CLAIM_AFTER_MS, timeoutMs: 1000, entryKey: ENTRY_KEY, ...overrides });
        opened.push(store);
        return store;
    }

    /** Collects what `store` takes over from others. */
    function takeovers(store: RedisKeptEvents): KeptEvent<string>[] {
        const taken: KeptEvent<string>[] = [];
        store.watch((events) => taken.push(...events));
        return taken;
    }

    it("never takes back an event it handled while the forget is on its way to Redis, however late it arrives", async () => {
        // Redis answers the forget late (a loaded machine): past the claim timeout, the entry is idle in Redis meanwhile.
        const slowForgets = {
            eval: async (script: string, options: { keys: string[]; arguments: string[] }) => {
                if (options.arguments.includes("|")) await sleep(400); // the forget script: ids, "|", parked ids
                return client.eval(script, options);
            },
        };
        const store = new RedisKeptEvents(slowForgets as never, { stream, group: "verified-webhooks", consumer: "a", claimAfterMs: 100, timeoutMs: 1000, entryKey: ENTRY_KEY });
        opened.push(store);
        const taken = takeovers(store);
        const [handle] = await store.put([event("handled", 0)]);
        store.forget(handle!);
        await sleep(700);
        assert.deepEqual(taken, [], "its own handled event was taken over, to be emitted again");
        assert.equal(await client.xLen(stream), 0, "forgotten in the end");
    });

    it("owns what it puts; after a restart it reads back what it did not forget, counting the attempt", async () => {
        const first = instance("a");
        // d2-0 as a receiver hands it over: the bytes of its element as received (multi-byte characters included).
        const asReceived = { ...event("d2", 0), payload: Buffer.from('{ "uuid": "d2-0", "location": "Straße ✓" }') };
        const handles = await first.put([event("d1", 0), event("d1", 1), asReceived]);
        assert.equal(handles.length, 3);
        first.forget(handles[1]!);
        await first.close(); // writes the forget; d1-0 and d2-0 are still owed

        const restarted = instance("a");
        const recovered = await allPending(restarted);
        assert.deepEqual(uuidsOf(recovered), ["d1-0", "d2-0"]);
        assert.deepEqual(recovered.map((kept) => [kept.deliveryId, kept.index, kept.attempts, kept.parked]), [["d1", 0, 1, false], ["d2", 0, 1, false]]);
        assert.equal(recovered[0]!.remoteAddress, "203.0.113.7");
        assert.equal(textOf(recovered[1]!.payload), '{ "uuid": "d2-0", "location": "Straße ✓" }', "the bytes as received, read back as their text (its MAC holds)");
        assert.deepEqual(await allPending(instance("b")), [], "another instance owes none of them");

        const fresh = await restarted.put([event("d3", 0)]);
        assert.deepEqual(uuidsOf(await allPending(restarted)), [], "what it put or read since it started is on its way already");
        for (const handle of [...recovered.map((kept) => kept.handle), ...fresh]) restarted.forget(handle);
        await restarted.close();
        assert.equal(await client.xLen(stream), 0, "handled entries leave the stream");
        assert.equal(((await client.xPending(stream, "verified-webhooks")) as { pending: number }).pending, 0);
    });

    it("leaves a dead instance's entries to the other after the claim timeout, and never a live one's", async () => {
        const live = instance("live");
        const doomed = instance("doomed");
        const liveHandles = await live.put([event("alive", 0)]);
        await doomed.put([event("dead", 0), event("dead", 1)]);
        await doomed.close(); // stops touching its entries, as a killed process would

        const taken = takeovers(live);
        const deadline = Date.now() + 10 * CLAIM_AFTER_MS;
        while (taken.length < 2 && Date.now() < deadline) await sleep(50);
        assert.deepEqual(uuidsOf(taken).sort(), ["dead-0", "dead-1"]);
        assert.ok(taken.every((kept) => kept.attempts === 1), "claimed once after one emission");

        // Twice the claim timeout later, the live instance's own entry is still its own.
        const other = instance("other");
        const stolen = takeovers(other);
        await sleep(2 * CLAIM_AFTER_MS);
        assert.deepEqual(stolen, [], "a live instance's entries are never taken over");
        for (const handle of [...liveHandles, ...taken.map((kept) => kept.handle)]) live.forget(handle);
        await live.close();
        assert.equal(await client.xLen(stream), 0);
    });

    it("parks entries aside: listed by pending, never taken over, forgotten by their parked handle", async () => {
        const store = instance("a");
        await store.put([event("p", 0)]);
        await store.close();
        const again = instance("a");
        const [owed] = await allPending(again);
        const [parked] = await again.park([{ ...owed!, attempts: 5 }]);
        assert.match(parked!, /^parked:/);
        const taken = takeovers(instance("b"));
        await sleep(2 * CLAIM_AFTER_MS);
        assert.deepEqual(taken, []);
        const listed = await allPending(instance("c"));
        assert.deepEqual(listed.map((kept) => [kept.handle, kept.attempts, kept.parked]), [[parked, 5, true]]);
        again.forget(parked!);
        await again.close();
        assert.deepEqual(await allPending(instance("d")), []);
    });

    it("fails a put at once while Redis is away, and within the timeout while it hangs", async () => {
        const store = instance("a", { timeoutMs: 300 });
        redis.signal("SIGSTOP");
        try {
            const started = Date.now();
            await assert.rejects(store.put([event("hang", 0)]), /did not answer within 300 ms/);
            assert.ok(Date.now() - started < 1000);
        } finally {
            redis.signal("SIGCONT");
        }
        // The put answered 503 runs once Redis resumes: it is undone, so neither a restart nor another instance emits it.
        for (const deadline = Date.now() + 3000; (await client.xLen(stream)) > 0 && Date.now() < deadline; ) await sleep(50);
        assert.equal(await client.xLen(stream), 0, "the late write was undone");
        assert.deepEqual(await allPending(instance("a")), []);
        const other = instance("b", { claimAfterMs: 50 });
        const taken = takeovers(other);
        await sleep(300);
        assert.deepEqual(taken, [], "nothing for another instance to take over");
        await redis.stop();
        try {
            await sleep(50);
            await assert.rejects(store.put([event("away", 0)]));
        } finally {
            await redis.start();
            for (const deadline = Date.now() + 5000; !client.isReady && Date.now() < deadline; ) await sleep(50);
        }
    });

    it("never emits nor lists an entry another writer of the Redis made up, reports it once, and goes on with the genuine ones", async () => {
        const forged: string[] = [];
        const a = instance("a", { onForged: (where) => forged.push(where) });
        await a.put([event("genuine-1", 0)]); // the group exists now
        // Anyone who can write to the Redis: entries with the right field names and no MAC, a wrong MAC, broken JSON.
        const fields = { d: "forged", i: "0", r: "2026-11-24T10:00:00.000Z", v: "1", t: "0", a: "", p: JSON.stringify({ uuid: "forged-0" }) };
        await client.xAdd(stream, "*", fields);
        await client.xAdd(stream, "*", { ...fields, p: JSON.stringify({ uuid: "forged-1" }), m: "A".repeat(43) });
        await client.xAdd(`${stream}:parked`, "*", { ...fields, p: "{not json", n: "5" });
        // Another instance with another key: its entries are not this one's either.
        const other = instance("other", { entryKey: Buffer.alloc(32, 9) });
        await other.put([event("other-key", 0)]);
        await other.close();

        const strays: KeptEvent<string>[] = [];
        a.watch((events) => strays.push(...events));
        await a.put([event("genuine-2", 0)]); // reads the strays the forged entries would be
        await sleep(CLAIM_AFTER_MS * 3);
        const restarted = instance("a", { onForged: (where) => forged.push(where) });
        await a.close();
        const recovered = await allPending(restarted);
        assert.deepEqual(uuidsOf(strays), []);
        assert.ok(!uuidsOf(recovered).some((uuid) => uuid.startsWith("forged") || uuid.startsWith("other")), JSON.stringify(uuidsOf(recovered)));
        assert.ok(uuidsOf(recovered).includes("genuine-1-0") && uuidsOf(recovered).includes("genuine-2-0"), "the genuine ones still come back");
        assert.ok(forged.length >= 1 && forged.length <= 2, `reported once per store: ${JSON.stringify(forged)}`);

        // Parked genuine entries stay listed beside the forged one; a changed attempt count fails.
        const parked = await restarted.park(recovered.filter((kept) => kept.deliveryId === "genuine-1"));
        assert.equal(parked.length, 1);
        const listed = (await allPending(instance("b"))).filter((kept) => kept.parked);
        assert.deepEqual(uuidsOf(listed), ["genuine-1-0"]);
    });

    it("works under the Redis ACL the README gives, and nothing wider", async () => {
        const readme = fs.readFileSync(path.join(PACKAGE_ROOT, "README.md"), "utf8");
        const acl = /`(ACL SETUSER [^`]+)`/.exec(readme)?.[1]?.replace(/\s+/g, " ");
        assert.ok(acl, "the README gives an ACL");
        await client.sendCommand(acl.split(" ").map((word) => (word === "nodered" ? "acl-test" : word === ">password" ? ">acl-test-password" : word)));
        const limited = createClient({ url: `redis://127.0.0.1:${redis.port}`, username: "acl-test", password: "acl-test-password", disableOfflineQueue: true });
        limited.on("error", () => {});
        await limited.connect();
        try {
            const store = new RedisKeptEvents(limited as never, { stream: "verified-webhooks:kept:acl", group: "verified-webhooks", consumer: "acl", claimAfterMs: CLAIM_AFTER_MS, timeoutMs: 1000, entryKey: ENTRY_KEY });
            const [handle] = await store.put([event("acl", 0)]);
            const again = new RedisKeptEvents(limited as never, { stream: "verified-webhooks:kept:acl", group: "verified-webhooks", consumer: "acl", claimAfterMs: CLAIM_AFTER_MS, timeoutMs: 1000, entryKey: ENTRY_KEY });
            await store.close();
            const [owed] = await allPending(again);
            assert.equal(owed?.handle, handle);
            const [parked] = await again.park([owed!]);
            again.forget(parked!);
            await again.close();
            const state = new RedisState(limited as never, { keyPrefix: "verified-webhooks:", windowMs: 60_000, maxEntries: 100, pendingMs: 5000, timeoutMs: 1000, busyWaitMs: 500 });
            const first = await state.reserve("wms:/acl", [{ key: "s#1", stream: { name: "s", position: 1 } }]);
            await first.commit();
            assert.deepEqual((await state.reserve("wms:/acl", [{ key: "s#1" }])).statuses, ["seen"]);
            // Outside the prefix: refused, so the ACL is what keeps other tenants' keys apart.
            await assert.rejects(limited.set("other-tenant:key", "x"));
        } finally {
            await limited.close().catch(() => limited.destroy());
        }
    });

    it("de-duplication in Redis remembers an identity past the window while a copy could still pass the time check", async () => {
        const state = new RedisState(client as never, { keyPrefix: `${stream}:`, windowMs: 300, maxEntries: 100, pendingMs: 5000, timeoutMs: 1000, busyWaitMs: 200 });
        const first = await state.reserve("wms:/ahead", [{ key: "ahead", until: Date.now() + 1500 }, { key: "plain" }]);
        first.commit();
        await sleep(600); // past the window
        assert.deepEqual((await state.reserve("wms:/ahead", [{ key: "ahead" }, { key: "plain" }])).statuses, ["seen", "new"]);
        await sleep(1100);
        assert.deepEqual((await state.reserve("wms:/ahead", [{ key: "ahead" }])).statuses, ["new"]);
    });
});
