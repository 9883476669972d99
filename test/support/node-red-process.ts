"use strict";
// Starts a real Node-RED process (the devDependency, default settings unless told
// otherwise) with this package installed in a fresh user directory, deploys flows through
// the admin API, and collects what the flows emit through a small HTTP collector.
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

const WebSocket = require("ws");
const { capture, watchSecret } = require("./leak-watch");
const { npm } = require("./runtimes");

const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");
const PACKAGE_NAME = require(path.join(PACKAGE_ROOT, "package.json")).name;

function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

/** Sends an HTTP request; resolves with status, headers and body text. */
function request(url, { method = "GET", headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, agent: false }, (res) => {
            const chunks = [];
            res.on("data", (chunk) => chunks.push(chunk));
            res.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8");
                let json;
                try {
                    json = JSON.parse(text);
                } catch {
                    json = undefined;
                }
                resolve({ status: res.statusCode, headers: res.headers, text, json });
            });
        });
        req.on("error", reject);
        if (body !== undefined) req.write(body);
        req.end();
    });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An HTTP server the flows post their messages to: /<label> → a list per label.
 * `waitFor(label, count)` resolves when that many arrived.
 */
class Collector {
    constructor() {
        this.received = new Map();
        this.waiters = [];
        this.server = http.createServer((req, res) => {
            const chunks = [];
            req.on("data", (chunk) => chunks.push(chunk));
            req.on("end", () => {
                const label = decodeURIComponent(req.url.slice(1));
                const list = this.received.get(label) ?? [];
                const text = Buffer.concat(chunks).toString("utf8");
                if (label.endsWith(":2")) capture(`output 2 (${label})`, text);
                list.push(JSON.parse(text));
                this.received.set(label, list);
                res.end("ok");
                this.waiters = this.waiters.filter((waiter) => !waiter());
            });
        });
    }

    async start() {
        await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        this.url = `http://127.0.0.1:${this.server.address().port}`;
        return this;
    }

    stop() {
        return new Promise((resolve) => this.server.close(resolve));
    }

    list(label) {
        return this.received.get(label) ?? [];
    }

    clear() {
        this.received.clear();
    }

