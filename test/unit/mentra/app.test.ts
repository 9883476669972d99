// A Mentra app's sessions against a fake cloud that speaks the 2.x protocol: joining within the
// cloud's budget, subscriptions from the nodes, streams in, displays out (coalesced), stops,
// repeated requests, refused keys, slow acks and drops.
import assert = require("node:assert/strict");
import { MentraApp, type AppInput, type SessionLifecycle } from "../../../nodes/mentra/app.js";
import type { DataStreamFrame, StreamRequest } from "../../../nodes/mentra/protocol.js";
import { FakeMentraCloud } from "../../support/fake-mentra-cloud.js";

const APP = { packageName: "com.example.captions", apiKey: "test-api-key" };
const SESSION = "jane@example.com-com.example.captions";

function recordingInput(streams: StreamRequest[]): AppInput & { frames: DataStreamFrame[]; events: SessionLifecycle[] } {
    const input = {
        streams,
        frames: [] as DataStreamFrame[],
        events: [] as SessionLifecycle[],
        data: (_session: unknown, frame: DataStreamFrame) => void input.frames.push(frame),
        lifecycle: (event: SessionLifecycle) => void input.events.push(event),
    };
    return input;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
        if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
        await sleep(10);
    }
}

describe("a Mentra app's sessions (fake cloud, protocol 2.x)", function () {
    this.timeout(20_000);
    let cloud: FakeMentraCloud;
    let app: MentraApp;
    afterEach(async () => {
        app?.close("test over");
        await cloud?.stop();
    });

    /** An app with a captions node, joined to SESSION on a fresh fake cloud, its subscriptions sent. */
    async function captionsSession(): Promise<ReturnType<typeof recordingInput>> {
        cloud = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP);
        const captions = recordingInput([{ kind: "transcription", language: "en-US" }]);
        app.addInput(captions);
        app.join(SESSION, "jane@example.com", cloud.url);
        await cloud.waitFor("subscription_update");
        return captions;
    }

    it("joins within 1 s: the init as the SDK sends it, then the nodes' subscriptions after the ack; the session starts", async () => {
        cloud = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP);
        const input = recordingInput([{ kind: "transcription", language: "en-US" }]);
        app.addInput(input);
        const joinedAt = Date.now();
        assert.equal(app.join(SESSION, "jane@example.com", cloud.url), "joined");
        const [init] = await cloud.waitFor("tpa_connection_init", 1, 1000);
        assert.ok(Date.now() - joinedAt < 1000);
        assert.deepEqual(Object.keys(init!.frame), ["type", "sessionId", "packageName", "apiKey", "timestamp"]);
        assert.deepEqual({ ...init!.frame, timestamp: undefined }, { type: "tpa_connection_init", sessionId: SESSION, packageName: APP.packageName, apiKey: APP.apiKey, timestamp: undefined });
        const [update] = await cloud.waitFor("subscription_update");
        assert.deepEqual(update!.frame.subscriptions, ["transcription:en-US"]);
        await until(() => input.events.some((event) => event.type === "started"), "started");
        const started = input.events.find((event) => event.type === "started") as Extract<SessionLifecycle, { type: "started" }>;
        assert.equal((started.ack.capabilities as { modelName: string }).modelName, "Even Realities G1");
        assert.equal(app.summary().active, 1);
    });

    it("hands each data_stream to the nodes that asked for it, and only to them", async () => {
        cloud = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP);
        const captions = recordingInput([{ kind: "transcription", language: "en-US" }]);
        const buttons = recordingInput([{ kind: "button_press" }]);
        app.addInput(captions);
        app.addInput(buttons);
        app.join(SESSION, "jane@example.com", cloud.url);
        const [update] = await cloud.waitFor("subscription_update");
        assert.deepEqual(update!.frame.subscriptions, ["button_press", "transcription:en-US"]);
        cloud.sendData(SESSION, "transcription:en-US", { type: "transcription", text: "hello glasses", isFinal: true });
        cloud.sendData(SESSION, "button_press", { type: "button_press", buttonId: "main", pressType: "short" });
        await until(() => captions.frames.length === 1 && buttons.frames.length === 1, "one frame each");
        assert.equal((captions.frames[0]!.data as { text: string }).text, "hello glasses");
        assert.equal(buttons.frames[0]!.streamType, "button_press");
    });

    it("sends the subscriptions again when the nodes change them, and not when they do not", async () => {
        const captions = await captionsSession();
        app.addInput(recordingInput([{ kind: "transcription", language: "en-US" }])); // the same stream: nothing new
        const head = recordingInput([{ kind: "head_position" }]);
        app.addInput(head);
        const updates = await cloud.waitFor("subscription_update", 2);
        assert.deepEqual(updates[1]!.frame.subscriptions, ["head_position", "transcription:en-US"]);
        app.removeInput(head);
        assert.deepEqual((await cloud.waitFor("subscription_update", 3))[2]!.frame.subscriptions, ["transcription:en-US"]);
        await sleep(100);
        assert.equal(cloud.received("subscription_update").length, 3);

        // A full deploy: every node stops, and starts again asking for the same: the cloud hears nothing of it, no empty list in between.
        app.removeInput(captions);
        await sleep(20);
        app.addInput(recordingInput([{ kind: "transcription", language: "en-US" }]));
        await sleep(400);
        assert.equal(cloud.received("subscription_update").length, 3);
    });

    it("coalesces displays faster than the cloud takes them: the latest wins, nothing queues up", async () => {
        cloud = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP);
        app.join(SESSION, "jane@example.com", cloud.url);
        await cloud.waitFor("subscription_update");
        for (let word = 1; word <= 20; word++) app.display(SESSION, { layout: { layoutType: "text_wall", text: `caption ${word}` }, view: "main" });
        const displays = await cloud.waitFor("display_event", 2);
        await sleep(400);
        const all = cloud.received("display_event");
        assert.equal(all.length, 2, "the first at once, the latest after the interval");
        assert.deepEqual(all.map((each) => (each.frame.layout as { text: string }).text), ["caption 1", "caption 20"]);
        assert.ok(displays[1]!.at - displays[0]!.at >= 290, `${displays[1]!.at - displays[0]!.at} ms apart`);
        assert.deepEqual({ ...all[0]!.frame, timestamp: undefined }, { timestamp: undefined, sessionId: "", type: "display_event", packageName: APP.packageName, view: "main", layout: { layoutType: "text_wall", text: "caption 1" } });
    });

    it("ends a session on stop_request, closing its socket", async () => {
        cloud = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP);
        const input = recordingInput([]);
        app.addInput(input);
        app.join(SESSION, "jane@example.com", cloud.url);
        await cloud.waitFor("subscription_update");
        app.stop(SESSION, "user_disabled");
        await cloud.until(() => cloud.closes.length === 1, "the close");
        assert.equal(app.sessions.size, 0);
        assert.ok(input.events.some((event) => event.type === "ended" && event.end.reason === "user_disabled"));
    });

    it("moves a session the cloud asks for again: ownership_release (switching_clouds) on the old socket, a fresh init at the new URL", async () => {
        cloud = await FakeMentraCloud.start(APP);
        const other = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP);
        try {
            app.join(SESSION, "jane@example.com", cloud.url);
            await cloud.waitFor("subscription_update");
            assert.equal(app.join(SESSION, "jane@example.com", other.url), "moved");
            const [release] = await cloud.waitFor("ownership_release");
            assert.deepEqual({ ...release!.frame, timestamp: undefined }, { type: "ownership_release", packageName: APP.packageName, sessionId: SESSION, reason: "switching_clouds", timestamp: undefined });
            await other.waitFor("tpa_connection_init");
            await cloud.until(() => cloud.closes.length === 1, "the old socket closed");
            await other.waitFor("subscription_update");
            assert.equal(app.summary().active, 1);
        } finally {
            await other.stop();
        }
    });

    it("ends at once when the cloud refuses the key (1008): the code is said, and nothing reconnects", async () => {
        cloud = await FakeMentraCloud.start({ ...APP, apiKey: "another-key" });
        app = new MentraApp(APP);
        const input = recordingInput([]);
        app.addInput(input);
        app.join(SESSION, "jane@example.com", cloud.url);
        await until(() => input.events.some((event) => event.type === "ended"), "ended");
        const ended = input.events.find((event) => event.type === "ended") as Extract<SessionLifecycle, { type: "ended" }>;
        assert.equal(ended.end.code, "INVALID_API_KEY");
        assert.ok(input.events.some((event) => event.type === "error" && event.error.code === "INVALID_API_KEY"));
        await sleep(1500);
        assert.equal(cloud.connections, 1, "a refused key is not tried again");
        assert.equal(app.summary().lastError?.code, "INVALID_API_KEY");
    });

    it("waits for a slow ack within the budget", async () => {
        cloud = await FakeMentraCloud.start({ ...APP, ackDelayMs: 3000 });
        app = new MentraApp(APP);
        app.join(SESSION, "jane@example.com", cloud.url);
        await cloud.waitFor("subscription_update", 1, 6000);
        assert.equal(cloud.connections, 1);
        assert.equal(app.summary().active, 1);
    });

    it("tries again within the budget when the first dial fails (the webhook was answered: the cloud will not retry)", async () => {
        cloud = await FakeMentraCloud.start({ ...APP, dropFirst: 2 });
        app = new MentraApp(APP);
        app.join(SESSION, "jane@example.com", cloud.url);
        await cloud.waitFor("tpa_connection_init", 1, 4000);
        assert.equal(cloud.connections, 3);
        await cloud.waitFor("subscription_update");
    });

    it("reconnects after a drop with a fresh init, and not after App stopped", async () => {
        cloud = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP);
        app.join(SESSION, "jane@example.com", cloud.url);
        await cloud.waitFor("subscription_update");
        cloud.close(SESSION, 4000, "network blip");
        await until(() => app.summary().connecting === 1, "reconnecting");
        const inits = await cloud.waitFor("tpa_connection_init", 2, 3000);
        assert.equal(inits[1]!.connection, 2);
        await cloud.waitFor("subscription_update", 2);
        cloud.close(SESSION, 1000, "App stopped", true);
        await until(() => app.sessions.size === 0, "ended");
        await sleep(1500);
        assert.equal(cloud.connections, 2);
    });

    it("refuses a frame over 1 MiB: the socket is closed (1009) and the session connects again, nothing of it reaching a node", async () => {
        const captions = await captionsSession();
        cloud.sendData(SESSION, "transcription:en-US", { type: "transcription", text: "x".repeat(1024 * 1024 + 1), isFinal: true });
        await cloud.until(() => cloud.closes.length === 1, "the close");
        assert.equal(cloud.closes[0]!.code, 1009);
        await cloud.waitFor("tpa_connection_init", 2, 3000);
        assert.deepEqual(captions.frames, []);
    });

    it("refuses a session past its bound", async () => {
        cloud = await FakeMentraCloud.start(APP);
        app = new MentraApp(APP, 1);
        assert.equal(app.join("one", "u1", cloud.url), "joined");
        assert.equal(app.join("two", "u2", cloud.url), "full");
    });
});
