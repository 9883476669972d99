/**
 * What one receiver node records of its deliveries: the delivery log (what arrived, what the
 * flow did with it) and, with "Keep deliveries until handled", the store (what was
 * acknowledged and not handled yet, emitted again when the node starts, or when another
 * instance that kept it stopped). The node shell
 * (receiver-node.ts) hands it what it emits and what the pipeline reports.
 */
import type { Node, NodeAPI } from "node-red";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DeliveryInput, DeliveryRecord, EventMessage, Receiver } from "../receive/pipeline.js";
import { deliveryLogRuntime, type LogRuntime } from "./delivery-log-routes.js";
import { reportErrorsOf } from "./completion-hooks.js";
import { eventMovesOn, type LogEntry, type LoggedEvent, type NodeDeliveryLog } from "../log/delivery-log.js";
import { DurableStore, packageFolder } from "../keep/lmdb-store.js";
import { byDelivery, type KeptEvent, type KeptEvents } from "../keep/kept-events.js";
import { maxAttempts, type ReceiverOptions } from "./node-options.js";
import type { SharedStateNode } from "../dedup/state.js";

/**
 * _msgid of the events a receiver emits: this process's random prefix and a counter, 16 hex
 * digits as Node-RED's own; ~50 ns where RED.util.generateId() takes ~600.
 */
const MSGID_PREFIX = randomBytes(4).toString("hex");
let msgCounter = 0;
const nextMsgid = () => MSGID_PREFIX + (msgCounter = (msgCounter + 1) >>> 0).toString(16).padStart(8, "0");

/** Deliveries between emit() and their answer at once, at most (each waits one turn, or a sync). */
const MAX_AWAITING_ANSWER = 10_000;
/** Kept deliveries whose handles are remembered at once (the oldest are let go: redelivered after a restart). */
const MAX_KEPT_DELIVERIES = 100_000;
/** A store not readable when the node starts (Redis still connecting) is asked again this often; reported after this many tries. */
const RECOVER_RETRY_MS = 1000;
const RECOVER_PATIENCE = 5;

/** A delivery's emitted events, from emit() until the delivery is answered and logged. */
interface Emitted {
    readonly events: LoggedEvent[];
    readonly payloads: string[];
    readonly msgids: string[];
    /** A redelivery's: the entry its delivery already has in the log, updated rather than added. */
    readonly entry: LogEntry | undefined;
}

/**
 * A kept delivery, by its position in the latest emission: its payloads as kept (JSON, reused
 * for the log) and its handles in the store (none until the store has them; undefined: forgotten).
 */
interface KeptDelivery {
    readonly deliveryId: string;
    /** Per kept event, its place among the events of the delivery's log entry (undefined: in order). */
    readonly places: readonly number[] | undefined;
    /** Its payloads as kept, until emitted (the log then has them): not held in memory past that. */
    payloads: readonly string[] | undefined;
    handles: unknown[];
    remaining: number;
}

/** The store of this runtime, in its user directory: opened once, on first use. */
const stores = new WeakMap<object, DurableStore>();
function storeOf(RED: NodeAPI): DurableStore {
    let store = stores.get(RED.httpAdmin);
    if (!store) {
        const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
        store = DurableStore.open(join(packageFolder(userDir), "deliveries"));
        stores.set(RED.httpAdmin, store);
    }
    return store;
}

/** Where a receiver's deliveries are kept, and whether it keeps new ones (or only drains what is there). */
export interface KeptStore {
    readonly store: KeptEvents<unknown>;
    /** False: "Keep deliveries until handled" is off, but events an earlier node of the endpoint kept are still emitted once. */
    readonly keeps: boolean;
}

/**
 * Where the receiver of endpoint `scope` keeps its deliveries until handled: with a
 * shared-state node, the endpoint's Redis Stream (several instances); otherwise LMDB in the
 * user directory, keyed by the endpoint (provider and path), so that a node replaced on the
 * same path (copied, imported, deleted and added again) finds what the one before kept, and
 * one that stopped keeping still emits it.
 */
