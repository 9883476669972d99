// The delivery log in a real Node-RED: a flow whose function node fails on some events, the
// admin API showing them failed, the flow fixed, the failed events replayed and handled;
// and the API's permissions under adminAuth.
import assert = require("node:assert/strict");
import WebSocket = require("ws");
import { until } from "../support/assertions.js";
import { NodeRedProcess, request, startedForSuite, type Collector, type FlowNode, type HttpResponse, type Tapped } from "../support/node-red-process.js";
import { signDelivery, synthesisBatch } from "../support/fixtures.js";
import { nodeRedWithAdminAuth, tokenFor } from "../support/admin-auth.js";
import { wmsSignature } from "../../nodes/providers/wms.js";
import type { DeliveryDetails, DeliverySummary } from "../../nodes/log/delivery-log.js";
import type { SynthesisEvent } from "../../nodes/providers/synthesis.js";

const TAB = "tab-log";
const WMS_SECRET = "log-wms-secret";

/** The function node the flow depends on: v1 fails on "delete" sessions (a database down), v2 is fixed. */
const STORE_V1 = 'if (msg.payload.action === "delete") throw new Error("database down");\nreturn msg;';
const STORE_FIXED = "return msg;";
/** A function node that reports an error for a message without throwing, as users write it. */
const CRM = 'if (msg.payload.event === "CONSTRAINT_VIOLATION") { node.error("crm refused the event", msg); return null; }\nreturn msg;';

function logFlow(collector: Collector, store = STORE_V1): FlowNode[] {
    const [storeTaps, storeWires] = collector.tap("stored", TAB, 600, 100);
    const [crmTaps, crmWires] = collector.tap("crm", TAB, 600, 300);
    return [
        { id: TAB, type: "tab", label: "delivery log" },
        { id: "orders-in", type: "synthesis-webhook", z: TAB, name: "orders", path: "/orders", wires: [["store-fn"], []] },
        { id: "store-fn", type: "function", z: TAB, name: "store", func: store, outputs: 1, wires: [storeWires[0]!] },
        { id: "sessions-in", type: "wms-webhook", z: TAB, name: "sessions", path: "/sessions", wires: [["crm-fn"], []], credentials: { secret: WMS_SECRET } },
        { id: "crm-fn", type: "function", z: TAB, name: "crm", func: CRM, outputs: 1, wires: [crmWires[0]!] },
        ...storeTaps.filter((node) => node.id.endsWith("1")),
        ...crmTaps.filter((node) => node.id.endsWith("1")),
    ];
}

type List = { deliveries: DeliverySummary[] };

