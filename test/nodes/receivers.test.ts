// The receiver nodes inside Node-RED's test helper: configuration, outputs, status, lifecycle.
// Every node type of the one list of providers is loaded and sent its own samples.
import assert = require("node:assert/strict");
import http = require("node:http");
import net = require("node:net");
import helper = require("node-red-node-test-helper");
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from "node-red";
import RuntimeNode = require("@node-red/runtime/lib/nodes/Node");
import { request } from "../support/node-red-process.js";
import path = require("node:path");
import type { EventMessage, RejectionMessage } from "../../nodes/receive/pipeline.js";
import type { WmsEvent } from "../../nodes/providers/wms.js";
import type { SynthesisEvent } from "../../nodes/providers/synthesis.js";
import type { MentraEvent } from "../../nodes/providers/mentra.js";
import type { MeshAgentEvent } from "../../nodes/providers/meshagent.js";
import { DIST } from "../support/paths.js";
import stateModule = require("../../nodes/node-red/webhook-state.js");
import join = require("@node-red/nodes/core/sequence/17-split.js");
import { wmsSeedBodyNow, wmsBody, mentraSession, synthesisBatch, meshagentEvent, signDelivery } from "../support/fixtures.js";
import { wmsSignature } from "../../nodes/providers/wms.js";
import { PROVIDERS } from "../../nodes/providers/index.js";
import type { SomeProvider } from "../../nodes/receive/provider.js";
import { sampleDelivery, sampleNames } from "../../nodes/providers/signing.js";

helper.init(require.resolve("node-red"));

type NodeModule = (RED: NodeAPI) => void;
/** A receiver's node file as the build generates it and Node-RED loads it. */
const nodeFile = (type: string) => require(path.join(DIST, "nodes", `${type}.js`)) as NodeModule;
const NODE_MODULES: Record<string, NodeModule> = Object.fromEntries(PROVIDERS.map((provider) => [provider.nodeType, nodeFile(provider.nodeType)]));
type FlowNode = helper.TestFlowsItem<NodeDef & { [property: string]: unknown }>;

/**
 * Loads `flow` with every receiver module, keeps hold of the RED.httpNode app the nodes
 * registered on and serves it on a loopback port. Returns { url, node(id) }.
 */
async function start(flow: FlowNode[], credentials: Record<string, { secret: string }> = {}, extraModules: NodeModule[] = []) {
    let httpNode: NodeAPI["httpNode"] | undefined;
    const capture = (RED: NodeAPI) => {
        httpNode = RED.httpNode;
    };
    await helper.load([capture, ...Object.values(NODE_MODULES), ...extraModules], flow, credentials);
    const server = http.createServer(httpNode);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    return { url: (path: string) => `http://127.0.0.1:${(server.address() as net.AddressInfo).port}${path}`, node: (id: string) => helper.getNode(id) };
}
const servers: http.Server[] = [];

// Every status any node shows, as [node id, status], spied on Node-RED's own Node class.
const statusLog: [string, NodeStatus][] = [];
const originalStatus = RuntimeNode.prototype.status;
RuntimeNode.prototype.status = function (this: { id: string }, status: NodeStatus) {
    statusLog.push([this.id, status]);
    return originalStatus.call(this, status);
};
const statusesOf = (id: string) => statusLog.filter(([nodeId]) => nodeId === id).map(([, status]) => status);

