// Starts a real Node-RED process (the devDependency, default settings unless told
// otherwise) with this package installed in a fresh user directory, deploys flows through
// the admin API, and collects what the flows emit through a small HTTP collector.
import { spawn, type ChildProcess } from "node:child_process";
import fs = require("node:fs");
import http = require("node:http");
import net = require("node:net");
import os = require("node:os");
import path = require("node:path");

import WebSocket = require("ws");
import { capture, watchSecret } from "./leak-watch.js";
import { npm } from "./runtimes.js";
import { PACKAGE_ROOT } from "./paths.js";
import type { EventMessage, RejectionMessage } from "../../nodes/receive/pipeline.js";

const PACKAGE_NAME = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { name: string }).name;

/** A flow node as the admin API takes it: an id, a type, and whatever the node's type reads. */
export interface FlowNode {
    id: string;
    type: string;
    z?: string;
    wires?: string[][];
    credentials?: Record<string, string>;
    [property: string]: unknown;
}

/** Parsed JSON as the tests read it: an object whose fields each test narrows as it asserts. */
export type JsonObject = Record<string, unknown>;

export interface HttpResponse<Json = JsonObject> {
    status: number;
    headers: http.IncomingHttpHeaders;
    text: string;
    /** The body parsed, or undefined when it is not JSON. */
    json: Json;
}

export interface RequestOptions {
    method?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: string | Buffer;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

/** Sends an HTTP request; resolves with status, headers and body text. */
function request<Json = JsonObject>(url: string, { method = "GET", headers = {}, body }: RequestOptions = {}): Promise<HttpResponse<Json>> {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8");
                let json: Json;
                try {
                    json = JSON.parse(text) as Json;
                } catch {
                    json = undefined as Json;
                }
                resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
            });
        });
        req.on("error", reject);
        if (body !== undefined) req.write(body);
        req.end();
    });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An HTTP server the flows post their messages to: /<label> → a list per label.
 * `waitFor(label, count)` resolves when that many arrived.
 */
class Collector {
    private readonly received = new Map<string, unknown[]>();
    private waiters: (() => boolean)[] = [];
    readonly server: http.Server;
    url = "";

    constructor() {
        this.server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (chunk: Buffer) => chunks.push(chunk));
            req.on("end", () => {
                const label = decodeURIComponent((req.url ?? "/").slice(1));
                const list = this.received.get(label) ?? [];
                const text = Buffer.concat(chunks).toString("utf8");
                if (label.endsWith(":2")) capture(`output 2 (${label})`, text);
                list.push(JSON.parse(text) as unknown);
                this.received.set(label, list);
                res.end("ok");
                this.waiters = this.waiters.filter((waiter) => !waiter());
            });
        });
    }

    async start(): Promise<this> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
        return this;
    }

    stop(): Promise<void> {
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    /** What arrived under `label`; `Message` is what the tapped output sends (default: any event message). */
    list<Message = Tapped>(label: string): Message[] {
        return (this.received.get(label) ?? []) as Message[];
    }

    clear(): void {
        this.received.clear();
    }

    waitFor<Message = Tapped>(label: string, count: number, timeoutMs = 5000): Promise<Message[]> {
        return new Promise((resolve, reject) => {
            const check = () => {
                if (this.list(label).length >= count) {
                    clearTimeout(timer);
                    resolve(this.list<Message>(label));
                    return true;
                }
                return false;
            };
            const timer = setTimeout(() => {
                this.waiters = this.waiters.filter((waiter) => waiter !== check);
                reject(new Error(`waited for ${count} message(s) on ${label}, got ${this.list(label).length}`));
            }, timeoutMs);
            if (!check()) this.waiters.push(check);
        });
    }

    /** Waits a little, then returns what arrived: for asserting that nothing (more) came. */
    async settle<Message = Tapped>(label: string, ms = 300): Promise<Message[]> {
        await sleep(ms);
        return this.list<Message>(label);
    }

    /**
     * Nodes that forward every message on `wires` outputs of a receiver to the collector,
     * under the labels `${label}:1` and `${label}:2`. Returns [nodes, wiresForReceiver].
     */
    tap(label: string, tab: string, x = 400, y = 100): [FlowNode[], string[][]] {
        const nodes: FlowNode[] = [];
        const wires: string[][] = [];
        for (const output of [1, 2]) {
            const fn = `${label}-fn${output}`;
            const post = `${label}-post${output}`;
            nodes.push(
                {
                    id: fn,
                    type: "function",
                    z: tab,
                    name: `${label} out ${output}`,
                    func:
                        "msg.payload = { payload: msg.payload, topic: msg.topic, webhook: msg.webhook, parts: msg.parts, websocketUrl: msg.websocketUrl," +
                        " keys: Object.keys(msg) };\n" +
                        `msg.url = ${JSON.stringify(`${this.url}/${encodeURIComponent(`${label}:${output}`)}`)};\n` +
                        "msg.headers = { 'content-type': 'application/json' };\nreturn msg;",
                    outputs: 1,
                    x,
                    y: y + output * 40,
                    wires: [[post]],
                },
                { id: post, type: "http request", z: tab, method: "POST", ret: "txt", x: x + 200, y: y + output * 40, wires: [[]] },
            );
            wires.push([fn]);
        }
        return [nodes, wires];
    }

    /**
     * A tab holding `receivers`, each wired to the collector under its id (with `labelPrefix`
     * before it): the flow most end-to-end suites deploy.
     */
    tappedTab(tab: string, receivers: readonly FlowNode[], labelPrefix = ""): FlowNode[] {
        const flows: FlowNode[] = [{ id: tab, type: "tab", label: tab }];
        receivers.forEach((receiver, index) => {
            const [tapNodes, wires] = this.tap(`${labelPrefix}${receiver.id}`, tab, 400, index * 120);
            flows.push({ z: tab, x: 150, y: index * 120 + 60, wires, ...receiver }, ...tapNodes);
        });
        return flows;
    }
}

