/**
 * What one receiver node records of its deliveries: the delivery log (what arrived, what the
 * flow did with it) and, with "Keep deliveries until handled", the durable store (what was
 * acknowledged and not handled yet, emitted again when the node starts). The node shell
 * (receiver-node.ts) hands it what it emits and what the pipeline reports.
 */
import type { Node, NodeAPI } from "node-red";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { DeliveryInput, DeliveryRecord, EventMessage, Receiver } from "./pipeline.js";
import { deliveryLogRuntime, reportErrorsOf, type LogRuntime } from "./delivery-log-routes.js";
import type { LoggedEvent, NodeDeliveryLog } from "./delivery-log.js";
import { DurableStore, keyOf, type StoredEvent } from "./durable-store.js";
import { positiveNumber } from "./options.js";

/**
 * _msgid of the events a receiver emits: this process's random prefix and a counter, 16 hex
 * digits as Node-RED's own; ~50 ns where RED.util.generateId() takes ~600.
 */
const MSGID_PREFIX = randomBytes(4).toString("hex");
let msgCounter = 0;
const nextMsgid = () => MSGID_PREFIX + (msgCounter = (msgCounter + 1) >>> 0).toString(16).padStart(8, "0");

/** Deliveries between emit() and their answer at once, at most (each waits one turn, or a sync). */
const MAX_AWAITING_ANSWER = 10_000;
export const DEFAULT_MAX_ATTEMPTS = 5;

/** A delivery's emitted events, from emit() until the delivery is answered and logged. */
interface Emitted {
    readonly events: LoggedEvent[];
    readonly payloads: string[];
    readonly msgids: string[];
}

export interface PersistOptions {
    readonly persist?: unknown;
    readonly maxAttempts?: unknown;
}

/** The store of this runtime, in its user directory: opened once, on first use. */
const stores = new WeakMap<object, DurableStore>();
function storeOf(RED: NodeAPI): DurableStore {
    let store = stores.get(RED.httpAdmin);
    if (!store) {
        const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
        store = DurableStore.open(join(userDir, "verified-webhooks", "deliveries"));
        stores.set(RED.httpAdmin, store);
    }
    return store;
}

export class NodeDeliveries<Event> {
    readonly logRuntime: LogRuntime;
    readonly log: NodeDeliveryLog;
    readonly logging: boolean;
    readonly store: DurableStore | undefined;
    readonly maxAttempts: number;
    private readonly awaitingAnswer = new Map<string, Emitted>();
    /** Payloads made JSON for the store, reused when the same delivery is emitted. */
    private readonly storedPayloads = new Map<string, string[]>();
    /** Of a delivery emitted again: the store's index of each event (some of a batch may be handled already). */
    private readonly storeIndices = new Map<string, { deliveryId: string; indices: number[] }>();
    /** The replay being emitted: where its events are kept under the original delivery, if they are. */
    private replayLink: { deliveryId: string; indices: number[] } | undefined;

    constructor(
        private readonly RED: NodeAPI,
        private readonly node: Node,
        private readonly providerName: string,
        config: { readonly logDeliveries?: unknown; readonly logHours?: unknown } & PersistOptions,
        limits: Parameters<LogRuntime["logs"]["forNode"]>[1],
    ) {
        this.logRuntime = deliveryLogRuntime(RED);
        this.log = this.logRuntime.logs.forNode(node.id, limits);
        this.logging = this.log.limits.maxDeliveries > 0;
        this.store = config.persist === true || config.persist === "true" ? storeOf(RED) : undefined;
        this.maxAttempts = Math.floor(positiveNumber(config.maxAttempts, DEFAULT_MAX_ATTEMPTS));
    }

    /** Whether emitted events are followed through the flow (for the log, or to forget kept ones). */
    get following(): boolean {
        return this.logging || this.store !== undefined;
    }