describe("end to end: the delivery log, failed events and replay", function () {
    this.timeout(60000);
    const suite = startedForSuite();
    let nodeRed: NodeRedProcess;
    let collector: Collector;
    const admin = (path: string) => nodeRed.adminUrl(`/verified-webhooks/deliveries${path}`);
    const list = async (query = "") => (await request<List>(admin(query))).json.deliveries;
    const post = <Json>(path: string, body: object = {}) =>
        request<Json>(admin(path), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });


    before(async () => {
        ({ nodeRed, collector } = suite);
        await nodeRed.deploy(logFlow(collector));
    });

    it("lists every delivery newest first, with the flow's outcome per event", async () => {
        const started = Date.now();
        const batch = [...synthesisBatch(2, "create"), ...synthesisBatch(1, "delete")].map((event, index) => ({ ...event, uuid: `order-${started}-${index}` }));
        assert.equal((await nodeRed.post("/orders", JSON.stringify(batch))).status, 200);
        assert.equal((await nodeRed.post("/orders", JSON.stringify(batch))).status, 200, "a retry: a duplicate");
        assert.equal((await nodeRed.post("/orders", "{not json")).status, 400);

        const [refused, duplicate, accepted] = await until(
            () => list(`?node=orders-in&since=${started}`),
            (deliveries) => deliveries.length === 3 && deliveries[2]?.flow === "failed",
            "three deliveries, the first failed in the flow",
        );
        assert.deepEqual([refused!.outcome, duplicate!.outcome, accepted!.outcome], ["rejected", "duplicate", "accepted"]);
        assert.deepEqual(accepted!.states, ["handled", "handled", "failed"]);
        assert.deepEqual(accepted!.events, ["create", "create", "delete"]);
        assert.deepEqual(accepted!.counts, { accepted: 3, duplicates: 0, rejected: 0 });
        assert.equal(accepted!.nodeName, "orders");
        assert.equal(refused!.status, 400);
        assert.match(String(refused!.reason), /JSON/);
        assert.equal(refused!.replayable, false);

        const details = (await request<DeliveryDetails>(admin(`/${accepted!.deliveryId}`))).json;
        assert.deepEqual(details.emitted.map((event) => (event.payload as SynthesisEvent).uuid), batch.map((event) => event.uuid));
        assert.match(String(details.emitted[2]!.error), /database down/);
        assert.equal(details.emitted[2]!.failedAt, "store-fn");
        const refusedDetails = await request(admin(`/${refused!.deliveryId}`));
        assert.ok(!refusedDetails.text.includes("not json"), "never the body of a rejected delivery");

        assert.deepEqual((await list(`?status=failed&since=${started}`)).map((delivery) => delivery.deliveryId), [accepted!.deliveryId]);
        assert.deepEqual((await list(`?status=duplicate&since=${started}`)).map((delivery) => delivery.deliveryId), [duplicate!.deliveryId]);
        assert.deepEqual((await list(`?event=delete&since=${started}`)).map((delivery) => delivery.deliveryId), [accepted!.deliveryId]);
        assert.equal((await list(`?since=${started}&limit=1`)).length, 1);
        assert.equal((await request(admin("?status=lost"))).status, 400);
    });

    it("counts node.error(err, msg) as a failure, and forged deliveries as rejected with no body", async () => {
        const started = Date.now();
        const body = JSON.stringify({ timestamp: Math.floor(Date.now() / 1000), sessionId: `log-${started}`, sequence: 0, event: "CONSTRAINT_VIOLATION", severity: "WARN" });
        assert.equal((await nodeRed.post("/sessions", body, { "x-wms-content-mac": wmsSignature(body, WMS_SECRET) })).status, 200);
        assert.equal((await nodeRed.post("/sessions", body, { "x-wms-content-mac": wmsSignature(body, "guess") })).status, 401);
        const [forged, accepted] = await until(
            () => list(`?node=sessions-in&since=${started}`),
            (deliveries) => deliveries.length === 2 && deliveries[1]?.flow === "failed",
            "the crm failure",
        );
        assert.equal(forged!.status, 401);
        assert.equal(forged!.verified, false);
        const details = (await request<DeliveryDetails>(admin(`/${accepted!.deliveryId}`))).json;
        assert.equal(details.emitted[0]!.error, "crm refused the event");
        const forgedDetails = await request(admin(`/${forged!.deliveryId}`));
        assert.ok(!forgedDetails.text.includes(`log-${started}`) && !forgedDetails.text.includes(WMS_SECRET));
    });

    it("after the flow is fixed, replays the failed events: they are handled, marked replayOf, each once", async () => {
        const started = Date.now() - 60_000;
        const failedBefore = await list(`?status=failed&since=${started}`);
        assert.equal(failedBefore.length, 2);
        collector.clear();
        // The fix: the store function no longer fails (a modified-nodes deploy: the receivers keep running).
        const flows = (await nodeRed.flows()).flows.map((node) => (node.id === "store-fn" ? { ...node, func: STORE_FIXED } : node.id === "crm-fn" ? { ...node, func: "return msg;" } : node));
        await nodeRed.deploy(flows, "nodes");

        const replay = await post<{ replayed: { replayOf: string; deliveryId: string; events: number }[]; skipped: unknown[] }>("/replay-failed", { since: started });
        assert.equal(replay.status, 200, replay.text);
        assert.deepEqual(replay.json.replayed.map((entry) => entry.events).sort(), [1, 1], "only the failed events");
        const stored = await collector.waitFor<Tapped<SynthesisEvent>>("stored:1", 1);
        const crm = await collector.waitFor("crm:1", 1);
        const orders = replay.json.replayed.find((entry) => entry.replayOf === failedBefore.find((delivery) => delivery.node === "orders-in")?.deliveryId);
        assert.ok(orders);
        assert.equal(stored[0]!.webhook.replayOf, orders.replayOf);
        assert.equal(stored[0]!.webhook.deliveryId, orders.deliveryId);
        assert.equal(stored[0]!.payload.action, "delete");
        assert.equal(crm[0]!.webhook.replayOf !== undefined, true);

        for (const { deliveryId, replayOf } of replay.json.replayed) {
            const replayed = await until(
                async () => (await request<DeliveryDetails>(admin(`/${deliveryId}`))).json,
                (details) => details.flow === "handled",
                "the replay handled",
            );
            assert.equal(replayed.replayOf, replayOf);
            const original = (await request<DeliveryDetails>(admin(`/${replayOf}`))).json;
            // The failed event, handled by its replay: handled in the original's entry too, with its failure in its history.
            assert.ok(
                original.emitted.some((event) => event.state === "handled" && event.handledBy === deliveryId && event.replays?.includes(deliveryId) && event.history?.[0]?.state === "failed"),
                `the original points to its replay: ${JSON.stringify(original.emitted)}`,
            );
        }
        // Replay failed again: nothing left (each failed event is replayed once by this button).
        const again = await post<{ replayed: unknown[] }>("/replay-failed", { since: started });
        assert.deepEqual(again.json.replayed, []);
        assert.equal((await collector.settle("stored:1")).length, 1);
    });

    it("replays one accepted delivery on demand; 404 for an unknown one, 409 for one that emitted nothing", async () => {
        const started = Date.now();
        const sample = await signDelivery("synthesis", synthesisBatch(1).map((event) => ({ ...event, uuid: `single-${started}` })));
        assert.equal((await nodeRed.post("/orders", sample.body)).status, 200);
        assert.equal((await nodeRed.post("/orders", "[]")).status, 200);
        assert.equal((await nodeRed.post("/orders", "{")).status, 400);
        const [refused, empty, accepted] = await until(() => list(`?node=orders-in&since=${started}`), (deliveries) => deliveries.length === 3, "three deliveries");
        collector.clear();
        const replayed: HttpResponse = await post(`/${accepted!.deliveryId}/replay`);
        assert.equal(replayed.status, 200, replayed.text);
        assert.equal((await collector.waitFor("stored:1", 1))[0]!.webhook.replayOf, accepted!.deliveryId);
        assert.equal((await post("/no-such-delivery/replay")).status, 404);
        assert.equal((await request(admin("/no-such-delivery"))).status, 404);
        const nothing = await post(`/${empty!.deliveryId}/replay`);
        assert.equal(nothing.status, 409);
        assert.match(String((nothing.json as { error?: string }).error), /no event/);
        assert.equal((await post(`/${refused!.deliveryId}/replay`)).status, 409);
    });

    it("keeps a node's log across a full redeploy, and refuses to replay to a node that is gone (409)", async () => {
        const [newest] = await list("?node=orders-in&status=accepted&limit=1");
        assert.ok(newest);
        const flows = (await nodeRed.flows()).flows;
        await nodeRed.deploy(flows, "full");
        assert.equal((await list("?node=orders-in&limit=1"))[0]?.deliveryId, newest.deliveryId, "the log outlived the redeploy");
        await nodeRed.deploy(
            flows.filter((node) => node.id !== "orders-in"),
            "full",
        );
        assert.deepEqual(await list("?node=orders-in"), [], "a deleted node's log goes with it");
        await nodeRed.deploy(flows, "full");
    });
});

