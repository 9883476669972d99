// Redeploys of every kind, and Node-RED's own HTTP settings, in real Node-RED processes.
import assert = require("node:assert/strict");
import bcrypt = require("bcryptjs");
import { NodeRedProcess, Collector, request, type FlowNode } from "../support/node-red-process.js";
import type { SignedDelivery } from "../../nodes/samples.js";
import { wmsBody, mentraSession, synthesisBatch, meshagentEvent, signDelivery, signedWms as signedWmsOf } from "../support/fixtures.js";

const signedWms = (secret: string) => signedWmsOf(secret, { sessionId: `session-${Math.random()}` });
const batch = () => JSON.stringify([{ ...synthesisBatch(1)[0], uuid: `uuid-${Math.random()}` }]);

describe("end to end: redeploys", function () {
    this.timeout(60000);
    let nodeRed: NodeRedProcess;
    let collector: Collector;
    const tab = "tab-life";
    let tapA: [FlowNode[], string[][]];
    let tapB: [FlowNode[], string[][]];

    const flows = ({ wmsSecret = "first-secret", synthesisPath = "/batches", extra = [] as FlowNode[] } = {}): FlowNode[] => [
        { id: tab, type: "tab", label: "lifecycle" },
        // Only type, path, wires and credentials: every other option at its default.
        { id: "wms", type: "wms-webhook", z: tab, path: "/wms", wires: tapA[1], credentials: { secret: wmsSecret } },
        { id: "synthesis", type: "synthesis-webhook", z: tab, path: synthesisPath, wires: tapB[1] },
        ...tapA[0],
        ...tapB[0],
        ...extra,
    ];

    before(async () => {
        collector = await new Collector().start();
        tapA = collector.tap("wms", tab, 400, 0);
        tapB = collector.tap("synthesis", tab, 400, 200);
        nodeRed = await new NodeRedProcess().start();
        await nodeRed.deploy(flows());
    });
    after(async () => {
        await nodeRed?.stop();
        await collector?.stop();
    });
    beforeEach(() => collector.clear());

    it("keeps working across full, flows and modified-nodes deploys, with no stale route or error", async () => {
        for (const type of ["full", "flows", "nodes", "full"]) {
            await nodeRed.deploy(flows({ wmsSecret: `secret-${type}` }), type);
            const [body, headers] = signedWms(`secret-${type}`);
            assert.equal((await nodeRed.post("/wms", body, headers)).status, 200, `after a ${type} deploy`);
            assert.equal((await nodeRed.post("/batches", batch())).status, 200, `after a ${type} deploy`);
        }
        await collector.waitFor("wms:1", 4);
        await collector.waitFor("synthesis:1", 4);
        assert.doesNotMatch(nodeRed.log, /already exists|\[error\]|Error:/);
    });

    it("uses the new secret at once after a modified-nodes deploy, and not the old one", async () => {
        await nodeRed.deploy(flows({ wmsSecret: "rotated-secret" }), "nodes");
        const [body, headers] = signedWms("rotated-secret");
        assert.equal((await nodeRed.post("/wms", body, headers)).status, 200);
        const [oldBody, oldHeaders] = signedWms("secret-full");
        assert.equal((await nodeRed.post("/wms", oldBody, oldHeaders)).status, 401);
    });

    it("moves the route when the path changes: the old path is gone (404)", async () => {
        await nodeRed.deploy(flows({ synthesisPath: "/moved" }), "nodes");
        assert.equal((await nodeRed.post("/moved", batch())).status, 200);
        assert.equal((await nodeRed.post("/batches", batch())).status, 404);
        await nodeRed.deploy(flows(), "nodes");
        assert.equal((await nodeRed.post("/batches", batch())).status, 200);
        assert.equal((await nodeRed.post("/moved", batch())).status, 404);
    });

    it("removes the route of a deleted node", async () => {
        await nodeRed.deploy(flows().filter((node) => node.id !== "synthesis"), "nodes");
        assert.equal((await nodeRed.post("/batches", batch())).status, 404);
        await nodeRed.deploy(flows(), "full");
        assert.equal((await nodeRed.post("/batches", batch())).status, 200);
    });

    it("gives a second node on a taken path an error; it takes over when the first is removed", async () => {
        const tapC = collector.tap("second", tab, 400, 400);
        const second = { id: "second", type: "synthesis-webhook", z: tab, path: "/batches", wires: tapC[1] };
        await nodeRed.deploy(flows({ extra: [second, ...tapC[0]] }), "nodes");
        assert.match(nodeRed.log, /\[synthesis-webhook:second\] Path \/batches is already used by another webhook node/);
        assert.equal((await nodeRed.post("/batches", batch())).status, 200);
        await collector.waitFor("synthesis:1", 1);
        assert.equal((await collector.settle("second:1")).length, 0);

        await nodeRed.deploy(flows({ extra: [second, ...tapC[0]] }).filter((node) => node.id !== "synthesis"), "nodes");
        assert.equal((await nodeRed.post("/batches", batch())).status, 200);
        await collector.waitFor("second:1", 1);
        await nodeRed.deploy(flows(), "full");
    });

    it("deploys a dozen receivers that keep deliveries, again and again, without a warning in Node-RED's log", async () => {
        // Each waits for the flows to start before it redelivers what it kept: one runtime-wide
        // wait, not one listener per node (Node's warning of a leak from the eleventh on).
        const many = Array.from({ length: 12 }, (_, index): FlowNode => ({ id: `kept-${index}`, type: "synthesis-webhook", z: tab, path: `/kept-${index}`, keep: true, wires: [[], []] }));
        for (const type of ["full", "nodes", "full"]) {
            await nodeRed.deploy(flows({ extra: many.map((node) => ({ ...node, name: type })) }), type);
            assert.equal((await nodeRed.post("/kept-11", batch())).status, 200, `after a ${type} deploy`);
        }
        await nodeRed.deploy(flows(), "full");
        assert.doesNotMatch(nodeRed.log, /MaxListenersExceededWarning|memory leak/);
    });
});

