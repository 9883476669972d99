// A Mentra app built as a flow, in Node-RED's test helper against a fake cloud (protocol 2.x):
// the webhook node joins the session it accepts, a mentra-in node's transcription goes through
// a change node to a mentra-out node and onto the glasses, across a deploy; a URL on a host not
// allowed is never dialled; the newer protocol refuses to start with an app.
import assert = require("node:assert/strict");
import http = require("node:http");
import net = require("node:net");
import path = require("node:path");
import helper = require("node-red-node-test-helper");
import type { NodeAPI, NodeDef, NodeStatus } from "node-red";
import RuntimeNode = require("@node-red/runtime/lib/nodes/Node");
import change = require("@node-red/nodes/core/function/15-change.js");
import { request } from "../support/node-red-process.js";
import { DIST } from "../support/paths.js";
import { mentraSession } from "../support/fixtures.js";
import { FakeMentraCloud } from "../support/fake-mentra-cloud.js";
import type { MentraAppNode } from "../../nodes/node-red/mentra-shared.js";

helper.init(require.resolve("node-red"));

type NodeModule = (RED: NodeAPI) => void;
const nodeFile = (type: string) => require(path.join(DIST, "nodes", `${type}.js`)) as NodeModule;
const MODULES = ["mentra-webhook", "mentra-app", "mentra-in", "mentra-out"].map(nodeFile);
type FlowNode = helper.TestFlowsItem<NodeDef & { [property: string]: unknown }>;

const APP = { packageName: "com.example.captions", apiKey: "captions-api-key" };
const SESSION = "jane.doe@example.com-com.example.captions";

const statusLog: [string, NodeStatus][] = [];
const originalStatus = RuntimeNode.prototype.status;
RuntimeNode.prototype.status = function (this: { id: string }, status: NodeStatus) {
    statusLog.push([this.id, status]);
    return originalStatus.call(this, status);
};

/** Live captions: transcription → the text alone → the glasses' display. */
function captionsFlow(fields: Record<string, unknown> = {}): FlowNode[] {
    return [
        { id: "tab", type: "tab", label: "Live captions" },
        { id: "app", type: "mentra-app", name: "captions", packageName: APP.packageName },
        { id: "webhook", type: "mentra-webhook", z: "tab", path: "/mentra", allowedHosts: "127.0.0.1", allowInsecureWs: true, app: "app", wires: [[], []], ...fields },
        { id: "captions-in", type: "mentra-in", z: "tab", app: "app", stream: "transcription", language: "en-US", wires: [["text-only"], ["sessions"]] },
        { id: "sessions", type: "helper", z: "tab" },
        { id: "text-only", type: "change", z: "tab", rules: [{ t: "set", p: "payload", pt: "msg", to: "payload.text", tot: "msg" }], wires: [["glasses"]] },
        { id: "glasses", type: "mentra-out", z: "tab", app: "app", layout: "text_wall", view: "main", wires: [] },
    ];
}

const CREDENTIALS = { app: { apiKey: APP.apiKey } };

async function start(flow: FlowNode[]) {
    let httpNode: NodeAPI["httpNode"] | undefined;
    const capture = (RED: NodeAPI) => {
        httpNode = RED.httpNode;
    };
    await helper.load([capture, ...MODULES, change as unknown as NodeModule], flow, CREDENTIALS);
    const server = http.createServer(httpNode);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    return (route: string) => `http://127.0.0.1:${(server.address() as net.AddressInfo).port}${route}`;
}
const servers: http.Server[] = [];

