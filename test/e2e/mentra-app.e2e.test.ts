// A Mentra app built as a flow, end to end: a real Node-RED with its default settings, the
// fake cloud in this process. From the webhook to the init, transcription to the glasses'
// display through a change node, a full deploy in the middle, and a shutdown that leaves the
// cloud free to start the app again (no ownership_release).
import assert = require("node:assert/strict");
import { NodeRedProcess, type FlowNode } from "../support/node-red-process.js";
import { FakeMentraCloud } from "../support/fake-mentra-cloud.js";

const APP = { packageName: "com.example.captions", apiKey: "e2e-captions-api-key" };
const SESSION = "jane.doe@example.com-com.example.captions";

function captionsFlow(name = "captions"): FlowNode[] {
    return [
        { id: "tab", type: "tab", label: "Live captions" },
        { id: "app", type: "mentra-app", name, packageName: APP.packageName, credentials: { apiKey: APP.apiKey } },
        { id: "webhook", type: "mentra-webhook", z: "tab", path: "/captions", allowedHosts: "127.0.0.1", allowInsecureWs: true, app: "app", x: 100, y: 100, wires: [[], []] },
        { id: "captions-in", type: "mentra-in", z: "tab", app: "app", stream: "transcription", language: "en-US", x: 100, y: 200, wires: [["text-only"], []] },
        { id: "text-only", type: "change", z: "tab", rules: [{ t: "set", p: "payload", pt: "msg", to: "payload.text", tot: "msg" }], x: 300, y: 200, wires: [["glasses"]] },
        { id: "glasses", type: "mentra-out", z: "tab", app: "app", layout: "text_wall", view: "main", x: 500, y: 200, wires: [] },
    ];
}

const sessionRequest = (url: string) =>
    JSON.stringify({ type: "session_request", sessionId: SESSION, userId: "jane.doe@example.com", timestamp: new Date().toISOString(), mentraOSWebsocketUrl: url, augmentOSWebsocketUrl: url });

describe("end to end: a Mentra app as a flow", function () {
    this.timeout(60_000);
    let cloud: FakeMentraCloud;
    let nodeRed: NodeRedProcess;
    before(async () => {
        cloud = await FakeMentraCloud.start(APP);
        nodeRed = await new NodeRedProcess().start();
        await nodeRed.deploy(captionsFlow());
    });
    after(async () => {
        await nodeRed?.stop();
        await cloud?.stop();
    });

    it("joins the session within 1 s of the webhook and shows what the wearer hears on the glasses", async () => {
        const posted = Date.now();
        assert.equal((await nodeRed.post("/captions/webhook", sessionRequest(cloud.url))).status, 200);
        const [init] = await cloud.waitFor("tpa_connection_init", 1, 1000);
        assert.ok(Date.now() - posted < 1000, `${Date.now() - posted} ms`);
        assert.equal(init!.frame.sessionId, SESSION);
        assert.deepEqual((await cloud.waitFor("subscription_update"))[0]!.frame.subscriptions, ["transcription:en-US"]);
        cloud.sendData(SESSION, "transcription:en-US", { type: "transcription", text: "hello from a real Node-RED", isFinal: true, startTime: 0, endTime: 800 });
        const [display] = await cloud.waitFor("display_event");
        assert.deepEqual(display!.frame.layout, { layoutType: "text_wall", text: "hello from a real Node-RED" });
    });

    it("keeps the session through a full deploy, and the redeployed nodes go on showing", async () => {
        await nodeRed.deploy(captionsFlow("captions, redeployed"), "full");
        cloud.sendData(SESSION, "transcription:en-US", { type: "transcription", text: "after the deploy", isFinal: true, startTime: 0, endTime: 800 });
        await cloud.waitFor("display_event", 2);
        assert.deepEqual(cloud.received("display_event")[1]!.frame.layout, { layoutType: "text_wall", text: "after the deploy" });
        assert.equal(cloud.connections, 1, "one socket all along");
        assert.doesNotMatch(nodeRed.log, /\[error\]|\[warn\] \[/);
    });

    it("closes the session's socket when Node-RED stops, without releasing it: the cloud may start the app again", async () => {
        await nodeRed.stop();
        await cloud.until(() => cloud.closes.length === 1, "the socket's close");
        assert.equal(cloud.closes[0]!.code, 1001);
        assert.deepEqual(cloud.received("ownership_release"), [], "no clean_shutdown: the cloud resurrects the app");
    });
});
