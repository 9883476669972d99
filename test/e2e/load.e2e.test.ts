// Sustained concurrent load (bounded in count and time, on loopback) with redeploys of every
// kind in the middle: every delivery answered 2xx is emitted exactly once, counted at both
// ends; one arriving while its node stops is answered 503, never 2xx and then dropped.
import assert = require("node:assert/strict");
import http = require("node:http");
import { NodeRedProcess, request, sleep, type FlowNode } from "../support/node-red-process.js";
import { wmsBody } from "../support/fixtures.js";
import { wmsSignature } from "../../nodes/providers/wms.js";

const CLIENTS = 16;
const PER_CLIENT = Number(process.env.LOAD_PER_CLIENT || 250);
const RECEIVER_TAB = "tab-receivers";
const COUNTER_TAB = "tab-counter";

/** Receivers in one tab; in another, a counter of every id emitted, read back over HTTP. */
function flows(generation: number): FlowNode[] {
    return [
        { id: RECEIVER_TAB, type: "tab", label: `receivers ${generation}` },
        { id: COUNTER_TAB, type: "tab", label: "counter" },
        { id: "synthesis", type: "synthesis-webhook", z: RECEIVER_TAB, name: `synthesis ${generation}`, path: "/synthesis", wires: [["count"], []] },
        { id: "wms", type: "wms-webhook", z: RECEIVER_TAB, name: `wms ${generation}`, path: "/wms", wires: [["count"], []], credentials: { secret: "load-secret" } },
        {
            id: "count",
            type: "function",
            z: COUNTER_TAB,
            func: "const id = msg.payload.uuid || msg.payload.sessionId;\nconst seen = global.get('seen') || {};\nseen[id] = (seen[id] || 0) + 1;\nglobal.set('seen', seen);\nreturn null;",
            outputs: 0,
            wires: [],
        },
        { id: "seen-in", type: "http in", z: COUNTER_TAB, url: "/load-seen", method: "get", wires: [["seen-fn"]] },
        { id: "seen-fn", type: "function", z: COUNTER_TAB, func: "msg.payload = global.get('seen') || {};\nreturn msg;", outputs: 1, wires: [["seen-out"]] },
        { id: "seen-out", type: "http response", z: COUNTER_TAB, wires: [] },
    ];
}

function post(port: number, agent: http.Agent, path: string, body: string, headers: Record<string, string>): Promise<number | "error"> {
    return new Promise((resolve) => {
        const req = http.request(
            { host: "127.0.0.1", port, path, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers } },
            (res) => {
                res.resume();
                res.on("end", () => resolve(res.statusCode ?? 0));
            },
        );
        req.on("error", () => resolve("error"));
        req.end(body);
    });
}

describe("end to end: load with redeploys, nothing lost, nothing twice", function () {
    this.timeout(180000);
    let nodeRed: NodeRedProcess;

    before(async () => {
        nodeRed = await new NodeRedProcess().start();
        await nodeRed.deploy(flows(0));
    });
    after(async () => nodeRed?.stop());

    it(`${CLIENTS} clients × ${PER_CLIENT} deliveries while deploying full, flows and modified nodes`, async () => {
        const answered = new Map(); // id → status
        let running = true;
        const clients = Array.from({ length: CLIENTS }, async (_, client) => {
            const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
            for (let n = 0; n < PER_CLIENT && running; n++) {
                const id = `c${client}-n${n}`;
                let status;
                if (n % 2 === 0) {
                    const body = JSON.stringify([{ uuid: id, action: "create", location: "load", stations: 1, customerid: n }]);
                    status = await post(nodeRed.port, agent, "/synthesis", body, {});
                } else {
                    const body = wmsBody({ sessionId: id, sequence: 0 });
                    status = await post(nodeRed.port, agent, "/wms", body, { "x-wms-content-mac": wmsSignature(body, "load-secret") });
                }
                answered.set(id, status);
            }
            agent.destroy();
        });
        const deploys = (async () => {
            let generation = 0;
            for (const type of ["nodes", "flows", "full", "nodes", "flows", "full"]) {
                await sleep(150);
                await nodeRed.deploy(flows(++generation), type);
            }
        })();
        await Promise.all([...clients, deploys]);
        running = false;
        await sleep(500);

        const { json: seen } = await request<Record<string, number>>(nodeRed.nodeUrl("/load-seen"));
        const statuses = [...answered.values()];
        const accepted = [...answered].filter(([, status]) => status === 200).map(([id]) => id);
        const unexpected = statuses.filter((status) => status !== 200 && status !== 503 && status !== 404);
        assert.deepEqual(unexpected, [], "only 200, or 503/404 while a route restarts");
        assert.ok(accepted.length > CLIENTS * PER_CLIENT * 0.5, `most deliveries accepted: ${accepted.length}`);

        const lost = accepted.filter((id) => seen[id] !== 1);
        const twice = Object.entries(seen).filter(([, count]) => count > 1);
        const phantom = Object.keys(seen).filter((id) => answered.get(id) !== 200);
        assert.deepEqual(twice, [], "nothing emitted twice");
        assert.deepEqual(lost, [], "every 2xx emitted exactly once");
        assert.deepEqual(phantom, [], "nothing emitted that was not answered 2xx");
        console.log(`      ${accepted.length} accepted, ${statuses.filter((s) => s === 503).length} answered 503, ${statuses.filter((s) => s === 404).length} 404 during redeploys`);
    });
});
