// "Send test event": the admin route behind the editor's button, in a real Node-RED, and
// the command-line signer that shares its samples.
import assert = require("node:assert/strict");
import http = require("node:http");
import net = require("node:net");
import { NodeRedProcess, request, startedForSuite, Collector } from "../support/node-red-process.js";
import { nodeRedWithAdminAuth, tokenFor } from "../support/admin-auth.js";
import type { SynthesisEvent } from "../../nodes/providers/synthesis.js";
import type { WmsEvent } from "../../nodes/providers/wms.js";
import { SAMPLE_EVENTS, signDelivery } from "../../nodes/samples.js";
import { wmsSignature } from "../../nodes/providers/wms.js";

const RECEIVERS = [
    { id: "mentra", type: "mentra-webhook", path: "/mentra", provider: "mentra", credentials: { secret: "mentra-token" } },
    { id: "wms", type: "wms-webhook", path: "/wms", provider: "wms", credentials: { secret: "wms-secret\nolder-secret" } },
    { id: "synthesis", type: "synthesis-webhook", path: "/synthesis", provider: "synthesis", credentials: { secret: "synthesis-token" } },
    { id: "meshagent", type: "meshagent-webhook", path: "/meshagent", provider: "meshagent", credentials: { secret: "mesh-secret" } },
];

async function deployReceivers(nodeRed: NodeRedProcess, collector: Collector) {
    await nodeRed.deploy(collector.tappedTab("tab-test-events", RECEIVERS.map(({ provider: _provider, ...receiver }) => receiver)));
}

describe("send test event, from the editor's admin route", function () {
    this.timeout(60000);
    const suite = startedForSuite();
    let nodeRed: NodeRedProcess;
    let collector: Collector;

    before(async () => {
        ({ nodeRed, collector } = suite);
        await deployReceivers(nodeRed, collector);
    });

    const sendTest = (id: string, event?: string) =>
        request(nodeRed.adminUrl(`/verified-webhooks/${id}/test`), {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(event === undefined ? {} : { event }),
        });

    it("refuses a node path that would send the test event, and its token, to another host", async () => {
        let stolen = 0;
        const thief = http.createServer((_req, res) => {
            stolen++;
            res.end();
        });
        await new Promise<void>((resolve) => thief.listen(0, "127.0.0.1", resolve));
        try {
            const { port } = thief.address() as net.AddressInfo;
            const tab = "tab-unsafe";
            const unsafe = [
                { id: "unsafe-backslash", path: `/\\127.0.0.1:${port}/steal` },
                { id: "unsafe-tab", path: "/syn\tthesis" },
                { id: "unsafe-dots", path: "/../admin" },
            ];
            await nodeRed.deploy([
                ...(await nodeRed.flows()).flows,
                { id: tab, type: "tab", label: "unsafe" },
                ...unsafe.map(({ id, path }) => ({ id, z: tab, type: "synthesis-webhook", path, wires: [[], []], credentials: { secret: "synthesis-token" } })),
            ]);
            for (const { id } of unsafe) assert.equal((await sendTest(id)).status, 404, `${id} is not listening, so it cannot be sent to`);
            assert.equal(stolen, 0);
            assert.match(nodeRed.log, /The path holds a backslash, white space/);
        } finally {
            await new Promise<void>((resolve) => thief.close(() => resolve()));
        }
    });

    it("marks test events only when the marker is this process's own, or sent with a valid signature or token", async () => {
        const sample = await signDelivery("synthesis", [{ ...(SAMPLE_EVENTS.synthesis!.create!() as SynthesisEvent[])[0], uuid: "marker-1" }]);
        // The signer's "1" on a delivery that verified (the token): a test event.
        await nodeRed.post("/synthesis/synthesis-token", sample.body, { "x-verified-webhooks-test": "1" });
        // A guessed marker on a delivery that did not verify: refused (401) anyway; on WMS with a valid MAC and a guessed nonce: not a test.
        const body = JSON.stringify({ ...(SAMPLE_EVENTS.wms!.MEASUREMENT_CREATED!() as WmsEvent), sessionId: "marker-session" });
        await nodeRed.post("/wms", body, { "x-wms-content-mac": wmsSignature(body, "wms-secret"), "x-verified-webhooks-test": "guessed-nonce-value-xxxxxx" });
        const [synthesisEvent] = await collector.waitFor("synthesis:1", 1);
        const [wmsEvent] = await collector.waitFor("wms:1", 1);
        assert.equal(synthesisEvent.webhook.test, true);
        assert.equal(wmsEvent.webhook.test, false);
    });

    it("lists the sample events of every provider", async () => {
        const { status, json } = await request(nodeRed.adminUrl("/verified-webhooks/samples"));
        assert.equal(status, 200);
        assert.deepEqual(json.wms, Object.keys(SAMPLE_EVENTS.wms));
        assert.deepEqual(Object.keys(json).sort(), ["mentra", "meshagent", "standard", "synthesis", "wms"]);
    });

    it("sends every sample, signed with the node's secret, through each node's real endpoint: each test a new event, twice over", async () => {
        for (const { id, provider } of RECEIVERS) {
            const names = Object.keys(SAMPLE_EVENTS[provider]!);
            // Each sample twice: a second test is a new event too (fresh ids, the next sequence), never a duplicate.
            for (const event of [...names, ...names]) {
                const response = await sendTest(id, event);
                assert.equal(response.status, 200, `${id} ${event}: ${response.text}`);
                assert.equal(response.json.event, event);
                assert.equal(response.json.status, 200, `${id} ${event}: ${response.json.body}`);
                assert.equal(response.json.outcome, "accepted", `${id} ${event}: a new event`);
                assert.match(String(response.json.deliveryId), /^[0-9a-f-]{36}$/);
            }
            const events = await collector.waitFor(`${id}:1`, names.length * 2);
            assert.deepEqual(events.map((msg) => msg.topic), [...names, ...names]);
            assert.ok(events.every((msg) => msg.webhook.verified === true), `${id} verified with its secret`);
            assert.ok(events.every((msg) => msg.webhook.test === true), `${id}: marked as test events`);
            if (provider === "wms") {
                // One session of samples, its positions in order: no gap reported.
                assert.equal(new Set(events.map((msg) => msg.payload.sessionId)).size, 1);
                assert.ok(events.every((msg) => msg.webhook.missingCount === 0), JSON.stringify(events.map((msg) => msg.webhook.missing)));
            }
            assert.equal((await collector.settle(`${id}:2`, 50)).length, 0);
        }
    });

    it("repeats the previous test on purpose, byte for byte: answered 200, said to be a duplicate, nothing emitted, counted apart on the status", async () => {
        collector.clear();
        const first = await sendTest("synthesis", "create");
        assert.equal(first.json.outcome, "accepted");
        await collector.waitFor("synthesis:1", 1);
        const repeat = await request(nodeRed.adminUrl("/verified-webhooks/synthesis/test"), {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ repeat: true }),
        });
        assert.equal(repeat.status, 200, repeat.text);
        assert.equal(repeat.json.status, 200);
        assert.equal(repeat.json.repeat, true);
        assert.equal(repeat.json.event, "create");
        assert.equal(repeat.json.outcome, "duplicate");
        assert.equal((await collector.settle("synthesis:1", 200)).length, 1, "a duplicate reaches no flow");
        // The log links the duplicate to the delivery it repeats.
        const logged = await request<{ duplicateOf?: string; outcome: string }>(nodeRed.adminUrl(`/verified-webhooks/deliveries/${repeat.json.deliveryId}`));
        assert.equal(logged.json.outcome, "duplicate");
        assert.equal(logged.json.duplicateOf, first.json.deliveryId);
        const stats = await request<{ accepted: number; duplicates: number }>(nodeRed.adminUrl("/verified-webhooks/nodes/synthesis/stats"));
        assert.equal(stats.json.duplicates, 1, "counted as a duplicate, not as ok");
    });

    it("sends the provider's first sample when no event is named", async () => {
        const response = await sendTest("wms");
        assert.equal(response.json.event, "MEASUREMENT_CREATED");
    });

    it("refuses an unknown event (400) and a node that is not a deployed receiver (404)", async () => {
        assert.equal((await sendTest("wms", "NOT_AN_EVENT")).status, 400);
        for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
            assert.equal((await sendTest("wms", name)).status, 400, `${name} is not an event`);
        }
        assert.equal((await sendTest("no-such-node", "MEASUREMENT_CREATED")).status, 404);
        assert.equal((await sendTest("wms-fn1", "MEASUREMENT_CREATED")).status, 404);
    });
});

