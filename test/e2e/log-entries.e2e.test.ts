// One entry per delivery in the delivery log, telling its events' fate, in a real Node-RED:
// the README's own path with "Keep deliveries until handled" (an event fails, the flow is
// fixed and deployed, which redelivers it, handled; then Replay failed emits nothing), a
// failed event handled by a replay (the original shows it handled), and a delivery parked
// after its max. attempts, logged once however many deploys follow.
import assert = require("node:assert/strict");
import http = require("node:http");
import { until } from "../support/assertions.js";
import { request, startedForSuite, type FlowNode, type NodeRedProcess } from "../support/node-red-process.js";
import { synthesisBatch } from "../support/fixtures.js";
import type { DeliveryDetails, DeliverySummary } from "../../nodes/log/delivery-log.js";

const TAB = "tab-entries";
const FAILS_ON_DELETE = 'if (msg.payload.action === "delete") throw new Error("database down");\nreturn msg;';
const FIXED = "return msg;";
const ALWAYS_FAILS = 'throw new Error("still down");';

function flows(store: string, keep: boolean, maxAttempts?: number): FlowNode[] {
    return [
        { id: TAB, type: "tab", label: "entries" },
        { id: "orders-in", type: "synthesis-webhook", z: TAB, name: "orders", path: "/orders", keep, ...(maxAttempts ? { maxAttempts } : {}), x: 100, y: 100, wires: [["store"], []] },
        { id: "store", type: "function", z: TAB, name: "the store", func: store, outputs: 1, x: 300, y: 100, wires: [[]] },
    ];
}

type List = { deliveries: DeliverySummary[] };
type ReplayFailed = { replayed: { replayOf: string; deliveryId: string; events: number }[]; skipped: { deliveryId: string; reason: string }[] };