export interface NodeRedOptions {
    /** Contents of a settings.js; default: Node-RED's own defaults. */
    settings?: string;
    /** The node executable (Node-RED 5 needs Node 22). */
    nodeBinary?: string;
    /** The node-red package to run. */
    nodeRedDir?: string;
    /** A script started instead of red.js (an application embedding Node-RED). */
    launcher?: string;
    /** Options for the node executable (e.g. --cpu-prof). */
    nodeArgs?: string[];
    /** Other node modules to install: name → directory. */
    extraModules?: Record<string, string>;
    /** The package to install (a directory, linked). */
    packageDir?: string;
    /** Or: a packed tarball, installed with npm as the palette manager does. */
    tarball?: string;
    /** httpAdminRoot the settings set, for URLs. */
    adminRoot?: string;
    /** httpNodeRoot the settings set, for URLs. */
    nodeRoot?: string;
    /** A user directory to start in again (after kill()): kept by stop(). Default: a fresh one, removed by stop(). */
    userDir?: string;
}

class NodeRedProcess {
    readonly options: NodeRedOptions;
    readonly adminRoot: string | undefined;
    readonly nodeRoot: string | undefined;
    readonly logs: string[] = [];
    userDir = "";
    port = 0;
    child: ChildProcess | undefined;
    exited: Promise<unknown> = Promise.resolve();
    private comms: WebSocket | undefined;

    constructor(options: NodeRedOptions = {}) {
        this.options = options;
        this.adminRoot = options.adminRoot;
        this.nodeRoot = options.nodeRoot;
    }

    /** The running process (after start()). */
    get process(): ChildProcess {
        if (!this.child) throw new Error("Node-RED was not started");
        return this.child;
    }

    async start(): Promise<this> {
        if (this.options.userDir) {
            this.userDir = this.options.userDir;
            await this.launch();
            return this;
        }
        this.userDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-node-red-"));
        const modules = path.join(this.userDir, "node_modules");
        fs.writeFileSync(path.join(this.userDir, "package.json"), JSON.stringify({ name: "node-red-project", private: true, dependencies: {} }));
        if (this.options.tarball) {
            // As the palette manager installs a module: npm install in the user directory.
            npm(["install", "--omit=dev", "--save", "--save-prefix=~", "--engine-strict", "--prefer-offline", this.options.tarball], this.userDir);
        } else {
            fs.mkdirSync(modules);
            fs.symlinkSync(this.options.packageDir ?? PACKAGE_ROOT, path.join(modules, PACKAGE_NAME), "dir");
            fs.writeFileSync(
                path.join(this.userDir, "package.json"),
                JSON.stringify({ name: "node-red-project", private: true, dependencies: { [PACKAGE_NAME]: "*" } }),
            );
        }
        for (const [name, dir] of Object.entries(this.options.extraModules ?? {})) fs.symlinkSync(dir, path.join(modules, name), "dir");
        if (this.options.settings) fs.writeFileSync(path.join(this.userDir, "settings.js"), this.options.settings);
        await this.launch();
        return this;
    }