describe("end to end: Node-RED's HTTP settings", function () {
    this.timeout(60000);
    let nodeRed: NodeRedProcess;
    let collector: Collector;

    afterEach(async () => {
        await nodeRed?.stop();
        await collector?.stop();
    });

    async function startWith(settings: string, roots: { adminRoot?: string; nodeRoot?: string } = {}) {
        collector = await new Collector().start();
        nodeRed = await new NodeRedProcess({ settings: `module.exports = ${settings};`, ...roots }).start();
        const receivers: FlowNode[] = [
            { id: "wms", type: "wms-webhook", path: "/wms", credentials: { secret: "wms-secret" } },
            { id: "meshagent", type: "meshagent-webhook", path: "/meshagent", credentials: { secret: "mesh-secret" } },
            { id: "mentra", type: "mentra-webhook", path: "/mentra" },
            { id: "synthesis", type: "synthesis-webhook", path: "/synthesis" },
        ];
        await nodeRed.deploy(collector.tappedTab("tab-settings", receivers));
    }

    const samples = async (): Promise<[string, SignedDelivery][]> => [
        ["/wms", await signDelivery("wms", JSON.parse(wmsBody()), "wms-secret")],
        ["/meshagent", await signDelivery("meshagent", meshagentEvent(), "mesh-secret")],
        ["/mentra", await signDelivery("mentra", mentraSession())],
        ["/synthesis", await signDelivery("synthesis", synthesisBatch(2))],
    ];

    it("verifies raw bytes under custom httpAdminRoot and httpNodeRoot", async () => {
        await startWith(`{ httpAdminRoot: "/admin", httpNodeRoot: "/hooks", flowFile: "flows.json" }`, { adminRoot: "/admin", nodeRoot: "/hooks" });
        for (const [path, { body, headers }] of await samples()) {
            assert.equal((await nodeRed.post(path, body, headers)).status, 200, path);
            const outside = await request(`http://127.0.0.1:${nodeRed.port}${path}`, { method: "POST", headers, body });
            assert.equal(outside.status, 404, `${path} outside httpNodeRoot`);
        }
        for (const id of ["wms", "meshagent", "mentra"]) await collector.waitFor(`${id}:1`, 1);
        await collector.waitFor("synthesis:1", 2);
    });

    it("verifies raw bytes with the editor at / and nodes under /hooks", async () => {
        await startWith(`{ httpNodeRoot: "/hooks", flowFile: "flows.json" }`, { nodeRoot: "/hooks" });
        for (const [path, { body, headers }] of await samples()) {
            assert.equal((await nodeRed.post(path, body, headers)).status, 200, path);
        }
    });

    it("honours httpNodeAuth given as a function, with the editor at /", async () => {
        await startWith(`{
            flowFile: "flows.json",
            httpNodeAuth: function (req, res, next) {
                if (req.get("x-hook-key") === "let-me-in") return next();
                res.status(401).send("not allowed");
            },
        }`);
        const [[path, { body, headers }]] = await samples();
        const refused = await nodeRed.post(path, body, headers);
        assert.deepEqual([refused.status, refused.text], [401, "not allowed"]);
        assert.equal((await nodeRed.post(path, body, { ...headers, "x-hook-key": "let-me-in" })).status, 200);
        await collector.waitFor("wms:1", 1);
    });

    it("honours httpNodeAuth, httpNodeMiddleware and httpNodeCors", async () => {
        const hash = bcrypt.hashSync("hook-password", 8);
        // The editor moves to /admin: at "/" its own CORS handler answers every preflight first.
        await startWith(`{
            flowFile: "flows.json",
            httpAdminRoot: "/admin",
            httpNodeAuth: { user: "hooks", pass: ${JSON.stringify(hash)} },
            // Written against Express's API, as users write it.
            httpNodeMiddleware: function (req, res, next) { res.set("X-Node-Middleware", req.get("x-probe") ? "ran:" + req.query.q : "ran"); next(); },
            httpNodeCors: { origin: "https://console.example", methods: "POST" },
        }`, { adminRoot: "/admin" });
        const [[path, { body, headers }]] = await samples();
        const anonymous = await nodeRed.post(path, body, headers);
        assert.equal(anonymous.status, 401, "Node-RED's own basic auth guards the node's route");
        assert.equal(anonymous.headers["www-authenticate"], 'Basic realm="Authorization Required"');
        const authorization = `Basic ${Buffer.from("hooks:hook-password").toString("base64")}`;
        const response = await nodeRed.post(path, body, { ...headers, authorization, origin: "https://console.example" });
        assert.equal(response.status, 200);
        assert.equal(response.headers["x-node-middleware"], "ran");
        const probed = await request(nodeRed.nodeUrl(`${path}?q=7`), { method: "POST", headers: { ...headers, authorization, "x-probe": "1" }, body });
        assert.equal(probed.headers["x-node-middleware"], "ran:7", "Express's req/res API is there for user middleware");
        assert.equal(response.headers["access-control-allow-origin"], "https://console.example");
        const preflight = await request(nodeRed.nodeUrl(path), {
            method: "OPTIONS",
            headers: { origin: "https://console.example", "access-control-request-method": "POST" },
        });
        assert.equal(preflight.status, 204);
        assert.equal(preflight.headers["access-control-allow-methods"], "POST");
        await collector.waitFor("wms:1", 1);
    });
});
