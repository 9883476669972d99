// One node's outlet without Node-RED: what is kept on disk, what is forgotten when a kept
// delivery is refused after all or handled, and a replay as a delivery of its own.
import assert = require("node:assert/strict");
import { allPending } from "../../../nodes/keep/kept-events.js";
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import express = require("express");
import type { Node, NodeAPI } from "node-red";
import { DeliveryOutlet } from "../../../nodes/node-red/outlet.js";
import { keptEventsOf } from "../../../nodes/node-red/stores.js";
import { logLimitsOf } from "../../../nodes/log/delivery-log.js";
import type { AcceptedDelivery, AnswerRecord, EventMessage, RejectionMessage } from "../../../nodes/receive/pipeline.js";
import { synthesis, type SynthesisEvent } from "../../../nodes/providers/synthesis.js";
import { jsonOfText } from "../../../nodes/receive/record.js";

/** The parts of Node-RED's node API the delivery log and the store use. */
function fakeRED(userDir: string): NodeAPI {
    return {
        httpAdmin: express(),
        hooks: { add() {}, remove() {} },
        comms: { publish() {} },
        auth: { needsPermission: () => (_req: unknown, _res: unknown, next: () => void) => next() },
        settings: { userDir },
        nodes: { getNode: () => null },
        events: { once() {}, on() {}, off() {} },
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
    const message = (uuid: string): EventMessage<SynthesisEvent> => ({ payload: { uuid, action: "create" }, topic: "create", webhook: { provider: "synthesis", ...info } });
    /** A delivery as the pipeline hands it to the outlet, once decided. */
    const delivery = (events: EventMessage<SynthesisEvent>[]): AcceptedDelivery<SynthesisEvent> => ({
        info,
        remoteAddress: "203.0.113.7",
        events,
        rejections: [],
        duplicates: 0,
        invalid: 0,
        answer: { status: 200, body: { status: "ok" } },
        firstNewKey: undefined,
        firstRepeatedKey: undefined,
        // As received: a batch's body, with a space the validated events would not have.
        record: { body: Buffer.from(JSON.stringify(events.map((event) => event.payload), null, 1)), elements: events.map((_event, index) => index) },
    });
    const refusal = (status: number): [AnswerRecord, RejectionMessage] => [
        { ...info, remoteAddress: "203.0.113.7", status, reason: "receiver is restarting: retry", accepted: 0, duplicates: 0, rejected: 0 },
        { payload: { provider: "synthesis", status, reason: "receiver is restarting: retry" }, webhook: { provider: "synthesis", receivedAt: info.receivedAt, deliveryId: info.deliveryId, remoteAddress: "203.0.113.7" } },
    ];
    const sent: unknown[][] = [];
    const node = { id: "sessions-in", name: "", warn() {}, send: (messages: unknown[]) => void sent.push(messages) } as unknown as Node;

    function nodeDeliveries(RED: NodeAPI) {
        return new DeliveryOutlet<SynthesisEvent>(RED, node, synthesis, {}, { keep: true }, logLimitsOf({}), keptEventsOf(RED, { keep: true }, undefined, "synthesis:/sessions"));
    }
    /** What a node starting now would redeliver. */
    const keptNow = (RED: NodeAPI) => allPending(keptEventsOf(RED, { keep: true }, undefined, "synthesis:/sessions")!.store);

    it("installs Node-RED's message hooks once, when the first node that follows its messages starts (its log or keeping on), and not for one that follows none", () => {
        const RED = fakeRED(userDir);
        const added: string[] = [];
        (RED.hooks as unknown as { add(id: string): void }).add = (id) => void added.push(id);
        new DeliveryOutlet<SynthesisEvent>(RED, node, synthesis, {}, { keep: false }, logLimitsOf({ logDeliveries: 0 }));
        assert.deepEqual(added, [], "nothing followed: every message of every flow is spared the hooks");
        new DeliveryOutlet<SynthesisEvent>(RED, node, synthesis, {}, {}, logLimitsOf({}));
        assert.deepEqual([...added].sort(), ["onComplete", "onReceive", "postReceive", "preDeliver"].map((hook) => `${hook}.verified-webhooks`));
        new DeliveryOutlet<SynthesisEvent>(RED, node, synthesis, {}, {}, logLimitsOf({}));
        assert.equal(added.length, 4, "once per runtime");
    });

    it("forgets a kept delivery refused between its sync and its emit, so the sender's retry is the only copy", async () => {
        const RED = fakeRED(userDir);
        const outlet = nodeDeliveries(RED);
        const accepted = delivery([message("a"), message("b")]);
        await outlet.keep(accepted);
        assert.equal((await keptNow(RED)).length, 2, "synced before anything else happens");
        outlet.refused(...refusal(503), accepted);
        assert.deepEqual(await keptNow(RED), []);
        assert.equal(outlet.log.find(info.deliveryId)?.outcome, "rejected", "logged as the refusal it was");
    });

    it("forgets each kept event once the flow handled it, and keeps the failed ones", async () => {
        const RED = fakeRED(userDir);
        const outlet = nodeDeliveries(RED);
        const events = [message("a"), message("b")];
        const accepted = delivery(events);
        await outlet.keep(accepted);
        (node as unknown as { wires: string[][] }).wires = [["next"], []];
        // What Node-RED's preDeliver hook reports as each event is sent on.
        node.send = ((messages: { _msgid: string }[]) => void outlet.runtime.tracker.held(messages[0]!._msgid, "next", true)) as never;
        outlet.emit(accepted);
        const msgids = accepted.emitted!.msgids;
        outlet.answered(accepted);
        outlet.runtime.tracker.completed(msgids[0]!, "next");
        outlet.runtime.tracker.failed(msgids[1]!, "next", new Error("database down"));
        assert.deepEqual((await keptNow(RED)).map((kept) => (jsonOfText(kept.payload) as SynthesisEvent).uuid), ["b"]);

        // The flow is fixed: a replay of the failed event is a delivery of its own; once it is handled, the store forgets the original's kept event.
        const entry = outlet.log.find(info.deliveryId)!;
        assert.equal(entry.kept, accepted.kept, "the log entry holds what the store keeps of it, for a replay");
        let replayed: { _msgid: string; webhook: { deliveryId: string; replayOf?: string } } | undefined;
        node.send = ((messages: { _msgid: string; webhook: { deliveryId: string } }[]) => {
            replayed = messages[0];
            outlet.runtime.tracker.held(messages[0]!._msgid, "next", true);
        }) as never;
        const replayId = outlet.replay(entry, [{ index: 1, payload: { uuid: "b", action: "create" } }]);
        assert.equal(replayed?.webhook.replayOf, info.deliveryId);
        assert.equal(replayed?.webhook.deliveryId, replayId);
        assert.notEqual(replayId, info.deliveryId);
        outlet.runtime.tracker.completed(replayed!._msgid, "next");
        assert.deepEqual(await keptNow(RED), []);
        assert.equal(entry.report.events[1]!.state, "handled");
        assert.equal(entry.report.events[1]!.handledBy, replayId);
    });
});
