/**
 * A receiver node's outlet: where the pipeline hands each delivery once its outcome is decided,
 * as one object (AcceptedDelivery), and everything after happens: kept ("Keep deliveries until
 * handled": LMDB, or Redis with a shared-state node) → emitted (each event followed through the
 * flow) → answered → logged → handled → forgotten by the store. Replays and redeliveries are
 * deliveries of this outlet's own making, through the pipeline's pure functions, from the
 * delivery's record (its bytes as verified; nothing else is copied). What the store and the log
 * attach travels on the delivery, and on its log entry for a replay.
 */
import type { Node, NodeAPI } from "node-red";
import { randomUUID } from "node:crypto";
import type { AcceptedDelivery, DeliveryInfo, AnswerRecord, EventMessage, Outlet, RejectionMessage, WebhookInfo } from "../receive/messages.js";
import { deliveryOutcome, emittedEventOf, eventNameOf, reacceptedEvents, restarting } from "../receive/outcome.js";
import { jsonOfText, recordedTexts, recordOf, type BodyRecord } from "../receive/record.js";
import { receivedNow } from "../receive/body.js";
import { Rejection, type Provider } from "../receive/provider.js";
import { WebhooksRuntime } from "./runtime.js";
import { eventMovesOn, type EventReader, type LogEntry, type LogLimits, type NodeDeliveryLog } from "../log/delivery-log.js";
import { byDelivery, type KeptDelivery, type KeptEvent, type KeptEvents } from "../keep/kept-events.js";
import { maxAttempts, type ReceiverOptions } from "./node-options.js";
import { followEvents, type Follower } from "./follow.js";
import type { KeptStore } from "./stores.js";

/** A store not readable when the node starts (Redis still connecting) is asked again this often; reported after this many tries. */
const REDELIVERY_RETRY_MS = 1000;
const REDELIVERY_PATIENCE = 5;

const NO_REJECTIONS: RejectionMessage[] = [];

export class DeliveryOutlet<Event> implements Outlet<Event> {
    readonly runtime: WebhooksRuntime;
    readonly log: NodeDeliveryLog;
    readonly logging: boolean;
    readonly maxAttempts: number;
    readonly store: KeptEvents<unknown> | undefined;
    /** Whether new deliveries are kept (else the store is only drained of what was kept before). */
    readonly keeps: boolean;
    /** Puts of deliveries being kept, not settled yet. */
    private readonly putting = new Set<Promise<void>>();
    /** Deliveries emitted and not answered yet (each waits one turn): every one is answered or refused. */
    private readonly awaitingAnswer = new Set<AcceptedDelivery<Event>>();
    private closed = false;
    /** Told of each new delivery's events as they go out (not replays or redeliveries): a mentra-webhook node with an app joins its sessions. */
    onAccepted: ((messages: readonly EventMessage<Event>[]) => void) | undefined;
    private redeliveryTimer: NodeJS.Timeout | undefined;
    /** Its logged events as emitted, derived from their record with this node's options: what the tab shows. */
    private readonly reader: EventReader;
    /** What following a delivery's events needs of this outlet: made once, not per delivery. */
    private readonly follower: Follower<Event>;

    constructor(
        private readonly RED: NodeAPI,
        private readonly node: Node,
        /** The node's provider and options: a replay or a redelivery is accepted again as the node accepts now. */
        private readonly provider: Provider<Event, unknown, unknown>,
        private readonly options: unknown,
        config: ReceiverOptions,
        limits: LogLimits,
        /** Where the node keeps deliveries until handled (keptEventsOf), if it does, or drains what an earlier node kept. */
        kept?: KeptStore,
    ) {
        this.store = kept?.store;
        this.keeps = kept?.keeps ?? false;
        this.runtime = WebhooksRuntime.of(RED);
        this.log = this.runtime.logs.forNode(node.id, limits);
        this.logging = this.log.limits.maxDeliveries > 0;
        this.maxAttempts = maxAttempts(config);
        this.reader = (json) => emittedEventOf(provider, options, json);
        this.follower = {
            tracker: this.runtime.tracker,
            logging: this.logging,
            keeps: this.store !== undefined,
            eventKey: provider.eventKey?.bind(provider),
            forget: (kept, position) => this.handled(kept, position),
            changed: this.runtime.changed,
        };
        if (this.following) this.runtime.followMessages();
    }

