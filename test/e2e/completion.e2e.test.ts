// "Handled" in the flows people build: a real Node-RED with its default settings, a receiver
// followed by the core nodes users put after it (switch, change, filter, delay, join, split,
// links, link call, http request, debug, a subflow, two wires) and a contrib node written
// before Node-RED 1.0 that never calls done(). Each chain ends in a function node that fails
// on "delete" events: the delivery log must say handled for the others and failed for those,
// never pending forever. Then with "Keep deliveries until handled": a deploy re-emits nothing
// the flow handled.
import assert = require("node:assert/strict");
import { until } from "../support/assertions.js";
import path = require("node:path");
import { PACKAGE_ROOT, request, startedForSuite, type Collector, type FlowNode, type NodeRedProcess } from "../support/node-red-process.js";
import { synthesisBatch } from "../support/fixtures.js";
import type { DeliverySummary } from "../../nodes/log/delivery-log.js";
import type { EventState } from "../../nodes/log/delivery-log.js";

const TAB = "tab-completion";
/** The last node of every chain: a database that refuses deletions. */
const STORE = 'if (msg.payload && msg.payload.action === "delete") throw new Error("database refuses deletions");\nreturn msg;';
const STORE_ARRAY = 'if (msg.payload === "delete") throw new Error("database refuses deletions");\nreturn msg;';

type Chain = (store: string, collector: Collector) => { first: string; nodes: FlowNode[]; subflows?: FlowNode[] };

/** A function node `id` running `func`, wired to `next`. */
const fn = (id: string, func = STORE, next: string[] = []): FlowNode => ({ id, type: "function", z: TAB, name: `${id} (function)`, func, outputs: 1, wires: [next] });

/** Each chain a user might put after a receiver, ending in the store. */
const CHAINS: Record<string, Chain> = {
    switch: (store) => ({
        first: "switch-1",
        nodes: [{ id: "switch-1", type: "switch", z: TAB, property: "payload.action", propertyType: "msg", rules: [{ t: "neq", v: "ignore", vt: "str" }], checkall: "true", repair: false, outputs: 1, wires: [[store]] }],
    }),
    "change-filter": (store) => ({
        first: "change-1",
        nodes: [
            { id: "change-1", type: "change", z: TAB, rules: [{ t: "set", p: "seen", pt: "msg", to: "yes", tot: "str" }], wires: [["filter-1"]] },
            { id: "filter-1", type: "rbe", z: TAB, func: "rbe", gap: "", start: "", inout: "out", septopics: true, property: "payload", topi: "topic", wires: [[store]] },
        ],
    }),
    delay: (store) => ({
        first: "delay-1",
        nodes: [
            { id: "delay-1", type: "delay", z: TAB, pauseType: "delay", timeout: "1", timeoutUnits: "seconds", rate: "1", nbRateUnits: "1", rateUnits: "second", randomFirst: "1", randomLast: "5", randomUnits: "seconds", drop: false, wires: [[store]] },
        ],
    }),
    split: (store) => ({
        first: "to-array",
        nodes: [
            { id: "to-array", type: "change", z: TAB, rules: [{ t: "set", p: "payload", pt: "msg", to: "[payload.action, payload.uuid]", tot: "jsonata" }], wires: [["split-1"]] },
            { id: "split-1", type: "split", z: TAB, splt: "\\n", spltType: "str", arraySplt: 1, arraySpltType: "len", stream: false, addname: "", wires: [[store]] },
        ],
    }),
    link: (store) => ({
        first: "link-out-1",
        nodes: [
            { id: "link-out-1", type: "link out", z: TAB, mode: "link", links: ["link-in-1"], wires: [] },
            { id: "link-in-1", type: "link in", z: TAB, links: ["link-out-1"], wires: [[store]] },
        ],
    }),
    "link-call": (store) => ({
        first: "link-call-1",
        nodes: [
            { id: "link-call-1", type: "link call", z: TAB, links: ["link-in-2"], linkType: "static", timeout: "30", wires: [["after-call"]] },
            { id: "link-in-2", type: "link in", z: TAB, links: [], wires: [[store]] },
            { id: "link-return", type: "link out", z: TAB, mode: "return", links: [], wires: [] },
            fn("after-call", "return msg;"),
        ],
    }),
    "http-request": (store, collector) => ({
        first: "http-1",
        nodes: [{ id: "http-1", type: "http request", z: TAB, method: "POST", ret: "txt", url: `${collector.url}/http-request`, wires: [["restore"]] }, fn("restore", "msg.payload = { action: msg.topic }; return msg;", [store])],
    }),
    "debug-and-store": (store) => ({
        first: "debug-1",
        nodes: [{ id: "debug-1", type: "debug", z: TAB, active: true, tosidebar: true, console: false, complete: "payload", wires: [] }],
        // debug-1 and the store both wired to the receiver
        extra: store,
    }),
    subflow: () => ({
        first: "subflow-instance",
        nodes: [{ id: "subflow-instance", type: "subflow:subflow-store", z: TAB, wires: [[]] }],
        subflows: [
            { id: "subflow-store", type: "subflow", name: "store in a subflow", info: "", in: [{ x: 50, y: 30, wires: [{ id: "subflow-fn" }] }], out: [] },
            { id: "subflow-fn", type: "function", z: "subflow-store", name: "store", func: STORE, outputs: 1, wires: [[]] },
        ],
    }),
    legacy: (store) => ({
        first: "legacy-1",
        nodes: [{ id: "legacy-1", type: "legacy-relay", z: TAB, wires: [[store]] }],
    }),
};