    /** Keeps a delivery's events on disk before they are emitted; resolves once synced. */
    persist = (events: readonly EventMessage<unknown>[], delivery: DeliveryInput<unknown>): Promise<void> | undefined => {
        const store = this.store;
        if (!store) return undefined;
        const { info } = delivery;
        const payloads = events.map((message) => JSON.stringify(message.payload));
        this.storedPayloads.set(info.deliveryId, payloads);
        return store.put(
            payloads.map((payload, index) => ({
                nodeId: this.node.id,
                deliveryId: info.deliveryId,
                index,
                receivedAt: info.receivedAt,
                verified: info.verified,
                test: info.test,
                remoteAddress: delivery.remoteAddress,
                payload,
                attempts: 1,
                parked: false,
            })),
        );
    };

    /** Follows each emitted event to the nodes on output 1 (by a _msgid of ours), its payload kept as emitted. */
    emitted(events: EventMessage<Event>[], wiredTo: readonly string[], targets: readonly (Node | null)[]): void {
        for (let index = 0; index < wiredTo.length; index++) {
            const target = targets[index];
            if (target) reportErrorsOf(target, this.logRuntime.tracker);
        }
        const deliveryId = events[0]!.webhook.deliveryId;
        const payloads = this.storedPayloads.get(deliveryId);
        this.storedPayloads.delete(deliveryId);
        const replayOf = events[0]!.webhook.replayOf;
        const reemitted = this.storeIndices.get(deliveryId) ?? (replayOf !== undefined && this.replayLink?.deliveryId === replayOf ? this.replayLink : undefined);
        this.storeIndices.delete(deliveryId);
        const emitted: Emitted = { events: [], payloads: [], msgids: [] };
        events.forEach((message, position) => {
            const msgid = nextMsgid();
            (message as EventMessage<Event> & { _msgid?: string })._msgid = msgid;
            const logged: LoggedEvent = { name: message.topic, state: "pending" };
            emitted.events.push(logged);
            // Taken now: the next nodes may change the payload they are handed.
            emitted.payloads.push(payloads?.[position] ?? JSON.stringify(message.payload));
            emitted.msgids.push(msgid);
            const kept = this.keptKey(deliveryId, position, payloads !== undefined, reemitted);
            const store = this.store;
            this.logRuntime.tracker.follow(msgid, wiredTo, logged, deliveryId, kept && store ? () => store.remove(kept) : undefined);
        });
        if (this.awaitingAnswer.size >= MAX_AWAITING_ANSWER) this.awaitingAnswer.delete(this.awaitingAnswer.keys().next().value!);
        this.awaitingAnswer.set(deliveryId, emitted);
    }

    /** Where event `position` of an emitted delivery is kept, if it is. */
    private keptKey(deliveryId: string, position: number, justStored: boolean, reemitted: { deliveryId: string; indices: number[] } | undefined) {
        if (reemitted) {
            const index = reemitted.indices[position];
            return index === undefined ? undefined : keyOf({ nodeId: this.node.id, deliveryId: reemitted.deliveryId, index });
        }
        return justStored ? keyOf({ nodeId: this.node.id, deliveryId, index: position }) : undefined;
    }

    /** Every delivery once answered: the log records it; a refused one is forgotten by the store. */
    delivered = (record: DeliveryRecord): void => {
        const emitted = this.awaitingAnswer.get(record.deliveryId);
        this.awaitingAnswer.delete(record.deliveryId);
        // Kept and not emitted yet: refused between the sync and the emit (a deploy, a failed sync).
        const storedOnly = this.storedPayloads.get(record.deliveryId);
        this.storedPayloads.delete(record.deliveryId);
        const refused = record.status >= 300;
        if (refused) {
            // Refused after emit(): the flow engine drops those messages (their next nodes stopped).
            if (emitted) this.logRuntime.tracker.forget(emitted.msgids);
            // Answered 503 after it was kept: the sender retries, so it must not come back after a restart too.
            const kept = emitted?.events.length ?? storedOnly?.length ?? 0;
            if (this.store && kept > 0) this.store.removeDelivery(this.node.id, record.deliveryId, kept);
        }
        if (!this.logging) return;
        // Spelled out rather than spread: a spread of the record costs microseconds a delivery.
        this.log.add({
            deliveryId: record.deliveryId,
            receivedAt: record.receivedAt,
            verified: record.verified,
            test: record.test,
            remoteAddress: record.remoteAddress,
            status: record.status,
            reason: record.reason,
            accepted: record.accepted,
            duplicates: record.duplicates,
            rejected: record.rejected,
            replayOf: record.replayOf,
            attempt: record.attempt,
            nodeId: this.node.id,
            nodeName: this.node.name || "",
            provider: this.providerName,
            events: refused ? [] : (emitted?.events ?? []),
            payloads: refused ? [] : (emitted?.payloads ?? []),
        });
        this.logRuntime.changed(record.deliveryId);
    };