    /** Whether emitted events are followed through the flow (for the log, or to forget kept ones). */
    get following(): boolean {
        return this.logging || this.store !== undefined;
    }

    /** Keeps a delivery's events before they are emitted (their bytes as received); resolves once they would survive a crash. */
    keep(delivery: AcceptedDelivery<Event>): Promise<void> {
        const store = this.store!;
        const { info } = delivery;
        const kept: KeptDelivery = { places: undefined, handles: [], remaining: 0 };
        delivery.kept = kept;
        const put = store
            .put(
                recordedTexts(delivery.record!).map((payload, index) => ({
                    deliveryId: info.deliveryId,
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
    }

    /** Event `position` of a kept delivery was handled: the store forgets it. */
    private handled(kept: KeptDelivery, position: number): void {
        const handle = kept.handles[position];
        if (handle === undefined) return;
        kept.handles[position] = undefined;
        kept.remaining--;
        this.store?.forget(handle);
    }

    /**
     * Hands the delivery's messages to the flow, one send each (within one call Node-RED
     * deep-clones every message after the first, in case one object is sent twice; each of
     * ours is a new object), following its events when the log or the store needs to.
     */
    emit(delivery: AcceptedDelivery<Event>): () => boolean {
        const { events, rejections } = delivery;
        // The node instances the messages go to: a deploy that stops one removes it from the runtime.
        const wires = (this.node as unknown as { wires?: (string[] | undefined)[] }).wires;
        const targetIds: string[] = [];
        if (events.length && wires?.[0]) targetIds.push(...wires[0]);
        if (rejections.length && wires?.[1]) targetIds.push(...wires[1]);
        const targets = targetIds.map((id) => this.RED.nodes.getNode(id));
        const following = this.following && events.length > 0;
        if (following) followEvents(delivery, wires?.[0] ?? [], targets, this.follower);
        this.awaitingAnswer.add(delivery);
        if (this.onAccepted && delivery.replayOf === undefined && delivery.attempt === undefined && events.length > 0) this.onAccepted(events);
        for (const event of events) this.node.send([event, null] as never);
        if (following) {
            const { tracker } = this.runtime;
            for (const msgid of delivery.emitted!.msgids) tracker.emitted(msgid);
        }
        for (const rejection of rejections) this.node.send([null, rejection] as never);
        return () => targets.every((instance, index) => instance !== null && this.RED.nodes.getNode(targetIds[index]!) === instance);
    }

    /** The delivery was answered 2xx: the log records it (a redelivery updates its entry). */
    answered(delivery: AcceptedDelivery<Event>): void {
        this.awaitingAnswer.delete(delivery);
        if (!this.logging) return;
        const { info, entry } = delivery;
        if (entry && delivery.replayOf === undefined && delivery.attempt !== undefined) {
            // One entry per delivery: a redelivery's events are that entry's, now pending again.
            entry.report.attempt = delivery.attempt;
            if (delivery.kept) entry.kept = delivery.kept;
            this.runtime.changed(info.deliveryId);
            return;
        }
        const emitted = delivery.emitted;
        // Spelled out rather than spread: a spread costs microseconds a delivery.
        this.log.add({
            deliveryId: info.deliveryId,
            receivedAt: info.receivedAt,
            verified: info.verified,
            test: info.test,
            remoteAddress: delivery.remoteAddress,
            status: delivery.answer.status,
            reason: undefined,
            accepted: delivery.events.length,
            duplicates: delivery.duplicates,
            rejected: delivery.invalid,
            replayOf: delivery.replayOf,
            attempt: delivery.attempt,
            firstNewKey: delivery.firstNewKey,
            firstRepeatedKey: delivery.firstRepeatedKey,
            nodeId: this.node.id,
            nodeName: this.node.name || "",
            provider: this.provider.name,
            events: emitted?.events ?? [],
            record: delivery.record,
            reader: this.reader,
            // A replay of it may end its kept events (a failed one, replayed once the flow is fixed).
        }, delivery.replayOf === undefined ? delivery.kept : undefined);
        this.runtime.changed(info.deliveryId);
    }

    /**
     * A delivery refused: its output-2 message goes out, and the log records it. One that was
     * accepted first (a deploy came, its keep failed) lets go of what it emitted (the flow
     * engine drops those messages) and of what it kept (the sender retries: it must not come
     * back after a restart too).
     */
    refused(record: AnswerRecord, message: RejectionMessage, accepted: AcceptedDelivery<Event> | undefined): void {
        this.node.send([null, message] as never);
        if (accepted) {
            this.awaitingAnswer.delete(accepted);
            if (accepted.emitted) this.runtime.tracker.forget(accepted.emitted.msgids);
            const kept = accepted.kept;
            if (kept) kept.handles.forEach((_handle, position) => this.handled(kept, position));
        }
        if (!this.logging) return;
        // Spelled out rather than spread: refusals are what a flood of unauthenticated requests costs.
        const { deliveryId, receivedAt, verified, test, remoteAddress, status, reason, accepted: taken, duplicates, rejected } = record;
        this.log.add({ deliveryId, receivedAt, verified, test, remoteAddress, status, reason, accepted: taken, duplicates, rejected, nodeId: this.node.id, nodeName: this.node.name || "", provider: this.provider.name, events: [], record: undefined, reader: undefined });
        this.runtime.changed(record.deliveryId);
    }

    /**
     * A delivery made of events this node emitted before, accepted again as the node accepts
     * now and emitted: a replay (`replayOf`) or a redelivery (`attempt`, `redelivered`).
     */
    private reaccept(
        json: readonly unknown[],
        record: BodyRecord,
        info: DeliveryInfo,
        remoteAddress: string | undefined,
        how: { replayOf?: string; attempt?: number; places: readonly number[]; entry: LogEntry | undefined; kept?: KeptDelivery },
    ): void {
        if (this.closed) throw restarting();
        const events = reacceptedEvents(this.provider, this.options, json);
        const outcome = deliveryOutcome(this.provider, this.options, { wanted: events, elements: undefined, identities: events.map(() => undefined), reservation: undefined, invalid: [], info, remoteAddress });
        const marks: Partial<WebhookInfo> = how.replayOf !== undefined ? { replayOf: how.replayOf } : { redelivered: true, attempt: how.attempt! };
        for (const message of outcome.events) Object.assign(message.webhook, marks);
        const delivery: AcceptedDelivery<Event> = {
            info,
            remoteAddress,
            events: outcome.events,
            rejections: NO_REJECTIONS,
            duplicates: 0,
            invalid: 0,
            answer: { status: 200, body: undefined },
            firstNewKey: undefined,
            firstRepeatedKey: undefined,
            record,
            places: how.places,
            ...(how.replayOf !== undefined ? { replayOf: how.replayOf } : { attempt: how.attempt! }),
            ...(how.entry ? { entry: how.entry } : {}),
            ...(how.kept ? { kept: how.kept } : {}),
        };
        this.emit(delivery);
        this.answered(delivery);
    }

    /**
     * Replays by hand (from the delivery log) events of `entry`, by their places in it: a
     * delivery of its own, made of the original's record. A kept event of the original (failed,
     * or parked) is forgotten once its replay is handled. Returns the replay's delivery id.
     */
    replay(entry: LogEntry, events: readonly { index: number; payload: unknown }[]): string {
        const { report } = entry;
        if (!entry.record) throw new Rejection(409, "not replayable: its events were too large to keep");
        const info: DeliveryInfo = { receivedAt: receivedNow(), deliveryId: randomUUID(), verified: report.verified, test: report.test };
        const places = events.map((event) => event.index);
        const json = events.map((event) => event.payload);
        this.reaccept(json, recordOf(entry.record, places), info, report.remoteAddress, { replayOf: report.deliveryId, places, entry });
        return info.deliveryId;
    }

    /**
     * When the node starts (after a restart, a crash or a redeploy), and with several
     * instances whenever this one takes over another's: emits again the kept events the flow
     * did not handle, with msg.webhook.redelivered and their attempt; past the max. attempts,
     * parks them as failed in the delivery log (replayable).
     */
    async redeliver(events: readonly KeptEvent<unknown>[]): Promise<void> {
        const store = this.store;
        if (!store) return;
        for (const delivery of byDelivery(events)) {
            if (this.closed) return;
            const first = delivery[0]!;
            const deliveryId = first.deliveryId;
            const original = { deliveryId, receivedAt: first.receivedAt, verified: first.verified, test: first.test, remoteAddress: first.remoteAddress };
            const attempt = Math.max(...delivery.map((event) => event.attempts)) + 1;
            const { places, entry } = this.placesOf(deliveryId, delivery);
            if (first.parked || attempt > this.maxAttempts) {
                const handles = first.parked ? delivery.map((event) => event.handle) : await store.park(delivery);
                this.parked(delivery, original, { places, handles, remaining: handles.length });
                continue;
            }
            // The attempt is counted before the event goes out again: a crash loop ends.
            await store.attempted(delivery, attempt);
            const kept: KeptDelivery = { places, handles: delivery.map((event) => event.handle), remaining: delivery.length };
            try {
                const texts = delivery.map((event) => event.payload);
                const info = { deliveryId, receivedAt: first.receivedAt, verified: first.verified, test: first.test };
                this.reaccept(texts.map(jsonOfText), { texts }, info, first.remoteAddress, { attempt, places, entry, kept });
            } catch (error) {
                this.node.warn(this.RED._("webhook.errors.redelivery", { deliveryId, reason: error instanceof Error ? error.message : String(error) }));
            }
        }
    }

    /**
     * Starts redelivering: what was kept before the node started, a page at a time (each
     * delivery's attempt counted before it goes out, a turn of the event loop between
     * deliveries and pages), then (several instances) what it takes over. A store that cannot
     * be read yet (Redis still connecting) is asked again every second; `failed` is told once
     * it has failed for REDELIVERY_PATIENCE tries.
     */
    startRedelivery(failed: (error: unknown) => void): void {
        const store = this.store;
        if (!store) return;
        const redeliver = (events: KeptEvent<unknown>[]) => this.redeliver(events).catch(failed);
        let tries = 0;
        const pages = async (first: { events: KeptEvent<unknown>[]; cursor: unknown }) => {
            let page = first;
            for (;;) {
                await this.redeliver(page.events);
                if (page.cursor === undefined || this.closed) return;
                await new Promise((resolve) => setImmediate(resolve));
                page = await store.pending(page.cursor);
            }
        };
        const firstPage = () => {
            if (this.closed) return;
            store.pending().then(
                (page) => {
                    store.watch?.(redeliver);
                    return pages(page).catch(failed);
                },
                (error: unknown) => {
                    if (++tries === REDELIVERY_PATIENCE) failed(error);
                    this.redeliveryTimer = setTimeout(firstPage, REDELIVERY_RETRY_MS);
                },
            );
        };
        firstPage();
    }

    /** The node stops: the store writes what it was told to forget. */
    async close(): Promise<void> {
        this.closed = true;
        clearTimeout(this.redeliveryTimer);
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

    /** Kept events given up on: listed in the delivery log as failed (with what the store keeps of them), for a replay by hand. */
    private parked(
        kept: readonly KeptEvent<unknown>[],
        original: { deliveryId: string; receivedAt: string; verified: boolean; test: boolean; remoteAddress: string | undefined },
        inStore: KeptDelivery,
    ): void {
        if (!this.logging) return;
        const error = this.RED._("webhook.log.parked", { attempts: String(this.maxAttempts) });
        const attempt = Math.max(...kept.map((event) => event.attempts));
        const entry = this.log.find(original.deliveryId);
        if (entry && entry.report.nodeId === this.node.id && kept.every((event) => entry.report.events[event.index] !== undefined) && entry.report.events.length > 0) {
            // Logged once: parking (again, at every start) updates the delivery's entry.
            for (const event of kept) eventMovesOn(entry.report.events[event.index]!, { state: "failed", error, attempt });
            entry.report.attempt = attempt;
            entry.kept = inStore;
            this.runtime.changed(original.deliveryId);
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
            provider: this.provider.name,
            events: kept.map((event) => ({ name: eventNameOf(this.provider, event.payload), state: "failed", error })),
            record: { texts: kept.map((event) => event.payload) },
            reader: this.reader,
        }, { ...inStore, places: undefined });
        this.runtime.changed(original.deliveryId);
    }
}