export function keptEventsOf(RED: NodeAPI, config: ReceiverOptions, shared: SharedStateNode | undefined, scope: string, keepsByDefault = false): KeptStore | undefined {
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
    // A flow without the option (made before it existed, or through the admin API) gets the
    // provider's default, as the palette's nodes do; where a user directory holds the store
    // (a runtime without one, a test harness, keeps nothing unless asked).
    const unset = config.persist === undefined || config.persist === "";
    const keeps = unset ? keepsByDefault && (shared !== undefined || typeof userDir === "string") : config.persist === true || config.persist === "true";
    if (shared) return keeps ? { store: shared.keptEventsFor(scope), keeps } : undefined;
    if (keeps) return { store: storeOf(RED).forEndpoint(scope), keeps };
    // Never kept anything here: no store to open.
    if (!stores.has(RED.httpAdmin) && (typeof userDir !== "string" || !existsSync(join(userDir, "verified-webhooks", "deliveries")))) return undefined;
    return { store: storeOf(RED).forEndpoint(scope), keeps };
}

/** An event's name from its kept JSON; one that cannot be read is named so, and never stops the others. */
function nameOf(receiver: { eventNameOf(event: unknown): string }, payload: string): string {
    try {
        return receiver.eventNameOf(JSON.parse(payload) as unknown);
    } catch {
        return "(unreadable)";
    }
}

export class NodeDeliveries<Event> {
    readonly logRuntime: LogRuntime;
    readonly log: NodeDeliveryLog;
    readonly logging: boolean;
    readonly maxAttempts: number;
    readonly store: KeptEvents<unknown> | undefined;
    /** Whether new deliveries are kept (else the store is only drained of what was kept before). */
    readonly keeps: boolean;
    private readonly awaitingAnswer = new Map<string, Emitted>();
    /** The deliveries with events in the store, by delivery id (the latest emission of each). */
    private readonly kept = new Map<string, KeptDelivery>();
    /** Puts of deliveries being kept, not settled yet. */
    private readonly putting = new Set<Promise<void>>();
    private closed = false;
    private recoverTimer: NodeJS.Timeout | undefined;
    /**
     * The re-emission under way (its emit is synchronous): for a replay, the original delivery
     * and its kept events; for a redelivery, its delivery. `indices`: the places of its events
     * in the original.
     */
    private reemission: { deliveryId: string; kind: "replay" | "redelivery"; kept: KeptDelivery | undefined; indices: readonly number[]; entry: LogEntry | undefined } | undefined;

    constructor(
        private readonly RED: NodeAPI,
        private readonly node: Node,
        private readonly providerName: string,
        /** What tells an event apart from others of its name, for the log's rows (the provider's eventKey). */
        private readonly eventKey: ((event: Event) => string | undefined) | undefined,
        config: ReceiverOptions,
        limits: Parameters<LogRuntime["logs"]["forNode"]>[1],
        /** Where the node keeps deliveries until handled (keptEventsOf), if it does, or drains what an earlier node kept. */
        kept?: KeptStore,
    ) {
        this.store = kept?.store;
        this.keeps = kept?.keeps ?? false;
        this.logRuntime = deliveryLogRuntime(RED);
        this.log = this.logRuntime.logs.forNode(node.id, limits);
        this.logging = this.log.limits.maxDeliveries > 0;
        this.maxAttempts = maxAttempts(config);
    }

    /** Whether emitted events are followed through the flow (for the log, or to forget kept ones). */
    get following(): boolean {
        return this.logging || this.store !== undefined;
    }

    /** Keeps a delivery's events before they are emitted; resolves once they would survive a crash. */
    persist = (events: readonly EventMessage<unknown>[], delivery: DeliveryInput<unknown>): Promise<void> | undefined => {
        const store = this.store;
        if (!store) return undefined;
        const { info } = delivery;
        const deliveryId = info.deliveryId;
        const payloads = events.map((message) => JSON.stringify(message.payload));
        const kept = this.keep(deliveryId, undefined, payloads, []);
        const put = store
            .put(
                payloads.map((payload, index) => ({
                    deliveryId,
                    index,
                    receivedAt: info.receivedAt,
                    verified: info.verified,
                    test: info.test,
                    remoteAddress: delivery.remoteAddress,
                    payload,
                })),
            )
            .then((handles) => {
                kept.handles = handles;
                kept.remaining = handles.length;
            });
        // Until it settles, a deploy's close waits for it (see close()).
        this.putting.add(put);
        const settled = () => void this.putting.delete(put);
        put.then(settled, settled);
        return put;
    };