describe("send test event under adminAuth", function () {
    this.timeout(60000);
    let nodeRed: NodeRedProcess;

    before(async () => {
        nodeRed = await nodeRedWithAdminAuth().start();
    });
    after(async () => nodeRed?.stop());

    it("is guarded by Node-RED's permissions", async () => {
        const admin = { authorization: `Bearer ${await tokenFor(nodeRed, "admin")}`, "content-type": "application/json" };
        const deployed = await request(nodeRed.adminUrl("/flows"), {
            method: "POST",
            headers: { ...admin, "Node-RED-API-Version": "v2" },
            body: JSON.stringify({ flows: [{ id: "wms", type: "wms-webhook", path: "/wms", wires: [[], []], credentials: { secret: "s" } }] }),
        });
        assert.equal(deployed.status, 200);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const url = nodeRed.adminUrl("/verified-webhooks/wms/test");
        const body = JSON.stringify({ event: "MEASUREMENT_CREATED" });
        assert.equal((await request(url, { method: "POST", headers: { "content-type": "application/json" }, body })).status, 401);
        const viewer = { authorization: `Bearer ${await tokenFor(nodeRed, "viewer")}`, "content-type": "application/json" };
        assert.equal((await request(url, { method: "POST", headers: viewer, body })).status, 401, "read permission is not enough");
        assert.equal((await request(nodeRed.adminUrl("/verified-webhooks/samples"), { headers: viewer })).status, 200);
        const sent = await request(url, { method: "POST", headers: admin, body });
        assert.equal(sent.status, 200, sent.text);
        assert.equal(sent.json.status, 200);
    });
});