describe("end to end: one log entry per delivery, telling its events' fate", function () {
    this.timeout(60000);
    const suite = startedForSuite();
    let nodeRed: NodeRedProcess;
    const admin = (path: string) => nodeRed.adminUrl(`/verified-webhooks/deliveries${path}`);
    const list = async () => (await request<List>(admin("?node=orders-in"))).json.deliveries;
    const details = async (id: string) => (await request<DeliveryDetails>(admin(`/${id}`))).json;
    const replayFailed = async () =>
        (await request<ReplayFailed>(admin("/replay-failed"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ node: "orders-in", since: 0 }) })).json;


    async function send(tag: string): Promise<void> {
        const batch = JSON.stringify(["create", "delete"].map((action, index) => ({ ...synthesisBatch(1, action)[0], uuid: `${tag}-${Date.now()}-${index}` })));
        assert.equal((await nodeRed.post("/orders", batch)).status, 200);
    }

    before(() => {
        nodeRed = suite.nodeRed;
    });

    it("kept: fix the flow and deploy (the failed event is redelivered and handled): one entry, handled, with its history; Replay failed emits nothing", async () => {
        await nodeRed.deploy(flows(FAILS_ON_DELETE, true));
        await send("kept");
        const [failed] = await until(list, (deliveries) => deliveries[0]?.flow === "failed", "the deletion failed");
        await nodeRed.deploy(flows(FIXED, true)); // the fix: redelivers the kept event
        const deliveries = await until(list, (found) => found[0]?.flow === "handled", "the redelivered event handled");
        assert.equal(deliveries.length, 1, `one entry for the delivery: ${JSON.stringify(deliveries.map((entry) => [entry.deliveryId, entry.states]))}`);
        assert.equal(deliveries[0]!.deliveryId, failed!.deliveryId);
        assert.equal(deliveries[0]!.attempt, 2);
        const { emitted } = await details(failed!.deliveryId);
        assert.equal(emitted[1]!.state, "handled");
        assert.equal(emitted[1]!.attempt, 2);
        assert.deepEqual(emitted[1]!.history?.map((earlier) => earlier.state), ["failed"]);
        assert.match(emitted[1]!.history![0]!.error ?? "", /database down/);
        assert.equal(emitted[0]!.history, undefined, "the event handled the first time has no history");

        const result = await replayFailed();
        assert.deepEqual(result.replayed, [], "nothing failed is left to replay");
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal((await list()).length, 1, "and nothing was emitted again");
    });

    it("not kept: a failed event replayed and handled shows handled in the original's entry; Replay failed then emits nothing", async () => {
        await nodeRed.deploy(flows(FAILS_ON_DELETE, false));
        await send("replayed");
        const [failed] = await until(list, (deliveries) => deliveries[0]?.flow === "failed", "the deletion failed");
        await nodeRed.deploy(flows(FIXED, false));
        const first = await replayFailed();
        assert.equal(first.replayed.filter((replay) => replay.replayOf === failed!.deliveryId).length, 1);
        const replayId = first.replayed.find((replay) => replay.replayOf === failed!.deliveryId)!.deliveryId;
        const original = await until(() => details(failed!.deliveryId), (found) => found.flow === "handled", "the original handled by its replay");
        assert.equal(original.emitted[1]!.handledBy, replayId);
        assert.deepEqual(original.emitted[1]!.history?.map((earlier) => earlier.state), ["failed"]);
        const second = await replayFailed();
        assert.equal(second.replayed.length, 0, `Replay failed again emits nothing: ${JSON.stringify(second)}`);
    });

    it("parked after its max. attempts: logged once, however many deploys follow", async () => {
        await nodeRed.deploy(flows(ALWAYS_FAILS, true, 2));
        await send("parked");
        const [failed] = await until(list, (deliveries) => deliveries[0]?.flow === "failed" && deliveries[0].states.every((state) => state === "failed"), "both events failed");
        for (let deploy = 0; deploy < 3; deploy++) {
            await nodeRed.deploy(flows(ALWAYS_FAILS, true, 2));
            await new Promise((resolve) => setTimeout(resolve, 300));
        }
        const entries = (await list()).filter((entry) => entry.deliveryId === failed!.deliveryId);
        assert.equal(entries.length, 1, "one entry");
        const { emitted } = await details(failed!.deliveryId);
        assert.ok(emitted.every((event) => event.state === "failed" && /parked after 2 attempts/.test(event.error ?? "")), JSON.stringify(emitted));
    });

    it("refused and duplicate requests, however many, never push a failed delivery out of the log", async () => {
        await nodeRed.deploy(flows(FAILS_ON_DELETE, false));
        await send("flooded");
        const [failed] = await until(list, (deliveries) => deliveries[0]?.flow === "failed", "the deletion failed");
        // 1,100 refusals (GETs: 405; broken JSON: 400) and duplicates, as fast as they come.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
        const hit = (method: string, body?: string) =>
            new Promise<void>((resolve) => {
                const req = http.request({ host: "127.0.0.1", port: nodeRed.port, path: "/orders", method, agent, headers: { "content-type": "application/json" } }, (res) => {
                    res.resume();
                    res.on("end", () => resolve());
                });
                req.on("error", () => resolve());
                req.end(body);
            });
        const original = (await details(failed!.deliveryId)).emitted.map((event) => event.payload);
        await Promise.all(Array.from({ length: 1100 }, (_, n) => (n % 3 === 0 ? hit("GET") : n % 3 === 1 ? hit("POST", "{broken") : hit("POST", JSON.stringify(original)))));
        agent.destroy();
        const kept = await request<DeliveryDetails>(admin(`/${failed!.deliveryId}`));
        assert.equal(kept.status, 200, "the failed delivery is still in the log");
        assert.equal(kept.json.flow, "failed");
        const replayed = await request<{ events: number }>(admin(`/${failed!.deliveryId}/replay`), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
        assert.equal(replayed.status, 200, replayed.text);
    });
});