    waitFor(label, count, timeoutMs = 5000) {
        return new Promise((resolve, reject) => {
            const check = () => {
                if (this.list(label).length >= count) {
                    clearTimeout(timer);
                    resolve(this.list(label));
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
    async settle(label, ms = 300) {
        await sleep(ms);
        return this.list(label);
    }

    /**
     * Nodes that forward every message on `wires` outputs of a receiver to the collector,
     * under the labels `${label}:1` and `${label}:2`. Returns [nodes, wiresForReceiver].
     */
    tap(label, tab, x = 400, y = 100) {
        const nodes = [];
        const wires = [];
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
}

class NodeRedProcess {
    /**
     * @param {object} [options]
     * @param {string} [options.settings] contents of a settings.js; default: Node-RED's own defaults
     * @param {string} [options.nodeBinary] the node executable (Node-RED 5 needs Node 22)
     * @param {string} [options.nodeRedDir] the node-red package to run
     * @param {string} [options.launcher] a script started instead of red.js (an application embedding Node-RED)
     * @param {string[]} [options.nodeArgs] options for the node executable (e.g. --cpu-prof)
     * @param {Record<string, string>} [options.extraModules] other node modules to install: name → directory
     * @param {string} [options.packageDir] the package to install (a directory, linked)
     * @param {string} [options.tarball] or: a packed tarball, installed with npm as the palette manager does
     * @param {string} [options.adminRoot] httpAdminRoot the settings set, for URLs
     * @param {string} [options.nodeRoot] httpNodeRoot the settings set, for URLs
     */
    constructor(options = {}) {
        this.options = options;
        this.adminRoot = options.adminRoot;
        this.nodeRoot = options.nodeRoot;
        this.logs = [];
    }

    async start() {
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
        this.port = await freePort();
        const nodeRedDir = this.options.nodeRedDir ?? path.dirname(require.resolve("node-red/package.json"));
        const launcher = this.options.launcher ?? path.join(nodeRedDir, "red.js");
        this.child = spawn(
            this.options.nodeBinary ?? process.execPath,
            [...(this.options.nodeArgs ?? []), launcher, "--userDir", this.userDir, "--port", String(this.port)],
            { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_RED_ENABLE_PROJECTS: "" } },
        );
        const capture = (chunk) => this.logs.push(chunk.toString("utf8"));
        this.child.stdout.on("data", capture);
        this.child.stderr.on("data", capture);
        this.exited = new Promise((resolve) => this.child.on("exit", resolve));
        await this.waitUntilReady();
        this.watchStatuses();
        return this;
    }

    /** Every node status Node-RED shows, as the editor receives it. */
    watchStatuses() {
        const url = this.adminUrl("/comms").replace(/^http/, "ws");
        this.comms = new WebSocket(url);
        this.comms.on("open", () => this.comms.send(JSON.stringify({ subscribe: "status/#" })));
        this.comms.on("message", (data) => {
            let frames;
            try {
                frames = [].concat(JSON.parse(data.toString()));
            } catch {
                return;
            }
            // A frame batches several topics (the debug sidebar's messages too): keep the statuses.
            for (const { topic, data: status } of frames) {
                if (typeof topic === "string" && topic.startsWith("status/") && status?.text) capture("node status", status.text);
            }
        });
        this.comms.on("error", () => {}); // e.g. refused under adminAuth: statuses are then not watched
    }

    get log() {
        return this.logs.join("");
    }

    /** The admin API root, e.g. http://127.0.0.1:1880 or …/admin. */
    adminUrl(suffix = "") {
        const root = (this.adminRoot ?? "/").replace(/\/$/, "");
        return `http://127.0.0.1:${this.port}${root}${suffix}`;
    }

    nodeUrl(suffix = "") {
        const root = (this.nodeRoot ?? "/").replace(/\/$/, "");
        return `http://127.0.0.1:${this.port}${root}${suffix}`;
    }

    async waitUntilReady(timeoutMs = 30000) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
            if (this.child.exitCode !== null) throw new Error(`Node-RED exited:\n${this.log}`);
            if (/Started flows|Server now running/.test(this.log) && /Started flows/.test(this.log)) return;
            await sleep(100);
        }
        throw new Error(`Node-RED did not start in time:\n${this.log}`);
    }

    /** Deploys `flows` (nodes may carry `credentials`) and waits until they have started. */
    async deploy(flows, type = "full") {
        for (const node of flows) if (node.credentials?.secret) watchSecret(node.credentials.secret);
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

    async flows() {
        return (await request(this.adminUrl("/flows"), { headers: { "Node-RED-API-Version": "v2" } })).json;
    }

    post(urlPath, body, headers = {}) {
        return request(this.nodeUrl(urlPath), {
            method: "POST",
            headers: { "content-type": "application/json", ...headers },
            body,
        });
    }

    async stop() {
        if (!this.child) return;
        this.comms?.terminate();
        capture("Node-RED log", this.log);
        if (this.child.exitCode === null) {
            this.child.kill("SIGINT");
            const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
            await this.exited;
            clearTimeout(timer);
        }
        fs.rmSync(this.userDir, { recursive: true, force: true });
    }
}

/**
 * For a mocha suite: a collector and a Node-RED process (with `options`) started before its
 * tests and stopped after them, the collector cleared before each test. The returned object's
 * `nodeRed` and `collector` are set once the suite's first `before` hook has run.
 */
function startedForSuite(options = {}) {
    const context = {};
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

module.exports = { NodeRedProcess, Collector, request, freePort, sleep, startedForSuite, PACKAGE_ROOT };