    private keep(deliveryId: string, places: readonly number[] | undefined, payloads: readonly string[] | undefined, handles: unknown[]): KeptDelivery {
        if (this.kept.size >= MAX_KEPT_DELIVERIES) this.kept.delete(this.kept.keys().next().value!);
        const kept: KeptDelivery = { deliveryId, places, payloads, handles, remaining: handles.length };
        this.kept.set(deliveryId, kept);
        return kept;
    }

    /** Event `position` of a kept delivery was handled: the store forgets it. */
    private handled(kept: KeptDelivery, position: number): void {
        const handle = kept.handles[position];
        if (handle === undefined) return;
        kept.handles[position] = undefined;
        this.store?.forget(handle);
        if (--kept.remaining === 0 && this.kept.get(kept.deliveryId) === kept) this.kept.delete(kept.deliveryId);
    }

    /**
     * Follows each emitted event through the flow (by a _msgid of ours), its payload kept as
     * emitted. `wiredTo`: the nodes on output 1, for a runtime whose routing cannot be followed.
     */
    emitted(events: EventMessage<Event>[], wiredTo: readonly string[], targets: readonly (Node | null)[]): void {
        const { tracker } = this.logRuntime;
        if (!tracker.routing) {
            for (const target of targets) if (target) reportErrorsOf(target, tracker);
        }
        const deliveryId = events[0]!.webhook.deliveryId;
        const replayOf = events[0]!.webhook.replayOf;
        const reemission = this.reemission?.deliveryId === (replayOf ?? deliveryId) ? this.reemission : undefined;
        const indices = reemission?.indices;
        // Kept events: this delivery's (just stored, or emitted again), or the original's for a replay.
        const kept = !this.store ? undefined : replayOf === undefined ? this.kept.get(deliveryId) : reemission?.kept;
        // The entry these events already have: a redelivery updates its delivery's entry; a
        // replay is a delivery of its own, and marks the original's events it handled.
        const entry = this.logging ? reemission?.entry : undefined;
        const attempt = events[0]!.webhook.attempt;
        // The JSON the store has (in the order emitted), unless this is a replay (its payloads are the original's selection).
        const payloads = replayOf === undefined ? kept?.payloads : undefined;
        const emitted: Emitted = { events: [], payloads: [], msgids: [], entry: reemission?.kind === "redelivery" ? entry : undefined };
        events.forEach((message, position) => {
            const msgid = nextMsgid();
            (message as EventMessage<Event> & { _msgid?: string })._msgid = msgid;
            const at = indices ? indices[position] : position;
            const earlier = entry && at !== undefined ? entry.report.events[at] : undefined;
            let logged: LoggedEvent;
            if (emitted.entry && earlier) {
                logged = earlier;
                eventMovesOn(logged, { state: "pending", attempt });
            } else {
                logged = { name: message.topic, key: this.eventKey?.(message.payload as Event), state: "pending" };
            }
            emitted.events.push(logged);
            // Taken now: the next nodes may change the payload they are handed.
            emitted.payloads.push(payloads?.[position] ?? JSON.stringify(message.payload));
            emitted.msgids.push(msgid);
            // A delivery's own kept events are in the order emitted; a replay's are found by their place.
            const keptAt = !kept || at === undefined ? -1 : replayOf === undefined ? position : kept.places ? kept.places.indexOf(at) : at;
            const forget = kept && keptAt >= 0 && kept.handles[keptAt] !== undefined ? this.handled.bind(this, kept, keptAt) : undefined;
            // A replay that is handled ends its original's event too (it stays failed otherwise, with the replay listed).
            const original = replayOf !== undefined ? earlier : undefined;
            const onHandled = original
                ? () => {
                      forget?.();
                      eventMovesOn(original, { state: "handled" });
                      original.handledBy = deliveryId;
                      this.logRuntime.changed(replayOf!);
                  }
                : forget;
            tracker.follow(msgid, logged, deliveryId, onHandled, wiredTo);
        });
        if (kept && replayOf === undefined) kept.payloads = undefined;
        if (this.awaitingAnswer.size >= MAX_AWAITING_ANSWER) this.awaitingAnswer.delete(this.awaitingAnswer.keys().next().value!);
        this.awaitingAnswer.set(deliveryId, emitted);
    }

