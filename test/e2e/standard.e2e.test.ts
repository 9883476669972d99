// Standard Webhooks in a real Node-RED with default settings: deliveries signed by the
// official library are emitted once; forgeries, replays and skewed timestamps are not.
import assert = require("node:assert/strict");
import { Webhook } from "standardwebhooks";
import { startedForSuite } from "../support/node-red-process.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

function signed(
    body: string,
    { id = `msg_${Math.random().toString(36).slice(2)}`, timestamp = Math.floor(Date.now() / 1000), secret = SECRET, svix = false }: { id?: string; timestamp?: number; secret?: string; svix?: boolean } = {},
): Record<string, string> {
    const signature = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
    const prefix = svix ? "svix" : "webhook";
    return { [`${prefix}-id`]: id, [`${prefix}-timestamp`]: String(timestamp), [`${prefix}-signature`]: signature };
}

describe("end to end: Standard Webhooks", function () {
    this.timeout(60000);
    const suite = startedForSuite();

    before(async () => {
        const { nodeRed, collector } = suite;
        const [tapNodes, wires] = collector.tap("standard", "tab-standard");
        await nodeRed.deploy([
            { id: "tab-standard", type: "tab", label: "standard" },
            { id: "standard", z: "tab-standard", type: "standard-webhook", path: "/standard", events: "*", wires, credentials: { secret: `whsec_b2xkLXNlY3JldC10by1yb3RhdGUtb3V0LTI0Ynl0\n${SECRET}` } },
            ...tapNodes,
        ]);
    });

    it("emits what the official library signs, once per webhook-id, with the type as topic", async () => {
        const { nodeRed, collector } = suite;
        const body = JSON.stringify({ type: "invoice.paid", timestamp: new Date().toISOString(), data: { id: "in_1" } });
        const headers = signed(body);
        const first = await nodeRed.post("/standard", body, headers);
        assert.deepEqual([first.status, first.json], [200, { ok: true }]);
        assert.equal((await nodeRed.post("/standard", body, headers)).status, 200, "a replay is answered");
        const [msg] = await collector.waitFor("standard:1", 1);
        assert.equal(msg.topic, "invoice.paid");
        assert.equal(msg.webhook.verified, true);
        assert.equal((await collector.settle("standard:1")).length, 1, "and not emitted again");
        const svix = await nodeRed.post("/standard", body, signed(body, { svix: true }));
        assert.equal(svix.status, 200, "Svix's header names");
        assert.equal((await collector.waitFor("standard:1", 2)).length, 2, "a new id is a new event");
    });

    it("refuses forged, skewed and unsigned deliveries with 401 and a one-line reason", async () => {
        const { nodeRed, collector } = suite;
        const body = JSON.stringify({ type: "user.created", data: {} });
        const cases = [
            signed(body, { secret: "whsec_Zm9yZ2VkLWtleS1vZi10aGUtYXR0YWNrZXItMjQ=" }),
            signed(body, { timestamp: Math.floor(Date.now() / 1000) - 600 }),
            signed(body, { timestamp: Math.floor(Date.now() / 1000) + 600 }),
            {},
        ];
        for (const headers of cases) {
            const response = await nodeRed.post("/standard", body, headers);
            assert.equal(response.status, 401, JSON.stringify(headers));
            assert.ok(typeof response.json.error === "string" && !response.json.error.includes("\n"));
        }
        assert.equal((await collector.settle("standard:1")).length, 0);
    });
});