    /** Starts Node-RED in the prepared user directory and waits until its flows run. */
    private async launch(): Promise<void> {
        this.logs.length = 0;
        this.port = await freePort();
        const nodeRedDir = this.options.nodeRedDir ?? path.dirname(require.resolve("node-red/package.json"));
        const launcher = this.options.launcher ?? path.join(nodeRedDir, "red.js");
        const child = spawn(
            this.options.nodeBinary ?? process.execPath,
            [...(this.options.nodeArgs ?? []), launcher, "--userDir", this.userDir, "--port", String(this.port)],
            { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_RED_ENABLE_PROJECTS: "" } },
        );
        this.child = child;
        const capture = (chunk: Buffer) => this.logs.push(chunk.toString("utf8"));
        child.stdout.on("data", capture);
        child.stderr.on("data", capture);
        this.exited = new Promise((resolve) => child.on("exit", resolve));
        await this.waitUntilReady();
        this.watchStatuses();
    }

    /** kill -9: no shutdown at all, as a crash or an out-of-memory kill. The user directory stays. */
    async kill(): Promise<void> {
        const child = this.child;
        if (!child || child.exitCode !== null) return;
        this.comms?.terminate();
        child.kill("SIGKILL");
        await this.exited;
    }

    /** Every node status Node-RED shows, as the editor receives it. */
    watchStatuses(): void {
        const url = this.adminUrl("/comms").replace(/^http/, "ws");
        const comms = new WebSocket(url);
        this.comms = comms;
        comms.on("open", () => comms.send(JSON.stringify({ subscribe: "status/#" })));
        comms.on("message", (data: WebSocket.RawData) => {
            let frames: { topic?: unknown; data?: { text?: string } }[];
            try {
                frames = [JSON.parse(data.toString()) as typeof frames].flat();
            } catch {
                return;
            }
            // A frame batches several topics (the debug sidebar's messages too): keep the statuses.
            for (const { topic, data: status } of frames) {
                if (typeof topic === "string" && topic.startsWith("status/") && status?.text) capture("node status", status.text);
            }
        });
        comms.on("error", () => {}); // e.g. refused under adminAuth: statuses are then not watched
    }

    get log(): string {
        return this.logs.join("");
    }

    /** The admin API root, e.g. http://127.0.0.1:1880 or …/admin. */
    adminUrl(suffix = ""): string {
        const root = (this.adminRoot ?? "/").replace(/\/$/, "");
        return `http://127.0.0.1:${this.port}${root}${suffix}`;
    }

    nodeUrl(suffix = ""): string {
        const root = (this.nodeRoot ?? "/").replace(/\/$/, "");
        return `http://127.0.0.1:${this.port}${root}${suffix}`;
    }

    async waitUntilReady(timeoutMs = 30000): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
            if (this.process.exitCode !== null) throw new Error(`Node-RED exited:\n${this.log}`);
            if (/Started flows|Server now running/.test(this.log) && /Started flows/.test(this.log)) return;
            await sleep(100);
        }
        throw new Error(`Node-RED did not start in time:\n${this.log}`);
    }

    /** Deploys `flows` (nodes may carry `credentials`) and waits until they have started. */
    async deploy(flows: readonly FlowNode[], type = "full"): Promise<JsonObject> {
        for (const node of flows) {
            if (node.credentials?.secret) watchSecret(node.credentials.secret);
            if (node.credentials?.apiKey) watchSecret(node.credentials.apiKey); // a Mentra app's key: never in a log either
        }
        const before = (this.log.match(/Started (modified )?(flows|nodes)/g) ?? []).length;
        const response = await request(this.adminUrl("/flows"), {
            method: "POST",
            headers: { "content-type": "application/json", "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": type },
            body: JSON.stringify({ flows }),
        });
        if (response.status !== 200) throw new Error(`deploy failed: ${response.status} ${response.text}`);
        const deadline = Date.now() + 10000;
        while ((this.log.match(/Started (modified )?(flows|nodes)/g) ?? []).length <= before) {
            if (Date.now() > deadline) throw new Error(`flows did not start:\n${this.log}`);
            await sleep(25);
        }
        return response.json;
    }

    async flows(): Promise<{ rev: string; flows: FlowNode[] }> {
        return (await request<{ rev: string; flows: FlowNode[] }>(this.adminUrl("/flows"), { headers: { "Node-RED-API-Version": "v2" } })).json;
    }

    post<Json = JsonObject>(urlPath: string, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): Promise<HttpResponse<Json>> {
        return request<Json>(this.nodeUrl(urlPath), {
            method: "POST",
            headers: { "content-type": "application/json", ...headers },
            body,
        });
    }

    async stop(): Promise<void> {
        const child = this.child;
        if (!child) return;
        this.comms?.terminate();
        capture("Node-RED log", this.log);
        if (child.exitCode === null) {
            child.kill("SIGINT");
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            await this.exited;
            clearTimeout(timer);
        }
        if (!this.options.userDir) fs.rmSync(this.userDir, { recursive: true, force: true });
    }
}

/**
 * For a mocha suite: a collector and a Node-RED process (with `options`) started before its
 * tests and stopped after them, the collector cleared before each test. The returned object's
 * `nodeRed` and `collector` are set once the suite's first `before` hook has run.
 */
export interface SuiteContext {
    nodeRed: NodeRedProcess;
    collector: Collector;
}

function startedForSuite(options: NodeRedOptions = {}): SuiteContext {
    // Filled in by the suite's first hook, before any test reads them.
    const context = {} as SuiteContext;
    before(async () => {
        context.collector = await new Collector().start();
        context.nodeRed = await new NodeRedProcess(options).start();
    });
    after(async () => {
        await context.nodeRed?.stop();
        await context.collector?.stop();
    });
    beforeEach(() => context.collector?.clear());
    return context;
}

/** What a tapped receiver output posted to the collector (see Collector.tap): output 1's message by default. */
export type Tapped<Event = JsonObject> = EventMessage<Event> & { websocketUrl?: string; keys: string[] };
/** What a tapped output 2 posted. */
export type TappedRejection = RejectionMessage & { keys: string[] };

export { NodeRedProcess, Collector, request, freePort, sleep, startedForSuite, PACKAGE_ROOT };