    /**
     * Replays by hand (from the delivery log). A kept event of the original (failed, or
     * parked) is forgotten once its replay is handled.
     */
    replay(receiver: Receiver<Event, unknown, unknown>, events: readonly { index: number; payload: unknown }[], original: Parameters<Receiver<Event, unknown, unknown>["replay"]>[1]): string {
        this.replayLink = this.store ? { deliveryId: original.deliveryId, indices: events.map((event) => event.index) } : undefined;
        try {
            return receiver.replay(
                events.map((event) => event.payload),
                original,
            );
        } finally {
            this.replayLink = undefined;
        }
    }

    /**
     * When the node starts (after a restart, a crash or a redeploy): emits again every event
     * this node acknowledged and the flow did not handle, with msg.webhook.redelivered and its
     * attempt; past the max. attempts, parks it as failed in the delivery log (replayable).
     */
    async redeliver(receiver: Receiver<Event, unknown, unknown>): Promise<void> {
        const store = this.store;
        if (!store) return;
        const byDelivery = new Map<string, StoredEvent[]>();
        for (const event of store.eventsOf(this.node.id)) {
            const list = byDelivery.get(event.deliveryId) ?? [];
            list.push(event);
            byDelivery.set(event.deliveryId, list);
        }
        for (const [deliveryId, kept] of byDelivery) {
            const first = kept[0]!;
            const original = { deliveryId, receivedAt: first.receivedAt, verified: first.verified, test: first.test, remoteAddress: first.remoteAddress };
            const attempt = Math.max(...kept.map((event) => event.attempts)) + 1;
            if (first.parked || attempt > this.maxAttempts) {
                if (!first.parked) await store.put(kept.map((event) => ({ ...event, parked: true })));
                this.parked(receiver, kept, original);
                continue;
            }
            // The attempt is counted on disk before the event goes out again: a crash loop ends.
            await store.put(kept.map((event) => ({ ...event, attempts: attempt })));
            this.storeIndices.set(deliveryId, { deliveryId, indices: kept.map((event) => event.index) });
            try {
                receiver.redeliver(
                    kept.map((event) => JSON.parse(event.payload) as unknown),
                    original,
                    attempt,
                );
            } catch (error) {
                this.storeIndices.delete(deliveryId);
                this.node.warn(this.RED._("webhook.errors.redelivery", { deliveryId, reason: error instanceof Error ? error.message : String(error) }));
            }
        }
    }

    /** Kept events given up on: listed in the delivery log as failed, for a replay by hand. */
    private parked(
        receiver: Receiver<Event, unknown, unknown>,
        kept: readonly StoredEvent[],
        original: { deliveryId: string; receivedAt: string; verified: boolean; test: boolean; remoteAddress: string | undefined },
    ): void {
        if (!this.logging) return;
        const error = this.RED._("webhook.log.parked", { attempts: String(this.maxAttempts) });
        this.log.add({
            ...original,
            status: 200,
            accepted: kept.length,
            duplicates: 0,
            rejected: 0,
            attempt: Math.max(...kept.map((event) => event.attempts)),
            nodeId: this.node.id,
            nodeName: this.node.name || "",
            provider: this.providerName,
            events: kept.map((event) => ({ name: receiver.eventNameOf(JSON.parse(event.payload) as unknown), state: "failed", error })),
            payloads: kept.map((event) => event.payload),
        });
        this.logRuntime.changed(original.deliveryId);
    }
}