    /** The events were sent (Node-RED routed them to the next nodes): the receiver no longer holds them. */
    sent(events: readonly EventMessage<Event>[]): void {
        const { tracker } = this.logRuntime;
        for (const message of events) tracker.emitted((message as EventMessage<Event> & { _msgid: string })._msgid);
    }

    /** Every delivery once answered: the log records it; a refused one is forgotten by the store. */
    delivered = (record: DeliveryRecord): void => {
        const emitted = this.awaitingAnswer.get(record.deliveryId);
        this.awaitingAnswer.delete(record.deliveryId);
        const refused = record.status >= 300;
        if (refused) {
            // Refused after emit(): the flow engine drops those messages (their next nodes stopped).
            if (emitted) this.logRuntime.tracker.forget(emitted.msgids);
            // Answered 503 after it was kept (before or after its emit): the sender retries, so
            // it must not come back after a restart too.
            const kept = this.store && this.kept.get(record.deliveryId);
            if (kept) {
                kept.handles.forEach((_handle, position) => this.handled(kept, position));
                this.kept.delete(record.deliveryId); // also when the store never had them (a failed put)
            }
        }
        if (!this.logging) return;
        if (emitted?.entry && !refused) {
            // One entry per delivery: a redelivery's events are that entry's, now pending again.
            emitted.entry.report.attempt = record.attempt;
            this.logRuntime.changed(record.deliveryId);
            return;
        }
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
            firstNewKey: record.firstNewKey,
            firstRepeatedKey: record.firstRepeatedKey,
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
        const kept = this.store ? this.kept.get(original.deliveryId) : undefined;
        this.reemission = { deliveryId: original.deliveryId, kind: "replay", kept, indices: events.map((event) => event.index), entry: this.log.find(original.deliveryId) };
        try {
            return receiver.replay(
                events.map((event) => event.payload),
                original,
            );
        } finally {
            this.reemission = undefined;
        }
    }

    /**
     * When the node starts (after a restart, a crash or a redeploy), and with several
     * instances whenever this one takes over another's: emits again the kept events the flow
     * did not handle, with msg.webhook.redelivered and their attempt; past the max. attempts,
     * parks them as failed in the delivery log (replayable).
     */
    async redeliver(receiver: Receiver<Event, unknown, unknown>, events: readonly KeptEvent<unknown>[]): Promise<void> {
        const store = this.store;
        if (!store) return;
        for (const delivery of byDelivery(events)) {
            if (this.closed) return;
            const first = delivery[0]!;
            const deliveryId = first.deliveryId;
            const original = { deliveryId, receivedAt: first.receivedAt, verified: first.verified, test: first.test, remoteAddress: first.remoteAddress };
            const attempt = Math.max(...delivery.map((event) => event.attempts)) + 1;
            if (first.parked || attempt > this.maxAttempts) {
                const handles = first.parked ? delivery.map((event) => event.handle) : await store.park(delivery);
                // Not emitted: its payloads are not held (the log entry has them, for a replay).
                this.keep(deliveryId, this.placesOf(deliveryId, delivery).places, undefined, handles);
                this.parked(receiver, delivery, original);
                continue;
            }
            // The attempt is counted before the event goes out again: a crash loop ends.
            await store.attempted(delivery, attempt);
            const { places, entry } = this.placesOf(deliveryId, delivery);
            this.keep(
                deliveryId,
                places,
                delivery.map((event) => event.payload),
                delivery.map((event) => event.handle),
            );
            this.reemission = { deliveryId, kind: "redelivery", kept: undefined, indices: places, entry };
            try {
                receiver.redeliver(
                    delivery.map((event) => JSON.parse(event.payload) as unknown),
                    original,
                    attempt,
                );
            } catch (error) {
                this.kept.delete(deliveryId);
                this.node.warn(this.RED._("webhook.errors.redelivery", { deliveryId, reason: error instanceof Error ? error.message : String(error) }));
            } finally {
                this.reemission = undefined;
            }
        }
    }

