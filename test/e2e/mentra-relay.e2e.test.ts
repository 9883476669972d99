// Several instances of one Mentra app against a real redis-server: a display for a session
// another instance holds reaches it (pub/sub), sealed with the key the instances share; a
// message forged by another writer of the Redis shows nothing.
import assert = require("node:assert/strict");
import { createHmac } from "node:crypto";
import { createClient } from "redis";
import { MentraApp } from "../../nodes/mentra/app.js";
import { DisplayRelay, openRelayed } from "../../nodes/mentra/relay.js";
import { redisPubSub } from "../../nodes/redis/pubsub.js";
import { RedisServer } from "../support/redis-server.js";
import { FakeMentraCloud } from "../support/fake-mentra-cloud.js";
import { sleep } from "../support/node-red-process.js";

const APP = { packageName: "com.example.captions", apiKey: "relay-api-key" };
const KEY = Buffer.alloc(32, 9);
const CHANNEL = "verified-webhooks:mentra:com.example.captions:display";

describe("end to end: displays relayed between instances through Redis", function () {
    this.timeout(30_000);
    let redis: RedisServer;
    let cloud: FakeMentraCloud;
    const clients: { publish(channel: string, message: string): Promise<unknown>; close(): Promise<unknown>; destroy(): void }[] = [];
    const closers: (() => Promise<unknown>)[] = [];
    const apps: MentraApp[] = [];

    async function instance(name: string, onForged = () => {}): Promise<MentraApp> {
        const client = createClient({ url: `redis://127.0.0.1:${redis.port}` });
        client.on("error", () => {});
        await client.connect();
        clients.push(client);
        const pubSub = redisPubSub(client as never);
        closers.push(() => pubSub.close());
        const app = new MentraApp(APP);
        app.relay = new DisplayRelay(pubSub, CHANNEL, KEY, name, (sessionId, display) => void app.showHere(sessionId, display), onForged);
        await app.relay.start();
        apps.push(app);
        return app;
    }

    before(async () => {
        redis = await new RedisServer().start();
        cloud = await FakeMentraCloud.start(APP);
    });
    after(async () => {
        for (const app of apps) app.close("test over");
        for (const close of closers) await close();
        for (const client of clients) await client.close().catch(() => client.destroy());
        await cloud.stop();
        await redis.stop();
    });

    it("shows on the instance that holds the session what a flow on another instance sends it", async () => {
        const first = await instance("first");
        const second = await instance("second");
        first.join("held-by-first", "u1", cloud.url);
        second.join("held-by-second", "u2", cloud.url);
        await cloud.waitFor("subscription_update", 2);
        assert.equal(first.display("held-by-second", { layout: { layoutType: "text_wall", text: "from the first instance" }, view: "main" }), "relayed");
        const [display] = await cloud.waitFor("display_event");
        const connectionOf = (sessionId: string) => cloud.received("tpa_connection_init").find((each) => each.frame.sessionId === sessionId)!.connection;
        assert.equal(display!.connection, connectionOf("held-by-second"), "shown on the session's own socket, by the instance holding it");
        assert.deepEqual(display!.frame.layout, { layoutType: "text_wall", text: "from the first instance" });

        // Every session of the app: each instance shows it on its own sessions, once.
        first.display(undefined, { layout: { layoutType: "text_wall", text: "to everyone" }, view: "main" });
        await sleep(700);
        const everyone = cloud.received("display_event").filter((each) => (each.frame.layout as { text?: string }).text === "to everyone");
        assert.deepEqual(everyone.map((each) => each.connection).sort(), [connectionOf("held-by-first"), connectionOf("held-by-second")].sort());
    });

    it("shows nothing for a message another writer of the Redis publishes, and says so once", async () => {
        let forged = 0;
        const third = await instance("third", () => forged++);
        third.join("held-by-third", "u3", cloud.url);
        await cloud.until(() => cloud.received("subscription_update").some((each) => each.frame.sessionId === "held-by-third"), "the third session");
        const before = cloud.received("display_event").length;
        const intruder = clients[0]!;
        const body = JSON.stringify({ from: "intruder", sessionId: "held-by-third", display: { layout: { layoutType: "text_wall", text: "forged" }, view: "main" } });
        await intruder.publish(CHANNEL, JSON.stringify({ body, mac: "AAAA" }));
        await intruder.publish(CHANNEL, JSON.stringify({ body, mac: Buffer.alloc(32).toString("base64url") }));
        await intruder.publish(CHANNEL, "not even JSON");
        await sleep(500);
        assert.equal(cloud.received("display_event").length, before);
        assert.equal(forged, 1, "said once");
    });

    it("opens only what it sealed: a changed byte, another key, an oversized or malformed display are refused", () => {
        const sealed = (key: Buffer, inner: unknown) => {
            const body = JSON.stringify(inner);
            return JSON.stringify({ body, mac: createHmac("sha256", key).update(body).digest("base64url") });
        };
        const good = { from: "a", sessionId: "s", display: { layout: { layoutType: "text_wall", text: "hi" }, view: "main" } };
        assert.deepEqual(openRelayed(KEY, sealed(KEY, good)), good);
        assert.equal(openRelayed(Buffer.alloc(32, 1), sealed(KEY, good)), undefined);
        const tampered = sealed(KEY, good).replace('\\"hi\\"', '\\"ho\\"');
        assert.notEqual(tampered, sealed(KEY, good));
        assert.equal(openRelayed(KEY, tampered), undefined);
        assert.equal(openRelayed(KEY, sealed(KEY, { ...good, display: { layout: { layoutType: "bitmap_view", data: "x" }, view: "main" } })), undefined);
        assert.equal(openRelayed(KEY, sealed(KEY, { ...good, display: { ...good.display, view: "elsewhere" } })), undefined);
        assert.equal(openRelayed(KEY, "x".repeat(70_000)), undefined);
        // Extra fields in a layout are dropped: only what the layout's own rules build is shown.
        const extra = openRelayed(KEY, sealed(KEY, { ...good, display: { layout: { layoutType: "text_wall", text: "hi", script: "<x>" }, view: "main" } }));
        assert.deepEqual(extra?.display.layout, { layoutType: "text_wall", text: "hi" });
    });
});