function post(url: string, body: string, headers: Record<string, string> = {}) {
    return request(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
}

/** Collects what a helper node receives: messages of the kind its wire carries. */
function collect<Message>(node: Node): (Message & NodeMessage)[] {
    const messages: (Message & NodeMessage)[] = [];
    node.on("input", (msg: NodeMessage) => messages.push(msg as Message & NodeMessage));
    return messages;
}

const until = async (predicate: () => boolean, what: string, timeoutMs = 2000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
};
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

function receiverFlow(type: string, fields: Record<string, unknown> = {}): FlowNode[] {
    return [
        { id: "r", type, name: "receiver", wires: [["events"], ["rejected"]], ...fields },
        { id: "events", type: "helper" },
        { id: "rejected", type: "helper" },
    ];
}

describe("receiver nodes in the test helper", function () {
    beforeEach(() => {
        statusLog.length = 0;
    });
    afterEach(async () => {
        await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
        await helper.unload();
    });

    for (const provider of PROVIDERS as unknown as readonly SomeProvider[]) {
        it(`${provider.nodeType} emits each of its samples, signed as the provider signs, with its secret or token`, async () => {
            const secret = provider.demoSecret ?? "node-token";
            const app = await start(receiverFlow(provider.nodeType, { path: "/hook" }), { r: { secret } });
            const events = collect<EventMessage<unknown>>(helper.getNode("events") as Node);
            const rejected = collect<RejectionMessage>(helper.getNode("rejected") as Node);
            const names = sampleNames(provider);
            for (const name of names) {
                const delivery = await sampleDelivery(provider, name, secret);
                const answer = await post(app.url(`/hook${delivery.pathSuffix}`), delivery.body, delivery.headers);
                assert.equal(answer.status, 200, `${name}: ${answer.text}`);
            }
            const wanted = names.filter((name) => !provider.wanted || provider.wanted(provider.samples[name]!(), provider.options({})));
            await until(() => events.length === wanted.length, `${wanted.length} events`);
            assert.deepEqual(events.map((msg) => msg.topic), wanted);
            assert.ok(events.every((msg) => msg.webhook.verified === true && msg.webhook.provider === provider.name));
            // Unsigned (or without its token): refused with 401, one message on output 2.
            const first = await sampleDelivery(provider, names[0], undefined);
            assert.equal((await post(app.url(`/hook${first.pathSuffix}`), first.body, first.headers)).status, 401);
            await until(() => rejected.length === 1, "one rejection");
        });
    }

    it("registers every node type of the list of providers with a secret credential", async () => {
        await helper.load(Object.values(NODE_MODULES), []);
        for (const type of Object.keys(NODE_MODULES)) {
            // The registry the helper loaded the node files into.
            const registered = (helper as unknown as { _redNodes: { getType(type: string): unknown } })._redNodes.getType(type);
            assert.ok(registered, type);
        }
    });

    it("wms-webhook emits a verified event on output 1 and a rejection on output 2", async () => {
        const app = await start(receiverFlow("wms-webhook", { path: "/wms" }), { r: { secret: "mac-secret" } });
        const events = collect<EventMessage<WmsEvent>>(app.node("events"));
        const rejected = collect<RejectionMessage>(app.node("rejected"));

        const WMS_SEED_BODY = wmsSeedBodyNow();
        const ok = await post(app.url("/wms"), WMS_SEED_BODY, { "x-wms-content-mac": wmsSignature(WMS_SEED_BODY, "mac-secret") });
        assert.equal(ok.status, 200);
        const forged = await post(app.url("/wms"), WMS_SEED_BODY, { "x-wms-content-mac": wmsSignature(WMS_SEED_BODY, "guess") });
        assert.equal(forged.status, 401);
        assert.match(String(forged.json.error), /does not match/);
        await until(() => events.length === 1 && rejected.length === 1, "both outputs");

        const [msg] = events;
        assert.deepEqual(msg.payload, JSON.parse(WMS_SEED_BODY));
        assert.equal(msg.topic, "MEASUREMENT_CREATED");
        assert.equal(msg.webhook.provider, "wms");
        assert.equal(msg.webhook.verified, true);
        assert.deepEqual(msg.webhook.missing, []);
        assert.match(msg.webhook.deliveryId, /^[0-9a-f-]{36}$/);
        assert.ok(!Number.isNaN(Date.parse(msg.webhook.receivedAt)));
        assert.equal(msg.req, undefined, "no request object to clone");
        assert.equal(msg.res, undefined);

        const [rejection] = rejected;
        assert.deepEqual(rejection.payload, { provider: "wms", status: 401, reason: forged.json.error });
        assert.ok(!JSON.stringify(rejection).includes("mac-secret"));
        assert.ok(!JSON.stringify(rejection).includes("measurementId"), "no body in a rejection");
    });

    it("wms-webhook tracks sequences per session: repeats answered but not emitted, gaps reported", async () => {
        const app = await start(receiverFlow("wms-webhook", { path: "/wms" }), { r: { secret: "mac-secret" } });
        const events = collect<EventMessage<WmsEvent>>(app.node("events"));
        const send = async (fields: Record<string, unknown>) => {
            const body = wmsBody(fields);
            return (await post(app.url("/wms"), body, { "x-wms-content-mac": wmsSignature(body, "mac-secret") })).status;
        };
        assert.equal(await send({ sequence: 0 }), 200);
        assert.equal(await send({ sequence: 0 }), 200, "a repeat is answered 200");
        assert.equal(await send({ sequence: 3, event: "SCAN_COMPLETED" }), 200);
        assert.equal(await send({ sequence: 1, sessionId: "other-session" }), 200);
        await settle();
        assert.deepEqual(events.map((msg) => [msg.payload.sessionId.slice(0, 5), msg.payload.sequence, msg.webhook.missing]), [
            ["ryuei", 0, []],
            ["ryuei", 3, [1, 2]],
            ["other", 1, [0]],
        ]);
    });

    it("refuses to start without a required secret, with an error status, and listens on nothing", async () => {
        const app = await start(receiverFlow("wms-webhook", { path: "/wms" }));
        assert.deepEqual(statusesOf("r").at(-1), { fill: "red", shape: "ring", text: "webhook.status.no-secret" });
        const body = wmsSeedBodyNow();
        const response = await post(app.url("/wms"), body, { "x-wms-content-mac": wmsSignature(body, "") });
        assert.equal(response.status, 404);
    });

    it("webhook-state refuses a Redis URL with a password in it (the flow file would hold it in plain text)", async () => {
        const flow = [
            { id: "redis", type: "webhook-state", url: "redis://:hunter2@127.0.0.1:6399" },
            { id: "r", type: "wms-webhook", path: "/wms", state: "redis", wires: [[], []] },
        ];
        await start(flow, { r: { secret: "mac-secret" } }, [stateModule]);
        // The helper's log spy: each call's first argument is Node-RED's log entry.
        const log = helper.log() as unknown as { args: [{ level?: number; msg?: unknown }][]; ERROR: number };
        const errors = log.args.filter((args) => args[0]?.level === log.ERROR).map((args) => args[0].msg);
        assert.ok(errors.some((message) => String(message).includes("webhook-state.errors.credentials-in-url")), String(errors));
        assert.deepEqual(statusesOf("r").at(-1), { fill: "red", shape: "ring", text: "webhook.status.no-state" });
    });

    it("shows that it listens, and turns yellow once a delivery was rejected", async () => {
        const app = await start(receiverFlow("synthesis-webhook", { path: "/synthesis" }));
        assert.deepEqual(statusesOf("r").at(-1), { fill: "green", shape: "dot", text: "webhook.status.listening" });
        await post(app.url("/synthesis"), JSON.stringify(synthesisBatch(2)));
        await post(app.url("/synthesis"), "{not json");
        await until(() => statusesOf("r").at(-1)?.fill === "yellow", "a yellow status");
        assert.equal(statusesOf("r").length, 2, "redraws are throttled: one for both deliveries");
    });

    it("synthesis-webhook splits a batch so that a join node rebuilds it, and reports bad elements in one message", async () => {
        const flow = [
            { id: "r", type: "synthesis-webhook", path: "/synthesis", wires: [["events", "joiner"], ["rejected"]] },
            { id: "joiner", type: "join", mode: "auto", wires: [["joined"]] },
            { id: "events", type: "helper" },
            { id: "rejected", type: "helper" },
            { id: "joined", type: "helper" },
        ];
        const app = await start(flow, {}, [join]);
        const events = collect<EventMessage<SynthesisEvent>>(app.node("events"));
        const rejected = collect<RejectionMessage>(app.node("rejected"));
        const joined = collect<{ payload: SynthesisEvent[] }>(app.node("joined"));

        const batch: unknown[] = synthesisBatch(4);
        batch.splice(2, 0, { uuid: 42, action: "create" }); // invalid, at index 2
        const response = await post(app.url("/synthesis"), JSON.stringify(batch));
        assert.equal(response.status, 200);
        assert.deepEqual(response.json, { status: "ok", accepted: 4, duplicates: 0, rejected: 1 });
        await until(() => joined.length === 1 && rejected.length === 1, "the joined batch");

        assert.deepEqual(events.map((msg) => msg.parts?.index), [0, 1, 2, 3]);
        assert.ok(events.every((msg) => msg.parts?.count === 4 && msg.parts.type === "array" && msg.parts.id === msg.webhook.deliveryId));
        assert.ok(events.every((msg) => msg.topic === "create" && msg.webhook.verified === false));
        assert.deepEqual(joined[0].payload, batch.filter((_, index) => index !== 2));
        assert.deepEqual(rejected[0].payload.invalid?.map((entry) => entry.index), [2]);
        assert.equal(rejected[0].payload.invalidCount, 1);
        assert.equal(rejected[0].payload.status, 400);
        assert.match(rejected[0].payload.reason, /uuid/);

        // The same sessions again: duplicates are answered and not emitted.
        const again = await post(app.url("/synthesis"), JSON.stringify(synthesisBatch(4)));
        assert.deepEqual(again.json, { status: "ok", accepted: 0, duplicates: 4, rejected: 0 });
        const empty = await post(app.url("/synthesis"), "[]");
        assert.equal(empty.status, 200);
        await settle();
        assert.equal(events.length, 4);
    });

    it("mentra-webhook answers like the SDK and drops an identical retry", async () => {
        const app = await start(receiverFlow("mentra-webhook", { path: "/mentra" }));
        const events = collect<EventMessage<MentraEvent> & { websocketUrl?: string }>(app.node("events"));
        const rejected = collect<RejectionMessage>(app.node("rejected"));
        const body = JSON.stringify(mentraSession());
        const first = await post(app.url("/mentra/webhook"), body);
        assert.equal(first.status, 200);
        assert.deepEqual(first.json, { status: "success" });
        assert.deepEqual((await post(app.url("/mentra/webhook"), body)).json, { status: "success" });
        const unknown = await post(app.url("/mentra/webhook"), JSON.stringify({ ...mentraSession(), type: "tool_call" }));
        assert.equal(unknown.status, 400);
        assert.equal(unknown.json.status, "error");
        assert.match(String(unknown.json.message), /unknown webhook type/);
        await settle();
        assert.equal(events.length, 1);
        assert.equal(events[0].websocketUrl, "wss://prod.mentra.glass/app-ws", "the SDK 2.x URL, by default");
        assert.equal(events[0].payload.websocketUrl, "wss://prod.mentra.glass/ws/miniapp", "each field as sent");
        assert.equal(events[0].topic, "session_request");
        assert.equal(rejected.length, 1);
    });

    it("meshagent-webhook emits only the events its filter selects, answering all", async () => {
        const app = await start(receiverFlow("meshagent-webhook", { path: "/mesh", events: "storage.*" }), { r: { secret: "mesh-secret" } });
        const events = collect<EventMessage<MeshAgentEvent>>(app.node("events"));
        for (const event of [meshagentEvent(), meshagentEvent("storage.file.updated", { path: "a.md", participant_id: "p" })]) {
            const { body, headers } = await signDelivery("meshagent", event, "mesh-secret");
            const response = await post(app.url("/mesh"), body, headers);
            assert.deepEqual([response.status, response.json], [200, { ok: true }]);
        }
        await settle();
        assert.deepEqual(events.map((msg) => msg.topic), ["storage.file.updated"]);
        assert.deepEqual(events[0].payload, { event: "storage.file.updated", data: { path: "a.md", participant_id: "p" } });
    });

    it("gives a second node on the same path a clear error status; the first keeps the path", async () => {
        const flow = [
            { id: "a", type: "synthesis-webhook", path: "/same", wires: [["events"], []] },
            { id: "b", type: "synthesis-webhook", path: "same/", wires: [["other"], []] },
            { id: "events", type: "helper" },
            { id: "other", type: "helper" },
        ];
        const app = await start(flow);
        assert.deepEqual(statusesOf("b").at(-1), { fill: "red", shape: "ring", text: "webhook.status.path-in-use" });
        assert.equal(statusesOf("a").at(-1)?.fill, "green");
        const events = collect<EventMessage<SynthesisEvent>>(app.node("events"));
        const other = collect<EventMessage<SynthesisEvent>>(app.node("other"));
        assert.equal((await post(app.url("/same"), JSON.stringify(synthesisBatch(1)))).status, 200);
        await settle();
        assert.equal(events.length, 1);
        assert.equal(other.length, 0);
    });

    it("answers 503 while a closed node's path waits for its successor, never 2xx", async () => {
        const app = await start(receiverFlow("synthesis-webhook", { path: "/synthesis" }));
        await app.node("r").close(false);
        const response = await post(app.url("/synthesis"), JSON.stringify(synthesisBatch(1)));
        assert.equal(response.status, 503);
        assert.equal(response.headers["retry-after"], "1");
    });
});
