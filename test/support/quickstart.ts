"use strict";
// The README's `npm start` (scripts/start.js), run as a user runs it, on a free port with a
// fresh user directory; for a mocha suite.
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { freePort, sleep, PACKAGE_ROOT } = require("./node-red-process");

/** Starts `npm start`'s script before the suite's tests, stops it after; `output` is what it printed. */
function quickStartForSuite() {
    const context = { output: "" };
    before(async () => {
        context.port = await freePort();
        context.userDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-quickstart-"));
        context.child = spawn(process.execPath, [path.join(PACKAGE_ROOT, "scripts", "start.js")], {
            env: { ...process.env, PORT: String(context.port), NODE_RED_USER_DIR: context.userDir },
            stdio: ["ignore", "pipe", "pipe"],
        });
        context.child.stdout.on("data", (chunk) => (context.output += chunk));
        context.child.stderr.on("data", (chunk) => (context.output += chunk));
        const deadline = Date.now() + 45000;
        while (!context.output.includes("Ctrl-C stops Node-RED")) {
            if (Date.now() > deadline || context.child.exitCode !== null) throw new Error(`npm start did not finish:\n${context.output}`);
            await sleep(100);
        }
        context.url = `http://127.0.0.1:${context.port}`;
    });
    after(async () => {
        const { child } = context;
        if (child && child.exitCode === null) {
            child.kill("SIGINT");
            await new Promise((resolve) => child.on("exit", resolve));
        }
        if (context.userDir) fs.rmSync(context.userDir, { recursive: true, force: true });
    });
    return context;
}

module.exports = { quickStartForSuite };
