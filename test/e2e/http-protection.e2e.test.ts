// Node-RED's HTTP protection applies to the webhook nodes exactly as it does to a core
// `http in` node: side by side in the same Node-RED, a core `http in` → `http response` and a
// synthesis-webhook under the same prefix get the same answer from every piece of middleware
// in front of them (an embedding application's, httpNodeAuth in both forms,
// httpNodeMiddleware, httpNodeCors, httpAdminMiddleware where the editor shares the root),
// which sees the request as it would for `http in` (url, path, baseUrl). And a node path that
// an editor or admin route owns never takes it over.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import path = require("node:path");
import { NodeRedProcess, request, type FlowNode, type HttpResponse, type NodeRedOptions } from "../support/node-red-process.js";
import { synthesisBatch } from "../support/fixtures.js";

const EMBEDDED = path.join(__dirname, "..", "support", "embedded-node-red.js"); // compiled beside this file
const BODY = JSON.stringify(synthesisBatch(1));

/** Middleware that records how it saw the request, and refuses "/private/…" paths with 401. */
const SEEN_AND_GUARD = `function (req, res, next) {
    res.setHeader("x-seen-" + (res.getHeader("x-seen-count") || 0), JSON.stringify({ url: req.url, path: req.path, baseUrl: req.baseUrl }));
    res.setHeader("x-seen-count", String(Number(res.getHeader("x-seen-count") || 0) + 1));
    if (req.path.startsWith("/private/")) { res.statusCode = 401; return res.end("private"); }
    next();
}`;

/** A core http in (POST) answering 200 at `<prefix>/core`, and a synthesis-webhook at `<prefix>/synth`. */
function sideBySide(prefixes: string[]): FlowNode[] {
    const nodes: FlowNode[] = [{ id: "tab", type: "tab", label: "side by side" }];
    prefixes.forEach((prefix, index) => {
        const y = 60 + index * 80;
        nodes.push(
            { id: `core-${index}`, z: "tab", type: "http in", url: `${prefix}/core`, method: "post", upload: false, x: 120, y, wires: [[`answer-${index}`]] },
            { id: `answer-${index}`, z: "tab", type: "http response", statusCode: "200", headers: {}, x: 320, y, wires: [] },
            { id: `synth-${index}`, z: "tab", type: "synthesis-webhook", path: `${prefix}/synth`, x: 120, y: y + 40, wires: [[], []] },
        );
    });
    return nodes;
}

/** What middleware showed of the request, with the node's own segment made neutral. */
function seen(response: HttpResponse): string[] {
    const count = Number(response.headers["x-seen-count"] || 0);
    return Array.from({ length: count }, (_, index) => String(response.headers[`x-seen-${index}`]).replace(/\/(core|synth)\b/g, "/NODE"));
}

