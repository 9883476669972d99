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
});