/** The whole tab: one receiver per chain at /c/<chain>, each chain with its own store node. */
function completionFlows(collector: Collector, keep = false): FlowNode[] {
    const flows: FlowNode[] = [{ id: TAB, type: "tab", label: "completion" }];
    for (const [name, chain] of Object.entries(CHAINS)) {
        const store = `store-${name}`;
        const built = chain(store, collector) as ReturnType<Chain> & { extra?: string };
        const outputs = [built.first, ...(built.extra ? [built.extra] : [])];
        flows.push(
            { id: `r-${name}`, type: "synthesis-webhook", z: TAB, name, path: `/c/${name}`, keep, wires: [outputs, []] },
            ...built.nodes,
            ...(built.subflows ?? []),
            fn(store, name === "split" ? STORE_ARRAY : STORE),
        );
        if (name === "link-call") flows.find((node) => node.id === store)!.wires = [["link-return"]];
    }
    return placed(flows);
}

/** Gives every flow node a place on the workspace: Node-RED takes a node without x and y for a configuration node. */
function placed(flows: FlowNode[]): FlowNode[] {
    return flows.map((node, index) => (node.type === "tab" || node.type === "subflow" || "x" in node ? node : { x: 100 + (index % 6) * 180, y: 40 + Math.floor(index / 6) * 60, ...node }));
}

type List = { deliveries: DeliverySummary[] };

async function deliveriesOf(nodeRed: NodeRedProcess, node: string): Promise<DeliverySummary[]> {
    return (await request<List>(nodeRed.adminUrl(`/verified-webhooks/deliveries?node=${node}`))).json.deliveries;
}

/** Waits until node `node`'s newest delivery shows `states`. */
async function statesOf(nodeRed: NodeRedProcess, node: string, want: readonly EventState[], timeoutMs = 5000): Promise<DeliverySummary> {
    const [newest] = await until(() => deliveriesOf(nodeRed, node), ([found]) => JSON.stringify(found?.states) === JSON.stringify(want), `${node}: ${JSON.stringify(want)}`, timeoutMs);
    return newest!;
}

function batch(tag: string, actions: readonly string[]): string {
    return JSON.stringify(actions.map((action, index) => ({ ...synthesisBatch(1, action)[0], uuid: `${tag}-${index}-${Date.now()}` })));
}

const LEGACY_NODE = path.join(PACKAGE_ROOT, "test", "support", "legacy-node");