describe("end to end: Node-RED's HTTP protection applies as it does to http in", function () {
    this.timeout(60000);
    let nodeRed: NodeRedProcess;

    afterEach(async () => nodeRed?.stop());

    async function start(settings: string, options: NodeRedOptions = {}) {
        nodeRed = await new NodeRedProcess({ settings: `module.exports = ${settings};`, ...options }).start();
    }

    /** POSTs to the core node and ours under `prefix` and asserts the same status and the same view of the request. */
    async function same(prefix: string, headers: Record<string, string> = {}, expected?: number) {
        const core = await request(nodeRed.nodeUrl(`${prefix}/core?q=1`), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: BODY });
        const ours = await request(nodeRed.nodeUrl(`${prefix}/synth?q=1`), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: BODY });
        assert.equal(ours.status, core.status, `${prefix}: http in got ${core.status}, synthesis-webhook ${ours.status} ${ours.text}`);
        if (expected !== undefined) assert.equal(ours.status, expected, prefix);
        assert.deepEqual(seen(ours), seen(core), `${prefix}: middleware saw the request differently`);
        for (const header of ["access-control-allow-origin", "x-guard"]) assert.equal(ours.headers[header], core.headers[header], `${prefix}: ${header}`);
        return { core, ours };
    }

    /** Node-RED embedded in an application that mounts `middleware` (source, using `guard`) before RED.httpNode at /api. */
    async function startEmbeddedBehind(middleware: string) {
        await start(
            `{
                flowFile: "flows.json",
                httpAdminRoot: "/red",
                httpNodeRoot: "/api",
                embed(app, RED) {
                    app.use("/red", RED.httpAdmin);
                    const guard = (req, res, next) => {
                        res.setHeader("x-guard", "ran");
                        if (req.headers["x-pass"] !== "yes") { res.statusCode = 403; return res.end("forbidden"); }
                        next();
                    };
                    app.use("/api", ${middleware}, RED.httpNode);
                },
            }`,
            { launcher: EMBEDDED, adminRoot: "/red", nodeRoot: "/api" },
        );
    }

    it("runs an embedding application's guard mounted with RED.httpNode", async () => {
        await startEmbeddedBehind("function guarding(req, res, next) { guard(req, res, next); }");
        await nodeRed.deploy(sideBySide([""]));
        await same("", {}, 403);
        await same("", { "x-pass": "yes" }, 200);
        // Twice: a path planned after the first delivery must still pass the guard.
        await same("", {}, 403);
    });

    it("runs a guard that borrows the name of a harmless middleware (passport's initialize, body-parser's jsonParser): names prove nothing", async () => {
        await startEmbeddedBehind("function initialize(req, res, next) { guard(req, res, next); }, function jsonParser(req, res, next) { guard(req, res, next); }");
        await nodeRed.deploy(sideBySide([""]));
        await same("", {}, 403);
        await same("", { "x-pass": "yes" }, 200);
        await same("", {}, 403);
    });

    it("runs httpNodeAuth (a function) mounted at httpNodeRoot, seeing paths relative to it", async () => {
        await start(`{ flowFile: "flows.json", httpNodeRoot: "/api", httpNodeAuth: ${SEEN_AND_GUARD} }`, { nodeRoot: "/api" });
        await nodeRed.deploy(sideBySide(["/private", "/open"]));
        await same("/private", {}, 401);
        const { ours } = await same("/open", {}, 200);
        assert.deepEqual(seen(ours), ['{"url":"/open/NODE?q=1","path":"/open/NODE","baseUrl":"/api"}']);
        await same("/private", {}, 401);
    });

    it("runs httpNodeAuth given as a list, in order", async () => {
        await start(`{ flowFile: "flows.json", httpNodeRoot: "/api", httpNodeAuth: [${SEEN_AND_GUARD}, ${SEEN_AND_GUARD}] }`, { nodeRoot: "/api" });
        await nodeRed.deploy(sideBySide(["/private", "/open"]));
        await same("/private", {}, 401);
        const { ours } = await same("/open", {}, 200);
        assert.equal(seen(ours).length, 2);
    });

    it("runs httpNodeMiddleware with the request as http in's route sees it", async () => {
        await start(`{ flowFile: "flows.json", httpNodeRoot: "/api", httpNodeMiddleware: ${SEEN_AND_GUARD} }`, { nodeRoot: "/api" });
        await nodeRed.deploy(sideBySide(["/private", "/open"]));
        await same("/private", {}, 401);
        await same("/open", {}, 200);
    });

    it("runs httpAdminMiddleware where the editor shares the root with the nodes", async () => {
        await start(`{
            flowFile: "flows.json",
            httpAdminMiddleware: function guard(req, res, next) {
                res.setHeader("x-guard", "admin");
                if (req.method === "POST" && req.headers["x-pass"] !== "yes" && !req.url.startsWith("/flows")) { res.statusCode = 403; return res.end("no"); }
                next();
            },
        }`);
        await nodeRed.deploy(sideBySide([""]));
        await same("", {}, 403);
        await same("", { "x-pass": "yes" }, 200);
    });

    it("answers with the same CORS headers as http in in a default Node-RED (the editor's own handler)", async () => {
        await start(`{ flowFile: "flows.json" }`);
        await nodeRed.deploy(sideBySide(["/hooks"]));
        const { ours } = await same("/hooks", { origin: "https://somewhere.example" }, 200);
        assert.equal(ours.headers["access-control-allow-origin"], "*");
        await same("/hooks", { origin: "https://somewhere.example" }, 200);
    });

    it("never takes over a path the editor or the admin API owns, and says so", async () => {
        await start(`{ flowFile: "flows.json" }`);
        await nodeRed.deploy([
            { id: "tab", type: "tab", label: "owned" },
            { id: "flows", z: "tab", type: "synthesis-webhook", path: "/flows", wires: [[], []] },
            { id: "auth", z: "tab", type: "mentra-webhook", path: "/auth", wires: [[], []] },
            { id: "settings", z: "tab", type: "wms-webhook", path: "/settings", wires: [[], []], credentials: { secret: "s" } },
            { id: "free", z: "tab", type: "synthesis-webhook", path: "/free", wires: [[], []] },
        ]);
        const editorFlows = await request(nodeRed.adminUrl("/flows"), { headers: { "Node-RED-API-Version": "v2" } });
        assert.equal(editorFlows.status, 200, "the editor can load its flows");
        assert.ok(Array.isArray(editorFlows.json.flows));
        assert.equal((await request(nodeRed.adminUrl("/auth/login"))).status, 200, "logins keep working");
        assert.equal((await request(nodeRed.adminUrl("/settings"))).status, 200);
        assert.equal((await request(nodeRed.nodeUrl("/free"), { method: "POST", headers: { "content-type": "application/json" }, body: BODY })).status, 200);
        for (const path of ["/flows", "/auth", "/settings"]) {
            assert.match(nodeRed.log, new RegExp(`Path ${path} belongs to a route of the editor or admin API`));
        }
    });

    it("never locks the editor out: deploys keep working with a node at /flows, after it is removed, and after a restart with it in the flow file", async () => {
        await start(`{ flowFile: "flows.json" }`);
        const tab = { id: "tab", type: "tab", label: "owned" };
        const atFlows = { id: "flows-node", z: "tab", type: "wms-webhook", path: "/flows", x: 100, y: 100, wires: [[], []], credentials: { secret: "s" } };
        const free = { id: "free", z: "tab", type: "synthesis-webhook", path: "/free", x: 100, y: 200, wires: [[], []] };
        // Each deploy is a POST /flows with a JSON body: the editor's own request.
        await nodeRed.deploy([tab, atFlows, free]);
        await nodeRed.deploy([tab, atFlows, free]);
        await nodeRed.deploy([tab, { ...atFlows, name: "renamed" }, free], "nodes");
        assert.equal((await request(nodeRed.nodeUrl("/free"), { method: "POST", headers: { "content-type": "application/json" }, body: BODY })).status, 200);
        await nodeRed.deploy([tab, free]); // removed
        await nodeRed.deploy([tab, atFlows, free]);

        // Restarted with the node in the flow file: the editor can load and deploy at once.
        await nodeRed.kill();
        nodeRed = await new NodeRedProcess({ userDir: nodeRed.userDir, settings: `module.exports = { flowFile: "flows.json" };` }).start();
        const loaded = await request<{ flows: unknown[] }>(nodeRed.adminUrl("/flows"), { headers: { "Node-RED-API-Version": "v2" } });
        assert.equal(loaded.status, 200);
        assert.ok(loaded.json.flows.some((node) => (node as { id?: string }).id === "flows-node"));
        await nodeRed.deploy([tab, atFlows, free]);
        await nodeRed.deploy([tab, free]);
        assert.match(nodeRed.log, /Path \/flows belongs to a route of the editor or admin API/);
        const userDir = nodeRed.userDir;
        await nodeRed.stop();
        fs.rmSync(userDir, { recursive: true, force: true });
    });
});
