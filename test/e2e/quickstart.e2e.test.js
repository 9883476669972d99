"use strict";
// The README's quick start: `npm start` deploys the examples and prints a curl per webhook
// that must be accepted as it is printed.
const assert = require("node:assert/strict");
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { freePort, request, PACKAGE_ROOT } = require("../support/node-red-process");

describe("quick start (npm start)", function () {
    this.timeout(60000);
    let child;
    let output = "";
    let userDir;
    let port;

    before(async () => {
        port = await freePort();
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-quickstart-"));
        child = spawn(process.execPath, [path.join(PACKAGE_ROOT, "scripts", "start.js")], {
            env: { ...process.env, PORT: String(port), NODE_RED_USER_DIR: userDir },
            stdio: ["ignore", "pipe", "pipe"],
        });
        child.stdout.on("data", (chunk) => (output += chunk));
        child.stderr.on("data", (chunk) => (output += chunk));
        const deadline = Date.now() + 45000;
        while (!output.includes("Ctrl-C stops Node-RED")) {
            if (Date.now() > deadline || child.exitCode !== null) throw new Error(`npm start did not finish:\n${output}`);
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
    });

    after(async () => {
        if (child && child.exitCode === null) {
            child.kill("SIGINT");
            await new Promise((resolve) => child.on("exit", resolve));
        }
        fs.rmSync(userDir, { recursive: true, force: true });
    });

    it("deploys every example and prints a URL and a signed curl for each receiver", async () => {
        const curls = output.split("\n").filter((line) => line.trim().startsWith("curl "));
        const examples = fs.readdirSync(path.join(PACKAGE_ROOT, "examples")).flatMap((file) => JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "examples", file), "utf8")));
        const receivers = examples.filter((node) => /-webhook$/.test(node.type));
        assert.equal(curls.length, receivers.length);
        for (const type of ["mentra-webhook", "wms-webhook", "synthesis-webhook", "meshagent-webhook"]) {
            assert.ok(receivers.some((node) => node.type === type), `the examples use ${type}`);
        }
        const { json } = await request(`http://127.0.0.1:${port}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
        assert.equal(json.flows.filter((node) => /-webhook$/.test(node.type)).length, receivers.length);
        assert.doesNotMatch(output, /\[error\]/);
    });

    it("each printed command-line signer command is accepted (200) as printed", () => {
        const commands = output.split("\n").filter((line) => line.trim().startsWith("npx verified-webhooks send "));
        assert.equal(commands.length, output.split("\n").filter((line) => line.trim().startsWith("curl ")).length);
        for (const command of commands) {
            const answer = execFileSync("bash", ["-c", command.trim()], { encoding: "utf8", cwd: PACKAGE_ROOT });
            assert.match(answer, /^200 /, command);
        }
    });

    it("each printed curl is accepted (200) as printed", () => {
        const curls = output.split("\n").filter((line) => line.trim().startsWith("curl "));
        for (const curl of curls) {
            // Each curl sends a sample of its own; the signer above sent others (or the same bytes: still 200).
            const answer = execFileSync("bash", ["-c", `${curl.trim()} --silent --output /dev/null --write-out '%{http_code}'`], { encoding: "utf8" });
            assert.equal(answer, "200", curl);
        }
        assert.doesNotMatch(output, /\[error\]|\[warn\] \[/);
    });
});