    /**
     * Starts redelivering: what was kept before the node started, a page at a time (each
     * delivery's attempt counted before it goes out, a turn of the event loop between
     * deliveries and pages), then (several instances) what it takes over. A store that cannot
     * be read yet (Redis still connecting) is asked again every second; `failed` is told once
     * it has failed for RECOVER_PATIENCE tries.
     */
    startRedelivery(receiver: Receiver<Event, unknown, unknown>, failed: (error: unknown) => void): void {
        const store = this.store;
        if (!store) return;
        const redeliver = (events: KeptEvent<unknown>[]) => this.redeliver(receiver, events).catch(failed);
        let tries = 0;
        const pages = async (first: { events: KeptEvent<unknown>[]; cursor: unknown }) => {
            let page = first;
            for (;;) {
                await this.redeliver(receiver, page.events);
                if (page.cursor === undefined || this.closed) return;
                await new Promise((resolve) => setImmediate(resolve));
                page = await store.recover(page.cursor);
            }
        };
        const recover = () => {
            if (this.closed) return;
            store.recover().then(
                (page) => {
                    store.watch?.(redeliver);
                    return pages(page).catch(failed);
                },
                (error: unknown) => {
                    if (++tries === RECOVER_PATIENCE) failed(error);
                    this.recoverTimer = setTimeout(recover, RECOVER_RETRY_MS);
                },
            );
        };
        recover();
    }

    /** The node stops: the store writes what it was told to forget. */
    async close(): Promise<void> {
        this.closed = true;
        clearTimeout(this.recoverTimer);
        // Deliveries being kept when the deploy came are answered 503 (the sender retries) and
        // their kept events forgotten before the next node reads the store back: otherwise it
        // would emit them too. Each put is bounded (a sync; Redis's timeout); then one turn, in
        // which the receiver answers them (and those emitted, waiting for their answer) and this
        // forgets them.
        if (this.store && (this.putting.size > 0 || this.awaitingAnswer.size > 0)) {
            await Promise.allSettled([...this.putting]);
            await new Promise((resolve) => setImmediate(resolve));
        }
        await this.store?.close();
    }

    /**
     * Where kept events sit among the events of their delivery's log entry: their own places
     * when this node still logs the delivery (a redeploy), else in order (the entry a
     * redelivery after a restart makes holds only them).
     */
    private placesOf(deliveryId: string, events: readonly KeptEvent<unknown>[]): { places: number[]; entry: LogEntry | undefined } {
        const found = this.logging ? this.log.find(deliveryId) : undefined;
        const entry = found?.report.nodeId === this.node.id && events.every((event) => found.report.events[event.index] !== undefined) ? found : undefined;
        return { places: events.map((event, position) => (entry ? event.index : position)), entry };
    }

    /** Kept events given up on: listed in the delivery log as failed, for a replay by hand. */
    private parked(
        receiver: Receiver<Event, unknown, unknown>,
        kept: readonly KeptEvent<unknown>[],
        original: { deliveryId: string; receivedAt: string; verified: boolean; test: boolean; remoteAddress: string | undefined },
    ): void {
        if (!this.logging) return;
        const error = this.RED._("webhook.log.parked", { attempts: String(this.maxAttempts) });
        const attempt = Math.max(...kept.map((event) => event.attempts));
        const entry = this.log.find(original.deliveryId);
        if (entry && entry.report.nodeId === this.node.id && kept.every((event) => entry.report.events[event.index] !== undefined) && entry.report.events.length > 0) {
            // Logged once: parking (again, at every start) updates the delivery's entry.
            for (const event of kept) eventMovesOn(entry.report.events[event.index]!, { state: "failed", error, attempt });
            entry.report.attempt = attempt;
            this.logRuntime.changed(original.deliveryId);
            return;
        }
        this.log.add({
            ...original,
            status: 200,
            accepted: kept.length,
            duplicates: 0,
            rejected: 0,
            attempt,
            nodeId: this.node.id,
            nodeName: this.node.name || "",
            provider: this.providerName,
            events: kept.map((event) => ({ name: nameOf(receiver, event.payload), state: "failed", error })),
            payloads: kept.map((event) => event.payload),
        });
        this.logRuntime.changed(original.deliveryId);
    }
}
