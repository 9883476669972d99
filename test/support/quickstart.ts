// The README's `npm start` (scripts/start.js), run as a user runs it, on a free port with a
// fresh user directory; for a mocha suite.
import { spawn, type ChildProcess } from "node:child_process";
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import { freePort, sleep, PACKAGE_ROOT } from "./node-red-process.js";

/** Starts `npm start`'s script before the suite's tests, stops it after; `output` is what it printed. */
export interface QuickStart {
    /** What npm start printed so far. */
    output: string;
    port: number;
    userDir: string;
    url: string;
    child: ChildProcess | undefined;
}

/** Runs scripts/start.js on `context`'s port and user directory until it has printed its commands. */
async function start(context: QuickStart): Promise<void> {
    context.output = "";
    const child = spawn(process.execPath, [path.join(PACKAGE_ROOT, "scripts", "start.js")], {
        env: { ...process.env, PORT: String(context.port), NODE_RED_USER_DIR: context.userDir },
        stdio: ["ignore", "pipe", "pipe"],
    });
    context.child = child;
    child.stdout.on("data", (chunk: Buffer) => (context.output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (context.output += chunk.toString("utf8")));
    const deadline = Date.now() + 45000;
    while (!context.output.includes("Ctrl-C stops Node-RED")) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`npm start did not finish:\n${context.output}`);
        await sleep(100);
    }
    context.url = `http://127.0.0.1:${context.port}`;
}

async function stop(context: QuickStart): Promise<void> {
    const { child } = context;
    if (child && child.exitCode === null) {
        child.kill("SIGINT");
        await new Promise((resolve) => child.on("exit", resolve));
    }
}

/** Stops `npm start` and runs it again on the same user directory, as a user does the next day. */
export async function restartQuickStart(context: QuickStart): Promise<void> {
    await stop(context);
    await start(context);
}

function quickStartForSuite(): QuickStart {
    const context: QuickStart = { output: "", port: 0, userDir: "", url: "", child: undefined };
    before(async () => {
        context.port = await freePort();
        context.userDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-quickstart-"));
        await start(context);
    });
    after(async () => {
        await stop(context);
        if (context.userDir) fs.rmSync(context.userDir, { recursive: true, force: true });
    });
    return context;
}

export { quickStartForSuite };
