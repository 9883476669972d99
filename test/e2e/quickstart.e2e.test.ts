// The README's quick start: `npm start` deploys the examples and prints a curl per webhook
// that must be accepted as it is printed.
import assert = require("node:assert/strict");
import { execFileSync } from "node:child_process";
import fs = require("node:fs");
import path = require("node:path");
import { request, PACKAGE_ROOT, type FlowNode } from "../support/node-red-process.js";
import { quickStartForSuite } from "../support/quickstart.js";

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

    it("each printed command-line signer command is accepted (200) as printed", () => {
        const commands = started.output.split("\n").filter((line) => / ?npx verified-webhooks send /.test(line) && !line.trim().startsWith("curl"));
        assert.equal(commands.length, started.output.split("\n").filter((line) => line.trim().startsWith("curl ")).length);
        for (const command of commands) {
            const answer = execFileSync("bash", ["-c", command.trim()], { encoding: "utf8", cwd: PACKAGE_ROOT });
            assert.match(answer, /^200 /, command);
        }
    });

    it("each printed curl is accepted (200) as printed", () => {
        const curls = started.output.split("\n").filter((line) => line.trim().startsWith("curl "));
        for (const curl of curls) {
            // Each curl sends a sample of its own; the signer above sent others (or the same bytes: still 200).
            const answer = execFileSync("bash", ["-c", `${curl.trim()} --silent --output /dev/null --write-out '%{http_code}'`], { encoding: "utf8" });
            assert.equal(answer, "200", curl);
        }
        assert.doesNotMatch(started.output, /\[error\]|\[warn\] \[/);
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
});