describe("end to end: handled means every node on the way completed the event", function () {
    this.timeout(90000);
    const suite = startedForSuite({ extraModules: { "legacy-relay": LEGACY_NODE } });
    let nodeRed: NodeRedProcess;

    before(async () => {
        nodeRed = suite.nodeRed;
        await nodeRed.deploy(completionFlows(suite.collector));
    });

    for (const name of Object.keys(CHAINS)) {
        it(`${name}: handled events end handled, the deletion failed, none pending`, async () => {
            const response = await nodeRed.post(`/c/${name}`, batch(name, ["create", "delete"]));
            assert.equal(response.status, 200, response.text);
            const summary = await statesOf(nodeRed, `r-${name}`, ["handled", "failed"]);
            assert.equal(summary.flow, "failed");
        });
    }

    it("a delay keeps its events pending until it lets them go", async () => {
        assert.equal((await nodeRed.post("/c/delay", batch("delay-pending", ["create"]))).status, 200);
        await statesOf(nodeRed, "r-delay", ["pending"], 500);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual((await deliveriesOf(nodeRed, "r-delay"))[0]!.states, ["pending"], "still in the delay node");
        await statesOf(nodeRed, "r-delay", ["handled"], 3000);
    });

    it("a switch that drops an event (no rule matches) completes it", async () => {
        assert.equal((await nodeRed.post("/c/switch", batch("switch-drop", ["ignore", "create", "ignore"]))).status, 200);
        await statesOf(nodeRed, "r-switch", ["handled", "handled", "handled"]);
        assert.equal((await nodeRed.post("/c/legacy", batch("legacy-drop", ["ignore", "delete"]))).status, 200);
        await statesOf(nodeRed, "r-legacy", ["handled", "failed"]);
    });

    it("a join rebuilding SynthesisVR's batch completes every event it joined", async () => {
        const joinFlows = completionFlows(suite.collector).concat(placed([
            { id: "r-join", type: "synthesis-webhook", z: TAB, name: "join", path: "/c/join", wires: [["join-1"], []] },
            { id: "join-1", type: "join", z: TAB, mode: "auto", build: "object", property: "payload", propertyType: "msg", key: "topic", joiner: "\\n", joinerType: "str", accumulate: false, timeout: "", count: "", wires: [["store-join"]] },
            fn("store-join", "return msg;"),
        ]));
        await nodeRed.deploy(joinFlows);
        assert.equal((await nodeRed.post("/c/join", batch("join", ["create", "create", "delete"]))).status, 200);
        await statesOf(nodeRed, "r-join", ["handled", "handled", "handled"]);
    });
});

describe("end to end: with deliveries kept until handled, a deploy re-emits nothing the flow handled", function () {
    this.timeout(90000);
    const suite = startedForSuite({ extraModules: { "legacy-relay": LEGACY_NODE } });

    it("every chain's handled events stay handled across full deploys; only the failed ones come again", async () => {
        const { nodeRed, collector } = suite;
        const flows = completionFlows(collector, true);
        await nodeRed.deploy(flows);
        for (const name of Object.keys(CHAINS)) {
            assert.equal((await nodeRed.post(`/c/${name}`, batch(`kept-${name}`, ["create", "delete"]))).status, 200);
        }
        for (const name of Object.keys(CHAINS)) await statesOf(nodeRed, `r-${name}`, ["handled", "failed"]);

        await nodeRed.deploy(flows); // the editor's default: a full deploy
        await nodeRed.deploy(flows);
        await new Promise((resolve) => setTimeout(resolve, 1500)); // the delay chain's redelivery
        for (const name of Object.keys(CHAINS)) {
            const entries = await deliveriesOf(nodeRed, `r-${name}`);
            const events = entries.flatMap((entry) => entry.events);
            assert.equal(events.filter((event) => event === "create").length, 1, `${name}: the handled event was emitted once (${JSON.stringify(entries.map((entry) => [entry.events, entry.states, entry.attempt, entry.receivedAt]))})`);
        }
    });
});
