// One node's delivery log and durable store, without Node-RED: what is kept on disk, and
// what is forgotten when a kept delivery is refused after all.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import express = require("express");
import type { Node, NodeAPI } from "node-red";
import { NodeDeliveries } from "../../nodes/core/node-deliveries.js";
import { logLimitsOf } from "../../nodes/core/delivery-log.js";
import type { DeliveryInput, DeliveryRecord, EventMessage } from "../../nodes/core/pipeline.js";

/** The parts of Node-RED's node API the delivery log and the store use. */
function fakeRED(userDir: string): NodeAPI {
    return {
        httpAdmin: express(),
        hooks: { add() {}, remove() {} },
        comms: { publish() {} },
        auth: { needsPermission: () => (_req: unknown, _res: unknown, next: () => void) => next() },
        settings: { userDir },
        events: { once() {} },
        _: (key: string) => key,
    } as unknown as NodeAPI;
}

describe("one node's deliveries", () => {
    let userDir: string;
    beforeEach(() => {
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-node-deliveries-"));
    });
    afterEach(() => fs.rmSync(userDir, { recursive: true, force: true }));

    const info = { receivedAt: "2026-11-24T10:00:00.000Z", deliveryId: "d-1", verified: true, test: false };
    const message = (uuid: string): EventMessage<unknown> => ({ payload: { uuid, action: "create" }, topic: "create", webhook: { provider: "synthesis", ...info } });
    const input: DeliveryInput<unknown> = { wanted: [], identities: [], reservation: undefined, invalid: [], info, remoteAddress: "203.0.113.7" };
    const refused: DeliveryRecord = { ...info, remoteAddress: "203.0.113.7", status: 503, reason: "receiver is restarting: retry", accepted: 0, duplicates: 0, rejected: 0 };

    it("forgets a kept delivery refused between its sync and its emit, so the sender's retry is the only copy", async () => {
        const node = { id: "sessions-in", name: "", warn() {} } as unknown as Node;
        const deliveries = new NodeDeliveries(fakeRED(userDir), node, "synthesis", { persist: true }, logLimitsOf({}));
        const store = deliveries.store;
        assert.ok(store);
        await deliveries.persist([message("a"), message("b")], input);
        assert.equal(store.eventsOf("sessions-in").length, 2, "synced before anything else happens");
        deliveries.delivered(refused);
        await store.close(); // forgets what it was told to before it closes
        const { DurableStore } = await import("../../nodes/core/durable-store.js");
        const reopened = DurableStore.open(path.join(userDir, "verified-webhooks", "deliveries"));
        assert.deepEqual(reopened.eventsOf("sessions-in"), []);
        await reopened.close();
    });
});