const post = (url: string, body: unknown) => request(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a Mentra app as a flow (test helper, fake cloud)", function () {
    this.timeout(20_000);
    let cloud: FakeMentraCloud;
    beforeEach(async () => {
        cloud = await FakeMentraCloud.start(APP);
    });
    afterEach(async () => {
        await helper.unload();
        for (const server of servers.splice(0)) server.close();
        await cloud.stop();
    });

    it("joins the session it accepts within 1 s and shows the transcription on the glasses, through a change node, across a deploy", async () => {
        const url = await start(captionsFlow());
        const sessionEvents: { topic?: string; sessionId?: string; payload: { capabilities?: { modelName?: string }; reason?: string } }[] = [];
        const listen = () => (helper.getNode("sessions") as unknown as { on(event: "input", listener: (msg: (typeof sessionEvents)[number]) => void): void }).on("input", (msg) => void sessionEvents.push(msg));
        listen();
        const posted = Date.now();
        const answer = await post(url("/mentra/webhook"), mentraSession({ sessionId: SESSION, timestamp: new Date().toISOString(), websocketUrl: undefined, mentraOSWebsocketUrl: cloud.url, augmentOSWebsocketUrl: cloud.url }));
        assert.equal(answer.status, 200);
        const [init] = await cloud.waitFor("tpa_connection_init", 1, 1000);
        assert.ok(Date.now() - posted < 1000);
        assert.equal(init!.frame.apiKey, APP.apiKey);
        const [update] = await cloud.waitFor("subscription_update");
        assert.deepEqual(update!.frame.subscriptions, ["transcription:en-US"], "derived from the deployed mentra-in node");

        cloud.sendData(SESSION, "transcription:en-US", { type: "transcription", text: "hello from the glasses", isFinal: false, startTime: 0, endTime: 900 });
        const [display] = await cloud.waitFor("display_event");
        assert.deepEqual(display!.frame.layout, { layoutType: "text_wall", text: "hello from the glasses" });

        // A full deploy (the editor's default): the session goes on; the new nodes receive and display.
        await helper.setFlows(captionsFlow(), "full", CREDENTIALS);
        listen(); // the redeployed output-2 node
        await sleep(300);
        cloud.sendData(SESSION, "transcription:en-US", { type: "transcription", text: "after the deploy", isFinal: true, startTime: 0, endTime: 900 });
        await cloud.waitFor("display_event", 2);
        assert.deepEqual(cloud.received("display_event")[1]!.frame.layout, { layoutType: "text_wall", text: "after the deploy" });
        assert.equal(cloud.connections, 1, "the deploy did not end the user's session");

        await post(url("/mentra/webhook"), { type: "stop_request", sessionId: SESSION, userId: "jane.doe@example.com", reason: "user_disabled", timestamp: new Date().toISOString() });
        await cloud.until(() => cloud.closes.length === 1, "the session's socket closed");
        // Output 2: the session's lifecycle (output 1 carried only what was said: the display showed no JSON).
        const started = sessionEvents.find((msg) => msg.topic === "session_started");
        assert.equal(started?.sessionId, SESSION);
        assert.equal(started?.payload.capabilities?.modelName, "Even Realities G1");
        await sleep(50);
        assert.ok(sessionEvents.some((msg) => msg.topic === "session_stopped" && msg.payload.reason === "user_disabled"), JSON.stringify(sessionEvents.map((msg) => msg.topic)));
    });

    it("never dials a URL on a host that is not allowed (403: the API key stays home)", async () => {
        const elsewhere = await FakeMentraCloud.start(APP);
        try {
            const url = await start(captionsFlow());
            const other = elsewhere.url.replace("127.0.0.1", "localhost");
            const answer = await post(url("/mentra/webhook"), mentraSession({ sessionId: SESSION, timestamp: new Date().toISOString(), websocketUrl: undefined, mentraOSWebsocketUrl: other, augmentOSWebsocketUrl: other }));
            assert.equal(answer.status, 403);
            await sleep(500);
            assert.equal(elsewhere.connections, 0);
        } finally {
            await elsewhere.stop();
        }
    });

    it("says once, not per request, that an app without its API key cannot join a session (session_requests are unsigned)", async () => {
        const flow = captionsFlow();
        const url = await (async () => {
            let httpNode: NodeAPI["httpNode"] | undefined;
            await helper.load([(RED: NodeAPI) => void (httpNode = RED.httpNode), ...MODULES, change as unknown as NodeModule], flow, {}); // no API key
            const server = http.createServer(httpNode);
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            servers.push(server);
            return (route: string) => `http://127.0.0.1:${(server.address() as net.AddressInfo).port}${route}`;
        })();
        for (let request = 0; request < 5; request++) {
            const answer = await post(url("/mentra/webhook"), mentraSession({ sessionId: `${SESSION}-${request}`, timestamp: new Date().toISOString(), websocketUrl: undefined, mentraOSWebsocketUrl: cloud.url, augmentOSWebsocketUrl: cloud.url }));
            assert.equal(answer.status, 200, "the webhook is still answered and emitted");
        }
        const warnings = (helper.log().args as { level: number; msg: unknown; id?: string }[][])
            .map(([entry]) => entry!)
            .filter((entry) => entry.id === "webhook" && entry.level === 30);
        assert.equal(warnings.length, 1, JSON.stringify(warnings));
        assert.equal(cloud.connections, 0, "nothing dialled without a key");
    });

    it("refuses to start with an app while set to the newer protocol, and says so", async () => {
        await start(captionsFlow({ protocol: "miniapp" }));
        await sleep(100);
        const status = statusLog.filter(([id]) => id === "webhook").map(([, each]) => each).pop();
        assert.equal(status?.fill, "red");
        assert.match(String(status?.text), /mentra-protocol|newer protocol/);
    });

    it("shows the sessions on the nodes' status, and a refused key", async () => {
        await cloud.stop();
        cloud = await FakeMentraCloud.start({ ...APP, apiKey: "not-this-one" });
        const url = await start(captionsFlow());
        await post(url("/mentra/webhook"), mentraSession({ sessionId: SESSION, timestamp: new Date().toISOString(), websocketUrl: undefined, mentraOSWebsocketUrl: cloud.url, augmentOSWebsocketUrl: cloud.url }));
        await cloud.until(() => cloud.closes.length === 1, "the refusal");
        await sleep(700);
        const status = statusLog.filter(([id]) => id === "glasses").map(([, each]) => each).pop();
        assert.equal(status?.fill, "red");
        // The test helper loads no catalogue: the status is its key; the reason it carries is the app's.
        assert.match(String(status?.text), /INVALID_API_KEY|mentra\.status\.error/);
        const app = (helper.getNode("app") as unknown as MentraAppNode).app!;
        assert.equal(app.summary().lastError?.code, "INVALID_API_KEY");
        assert.equal(app.sessions.size, 0);
    });
});
