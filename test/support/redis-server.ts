// Debian's redis-server on a free loopback port, for the tests of what several instances share.
import { spawn, type ChildProcess } from "node:child_process";
import { freePort, sleep } from "./node-red-process.js";

const REDIS_SERVER = process.env.REDIS_SERVER || "redis-server";

export class RedisServer {
    port = 0;
    child: ChildProcess | undefined;

    async start(port?: number): Promise<this> {
        this.port = port ?? (this.port || (await freePort()));
        const child = spawn(REDIS_SERVER, ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
        this.child = child;
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
        const deadline = Date.now() + 10000;
        while (!/Ready to accept connections/.test(output)) {
            if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start: ${output}`);
            await sleep(20);
        }
        return this;
    }

    async stop(): Promise<void> {
        const child = this.child;
        if (!child || child.exitCode !== null) return;
        const exited = new Promise((resolve) => child.on("exit", resolve));
        child.kill("SIGKILL");
        await exited;
    }

    /** Sends the server a signal (SIGSTOP: it hangs; SIGCONT: it goes on). */
    signal(signal: NodeJS.Signals): void {
        this.child?.kill(signal);
    }
}
