// The README's quick start: `npm start` deploys the examples and prints a curl per webhook
// that must be accepted as it is printed.
import assert = require("node:assert/strict");
import { execFileSync } from "node:child_process";
import fs = require("node:fs");
import path = require("node:path");
import { request, PACKAGE_ROOT, type FlowNode } from "../support/node-red-process.js";
import WebSocket = require("ws");
import { quickStartForSuite, restartQuickStart } from "../support/quickstart.js";

/** The debug sidebar's messages, as the editor receives them over comms: the debug node's id and what it shows. */
function watchDebugSidebar(url: string): { messages: { id: string; topic?: string; msg: string }[]; close(): void; ready: Promise<void> } {
    const messages: { id: string; topic?: string; msg: string }[] = [];
    const comms = new WebSocket(`${url.replace(/^http/, "ws")}/comms`);
    const ready = new Promise<void>((resolve, reject) => {
        comms.on("open", () => {
            comms.send(JSON.stringify({ subscribe: "debug" }));
            resolve();
        });
        comms.on("error", reject);
    });
    comms.on("message", (data: WebSocket.RawData) => {
        for (const frame of [JSON.parse(data.toString()) as unknown].flat() as { topic?: string; data?: { id: string; topic?: string; msg: string } }[]) {
            if (frame.topic === "debug" && frame.data) messages.push(frame.data);
        }
    });
    return { messages, close: () => comms.terminate(), ready };
}

const commandLines = (output: string) => output.split("\n").filter((line) => /^ {2}(\S+=\S+ )?npx verified-webhooks send /.test(line));

