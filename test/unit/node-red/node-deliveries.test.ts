// One node's delivery log and durable store, without Node-RED: what is kept on disk, and
// what is forgotten when a kept delivery is refused after all.
import assert = require("node:assert/strict");
import { recoverAll } from "../../../nodes/keep/kept-events.js";
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import express = require("express");
import type { Node, NodeAPI } from "node-red";
import { keptEventsOf, NodeDeliveries } from "../../../nodes/node-red/node-deliveries.js";
import { logLimitsOf } from "../../../nodes/log/delivery-log.js";
import type { DeliveryInput, DeliveryRecord, EventMessage } from "../../../nodes/receive/pipeline.js";

/** The parts of Node-RED's node API the delivery log and the store use. */
function fakeRED(userDir: string): NodeAPI {
    return {
        httpAdmin: express(),
        hooks: { add() {}, remove() {} },
        comms: { publish() {} },
        auth: { needsPermission: () => (_req: unknown, _res: unknown, next: () => void) => next() },
        settings: { userDir },
        events: { once() {}, on() {} },
        _: (key: string) => key,
    } as unknown as NodeAPI;
}

describe("one node's deliveries", () => {
    let userDir: string;
    beforeEach(() => {
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-node-deliveries-"));
    });
    afterEach(() => fs.rmSync(userDir, { recursive: true, force: true }));

    const info = { receivedAt: "2026-01-01T10:00:00.000Z", deliveryId: "d-1", verified: true, test: false };
    const message = (uuid: string, deliveryId = info.deliveryId): EventMessage<unknown> => ({ payload: { uuid, action: "create" }, topic: "create", webhook: { provider: "synthesis", ...info, deliveryId } });
    const input = (deliveryId = info.deliveryId): DeliveryInput<unknown> => ({ wanted: [], identities: [], reservation: undefined, invalid: [], info: { ...info, deliveryId }, remoteAddress: "203.0.113.7" });
    const record = (status: number, deliveryId = info.deliveryId): DeliveryRecord => ({ ...info, deliveryId, remoteAddress: "203.0.113.7", status, reason: status === 200 ? undefined : "receiver is restarting: retry", accepted: status === 200 ? 2 : 0, duplicates: 0, rejected: 0 });
    const node = { id: "sessions-in", name: "", warn() {} } as unknown as Node;

    function nodeDeliveries(RED: NodeAPI) {
        return new NodeDeliveries(RED, node, "synthesis", undefined, { persist: true }, logLimitsOf({}), keptEventsOf(RED, { persist: true }, undefined, "synthesis:/sessions"));
    }
    /** What a node starting now would redeliver. */
    const keptNow = (RED: NodeAPI) => recoverAll(keptEventsOf(RED, { persist: true }, undefined, "synthesis:/sessions")!.store);

    it("forgets a kept delivery refused between its sync and its emit, so the sender's retry is the only copy", async () => {
        const RED = fakeRED(userDir);
        const deliveries = nodeDeliveries(RED);
        await deliveries.persist([message("a"), message("b")], input());
        assert.equal((await keptNow(RED)).length, 2, "synced before anything else happens");
        deliveries.delivered(record(503));
        assert.deepEqual(await keptNow(RED), []);
    });

    it("forgets each kept event once the flow handled it, and keeps the failed ones", async () => {
        const RED = fakeRED(userDir);
        const deliveries = nodeDeliveries(RED);
        const events = [message("a"), message("b")];
        await deliveries.persist(events, input());
        deliveries.emitted(events, ["next"], [null]);
        const msgids = events.map((event) => (event as { _msgid?: string })._msgid!);
        // What Node-RED's preDeliver hook reports as the events are sent.
        for (const msgid of msgids) deliveries.logRuntime.tracker.held(msgid, "next", true);
        deliveries.sent(events);
        deliveries.delivered(record(200));
        deliveries.logRuntime.tracker.completed(msgids[0], "next");
        deliveries.logRuntime.tracker.failed(msgids[1], "next", new Error("database down"));
        assert.deepEqual((await keptNow(RED)).map((kept) => JSON.parse(kept.payload).uuid), ["b"]);
    });
});
