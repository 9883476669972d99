// The command-line signer (verified-webhooks) run as a user runs it: node dist/bin/verified-webhooks.js.
import { execFile } from "node:child_process";
import path = require("node:path");
import { DIST } from "./paths.js";

const CLI = path.join(DIST, "bin", "verified-webhooks.js");

export interface CliRun {
    /** The exit status (0: success). */
    code: number | string | null | undefined;
    stdout: string;
    stderr: string;
}

export function runCli(args: string[], { input, env }: { input?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
    return new Promise((resolve) => {
        const child = execFile(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, ...env } }, (error, stdout, stderr) => {
            resolve({ code: error ? error.code : 0, stdout, stderr });
        });
        child.stdin?.end(input);
    });
}