describe("quick start (npm start)", function () {
    this.timeout(60000);
    const started = quickStartForSuite();

    it("deploys every example and prints a URL and a signed curl for each receiver", async () => {
        const curls = started.output.split("\n").filter((line) => line.trim().startsWith("curl "));
        const examples = fs.readdirSync(path.join(PACKAGE_ROOT, "examples")).flatMap((file) => JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "examples", file), "utf8")) as FlowNode[]);
        const receivers = examples.filter((node) => /-webhook$/.test(node.type));
        assert.equal(curls.length, receivers.length);
        for (const type of ["mentra-webhook", "wms-webhook", "synthesis-webhook", "meshagent-webhook"]) {
            assert.ok(receivers.some((node) => node.type === type), `the examples use ${type}`);
        }
        const { json } = await request<{ flows: FlowNode[] }>(`${started.url}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
        assert.equal(json.flows.filter((node) => /-webhook$/.test(node.type)).length, receivers.length);
        assert.doesNotMatch(started.output, /\[error\]/);
    });

    it("each printed command-line signer command is accepted (200) as printed, and shows something in the debug sidebar", async () => {
        const commands = commandLines(started.output);
        assert.equal(commands.length, started.output.split("\n").filter((line) => line.trim().startsWith("curl ")).length);
        const { json } = await request<{ flows: FlowNode[] }>(`${started.url}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
        const sidebar = watchDebugSidebar(started.url);
        await sidebar.ready;
        try {
            for (const command of commands) {
                const url = /(http:\/\/\S+)/.exec(command)![1]!;
                const receiver = json.flows.find((node) => /-webhook$/.test(node.type) && url === `${started.url}${String(node.path)}`)!;
                // The debug nodes of the receiver's tab, but not those of its output 2 (what was refused).
                const rejectedIds = new Set((receiver.wires as string[][])[1]);
                const debugIds = new Set(json.flows.filter((node) => node.type === "debug" && node.z === receiver.z && !rejectedIds.has(node.id)).map((node) => node.id));
                const before = sidebar.messages.length;
                // Twice: each run is a new event, so the second shows in the sidebar too.
                for (let run = 0; run < 2; run++) {
                    const seen = sidebar.messages.length;
                    const answer = execFileSync("bash", ["-c", command.trim()], { encoding: "utf8", cwd: PACKAGE_ROOT });
                    assert.match(answer, /^200 /, command);
                    assert.match(answer, /\naccepted \(delivery [0-9a-f]{8}\): a new event/, `${command}\n${answer}`);
                    const deadline = Date.now() + 5000;
                    while (!sidebar.messages.slice(seen).some((message) => debugIds.has(message.id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
                    assert.ok(sidebar.messages.slice(seen).some((message) => debugIds.has(message.id)), `run ${run + 1} of ${command} shows nothing in the debug sidebar`);
                }
                assert.ok(sidebar.messages.length > before);
            }
        } finally {
            sidebar.close();
        }
    });

    it("a repeat on purpose (--repeat) is answered 200 and said to be a duplicate", () => {
        const command = commandLines(started.output).find((line) => line.includes(" send wms "))!;
        const answer = execFileSync("bash", ["-c", `${command.trim()} --repeat`], { encoding: "utf8", cwd: PACKAGE_ROOT });
        const lines = answer.trim().split("\n");
        assert.match(lines[0]!, /^200 /);
        assert.match(lines[1]!, /^accepted/);
        assert.match(lines[2]!, /^200 /);
        assert.match(lines[3]!, /^duplicate \(delivery [0-9a-f]{8}\): the receiver had this event already; nothing reached the flow$/);
    });

    it("says when a printed curl line stops working, for the providers that check the time", () => {
        const lines = started.output.split("\n");
        const wmsCurl = lines.findIndex((line) => line.trim().startsWith("curl ") && line.includes("x-wms-content-mac"));
        assert.match(lines[wmsCurl + 1]!, /signed at .* and is refused after .*the npx line sends a new event each time/);
    });

    it("each printed curl is accepted (200) as printed", () => {
        const curls = started.output.split("\n").filter((line) => line.trim().startsWith("curl "));
        for (const curl of curls) {
            // Each curl sends a sample of its own; the signer above sent others (or the same bytes: still 200).
            const answer = execFileSync("bash", ["-c", `${curl.trim()} --silent --output /dev/null --write-out '%{http_code}'`], { encoding: "utf8" });
            assert.equal(answer, "200", curl);
        }
        assert.doesNotMatch(started.output, /\[error\]/);
        // The one warning meant: the live-captions example's app has no API key yet, so a session it accepts is not joined, and it says so.
        const warnings = started.output.split("\n").filter((line) => /\[warn\] \[/.test(line));
        assert.deepEqual(warnings.filter((line) => !/\[mentra-webhook:captions app\] A session was not joined: Mentra app: the API key is missing/.test(line)), []);
    });

    it("the examples handle every event the quick start sent: none stays pending, none fails, nothing is re-emitted by a deploy", async () => {
        type Summary = { deliveryId: string; provider: string; states: string[]; attempt?: number };
        const logged = async () => (await request<{ deliveries: Summary[] }>(`${started.url}/verified-webhooks/deliveries?status=accepted&limit=1000`)).json.deliveries;
        const deadline = Date.now() + 10000;
        let deliveries = await logged();
        while (deliveries.some((delivery) => delivery.states.includes("pending")) && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            deliveries = await logged();
        }
        assert.ok(deliveries.length >= 6, `the quick start's deliveries are logged: ${deliveries.length}`);
        for (const delivery of deliveries) assert.ok(delivery.states.every((state) => state === "handled"), `${delivery.provider}: ${JSON.stringify(delivery.states)}`);

        // A full deploy, as the editor's Deploy button does: with SynthesisVR and MeshAgent keeping deliveries, nothing handled comes back.
        const { json } = await request<{ flows: FlowNode[]; rev: string }>(`${started.url}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
        const deploy = await request(`${started.url}/flows`, {
            method: "POST",
            headers: { "content-type": "application/json", "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full" },
            body: JSON.stringify({ flows: json.flows, rev: json.rev }),
        });
        assert.equal(deploy.status, 200, deploy.text);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const after = await logged();
        assert.equal(after.length, deliveries.length, "no delivery was added");
        assert.ok(after.every((delivery) => delivery.attempt === undefined && delivery.states.every((state) => state === "handled")), JSON.stringify(after.map((delivery) => [delivery.provider, delivery.states, delivery.attempt])));
    });

    it("after a restart, prints signing commands only for the example nodes: a user's own node gets a placeholder for its secret", async () => {
        const { json } = await request<{ flows: FlowNode[]; rev: string }>(`${started.url}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
        const own: FlowNode = { id: "users-own-wms", type: "wms-webhook", z: json.flows.find((node) => node.type === "tab")!.id, name: "my WMS", path: "/my-wms", x: 100, y: 400, wires: [[], []] };
        const deploy = await request(`${started.url}/flows`, {
            method: "POST",
            headers: { "content-type": "application/json", "Node-RED-API-Version": "v2" },
            body: JSON.stringify({ flows: [...json.flows, { ...own, credentials: { secret: "the user's own MAC secret" } }], rev: json.rev }),
        });
        assert.equal(deploy.status, 200, deploy.text);
        await restartQuickStart(started);
        const lines = started.output.split("\n");
        const at = lines.findIndex((line) => line.startsWith("my WMS (wms-webhook): "));
        assert.ok(at >= 0, started.output);
        assert.equal(lines[at + 1], `  npx verified-webhooks send wms ${started.url}/my-wms --secret-env YOUR_SECRET --event MEASUREMENT_CREATED   # YOUR_SECRET: the node's secret or token`);
        assert.ok(!lines[at + 2]!.trim().startsWith("curl"), "no curl signed with a secret the node does not have");
        assert.doesNotMatch(lines.slice(at, at + 3).join("\n"), /demo-wms-mac-secret/);
        // The examples' commands still sign with the demo secrets, and still work.
        for (const command of commandLines(started.output).filter((line) => line.includes("VW_SECRET="))) {
            assert.match(execFileSync("bash", ["-c", command.trim()], { encoding: "utf8", cwd: PACKAGE_ROOT }), /^200 /, command);
        }
    });
});
