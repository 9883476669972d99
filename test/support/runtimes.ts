// The Node-RED releases and Node.js binaries the published package is tested on, beyond the
// devDependency Node-RED and the Node running the tests. Each is installed from the npm
// registry once into a cache directory (the npm package `node` ships Node binaries), so a
// second run needs no network.
import { execFileSync } from "node:child_process";
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");

const CACHE = process.env.VW_RUNTIME_CACHE || path.join(os.homedir(), ".cache", "node-red-contrib-verified-webhooks-tests");

/** The majors this package declares and is tested on: Node-RED 4.1 on Node 20, Node-RED 5 on Node 22. */
const NODE_RED_5 = "5.0.7";
const NODE_22 = "22";

function npm(args: readonly string[], cwd: string): void {
    execFileSync("npm", [...args, "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error"], {
        cwd,
        stdio: ["ignore", "ignore", "inherit"],
        env: { ...process.env, npm_config_engine_strict: "false" },
    });
}

/** Installs `spec` (npm's syntax) into its own cache folder once; returns that folder. */
function installed(folderName: string, spec: string): string {
    const dir = path.join(CACHE, folderName);
    const done = path.join(dir, ".installed");
    if (!fs.existsSync(done)) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `runtime-${folderName}`, private: true }));
        npm(["install", "--omit=dev", spec], dir);
        fs.writeFileSync(done, spec);
    }
    return dir;
}

/** The node-red package directory of Node-RED `version`. */
function nodeRedRelease(version: string = NODE_RED_5): string {
    return path.join(installed(`node-red-${version}`, `node-red@${version}`), "node_modules", "node-red");
}

/** A Node.js binary of `major`: this process's own when it is that major. */
function nodeBinary(major: string = NODE_22): string {
    if (process.versions.node.split(".")[0] === String(major)) return process.execPath;
    const dir = installed(`node-${major}`, `node@${major}`);
    return execFileSync(path.join(dir, "node_modules", ".bin", "node"), ["-p", "process.execPath"], { encoding: "utf8" }).trim();
}

export { nodeRedRelease, nodeBinary, NODE_RED_5, npm };