describe("end to end: the delivery log's admin API under adminAuth", function () {
    this.timeout(60000);
    let nodeRed: NodeRedProcess;

    before(async () => {
        nodeRed = await nodeRedWithAdminAuth().start();
    });
    after(async () => nodeRed?.stop());

    it("needs verified-webhooks.read to read and verified-webhooks.write to replay", async () => {
        const [adminToken, viewerToken] = [await tokenFor(nodeRed, "admin"), await tokenFor(nodeRed, "viewer")];
        const url = nodeRed.adminUrl("/verified-webhooks/deliveries");
        const as = (token?: string) => (token ? { authorization: `Bearer ${token}` } : {});
        assert.equal((await request(url)).status, 401, "anonymous");
        assert.equal((await request(url, { headers: as(viewerToken) })).status, 200, "read");
        assert.equal((await request(`${url}/x`, { headers: as(viewerToken) })).status, 404, "read: a delivery");
        const replay = (token: string, path: string) => request(`${url}${path}`, { method: "POST", headers: { ...as(token), "content-type": "application/json" }, body: "{}" });
        // Node-RED's needsPermission answers a token without the permission 401, as for its own routes.
        assert.equal((await replay(viewerToken, "/x/replay")).status, 401, "read is not write");
        assert.equal((await replay(viewerToken, "/replay-failed")).status, 401);
        assert.equal((await replay(adminToken, "/x/replay")).status, 404, "write: on to the delivery");
        assert.equal((await replay(adminToken, "/replay-failed")).status, 200);
    });

    it("tells every editor connection only that deliveries changed: what they hold is read through the API, with verified-webhooks.read", async () => {
        const deployed = await request(nodeRed.adminUrl("/flows"), {
            method: "POST",
            headers: { authorization: `Bearer ${await tokenFor(nodeRed, "admin")}`, "content-type": "application/json", "Node-RED-API-Version": "v2" },
            body: JSON.stringify({
                flows: [
                    { id: "tab-live", type: "tab", label: "live" },
                    { id: "live-in", type: "synthesis-webhook", z: "tab-live", path: "/live", keep: false, x: 100, y: 100, wires: [[], []] },
                ],
            }),
        });
        assert.equal(deployed.status, 200, deployed.text);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const token = await tokenFor(nodeRed, "flows-only");
        assert.equal((await request(nodeRed.adminUrl("/verified-webhooks/deliveries"), { headers: { authorization: `Bearer ${token}` } })).status, 401, "no verified-webhooks.read");
        const comms = new WebSocket(nodeRed.adminUrl("/comms").replace(/^http/, "ws"));
        const frames: unknown[] = [];
        comms.on("message", (data: WebSocket.RawData) => frames.push(...[JSON.parse(data.toString()) as unknown].flat()));
        // As the editor does: the token first, and only once it is accepted, the subscription.
        await new Promise<void>((resolve, reject) => {
            comms.on("open", () => comms.send(JSON.stringify({ auth: token })));
            comms.on("message", () => {
                if (frames.some((frame) => (frame as { auth?: string }).auth === "ok")) resolve();
                else if (frames.some((frame) => (frame as { auth?: string }).auth === "fail")) reject(new Error("comms refused the token"));
            });
            comms.on("error", reject);
        });
        comms.send(JSON.stringify({ subscribe: "verified-webhooks/deliveries" }));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const secretish = `live-${Date.now()}`;
        assert.equal((await nodeRed.post("/live", JSON.stringify([{ ...synthesisBatch(1)[0], uuid: secretish }]))).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 1200));
        comms.close();
        const live = frames.filter((frame) => (frame as { topic?: string }).topic === "verified-webhooks/deliveries");
        assert.ok(live.length > 0, `a notice arrived: ${JSON.stringify(frames).slice(0, 300)}`);
        for (const frame of live) assert.deepEqual(Object.keys((frame as { data: object }).data), ["changed"]);
        assert.doesNotMatch(JSON.stringify(frames), new RegExp(secretish), "nothing of the delivery reached this connection");
    });
});
