/**
 * What a receiver hands on: the messages of its two outputs, what it reports of each delivery,
 * and the request it is given. Types and constants only.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { KeptDelivery } from "../keep/kept-events.js";
import type { EmittedEvents, LogEntry } from "../log/delivery-log.js";
import type { Answer } from "./provider.js";
import type { BodyRecord } from "./record.js";

/** msg.webhook of an emitted event: about its delivery. */
export interface WebhookInfo {
    provider: string;
    receivedAt: string;
    verified: boolean;
    deliveryId: string;
    /** Sent by "Send test event" or the command-line signer (see TEST_EVENT_HEADER). */
    test: boolean;
    /** For a provider with ordered streams (WMS): positions skipped before this event. */
    missing?: number[];
    missingCount?: number;
    /** On an event emitted again from the delivery log: the delivery that first emitted it. */
    replayOf?: string;
    /** On an event emitted again after a restart or a takeover (kept, not handled before): true, and how many times it was emitted. */
    redelivered?: boolean;
    attempt?: number;
}

/** A message on output 1; a provider may add properties of its own (Mentra: websocketUrl). */
export interface EventMessage<Event = unknown> {
    payload: Event;
    topic: string;
    webhook: WebhookInfo;
    parts?: { id: string; index: number; count: number; type: "array"; len: 1 };
}

/** The first invalid elements of a batch named on output 2; the rest are counted. */
export const MAX_INVALID_LISTED = 10;

export interface RejectionMessage {
    payload: {
        provider: string;
        status: number;
        reason: string;
        /** Of a batch: how many elements were invalid, and the first of them with their reasons. */
        invalidCount?: number;
        invalid?: { index: number; reason: string }[];
    };
    webhook: { provider: string; receivedAt: string; deliveryId: string; remoteAddress: string | undefined };
}

export interface ReceiverOutputs<Event = unknown> {
    /**
     * Hands a delivery's messages to the flow. Returns a check, run just before they reach
     * the next nodes, telling whether they still will: false when a deploy stopped one of
     * those nodes in between (the flow engine would then drop the messages).
     */
    emit(events: EventMessage<Event>[], rejections: RejectionMessage[]): () => boolean;
}

export interface RoutedRequest {
    readonly req: IncomingMessage;
    readonly res: ServerResponse;
    readonly path: readonly string[];
    readonly extraPath: readonly string[];
    readonly query: string;
}

export interface ReceiverCounts {
    accepted: number;
    /** Deliveries that brought nothing new (every event seen before): answered 2xx, nothing emitted. */
    duplicates: number;
    rejected: number;
}

/** An element of a batch that failed validation: reported on the second output. */
export interface InvalidElement {
    readonly index: number;
    readonly reason: string;
}
/**
 * Marks a test event: "Send test event" sends this process's random nonce in it; the
 * command-line signer sends "1", recognised only on a delivery whose signature or token was
 * verified (so nobody else can make a genuine-looking event pass for a test, or the reverse).
 */
export const TEST_EVENT_HEADER = "x-verified-webhooks-test";
/**
 * On the answer to a delivery that carries TEST_EVENT_HEADER, once verified: "accepted" or "duplicate"
 * (nothing new reached the flow), and the delivery's id in the log, for the editor and the CLI.
 */
export const TEST_OUTCOME_HEADER = "x-verified-webhooks-outcome";
export const TEST_DELIVERY_HEADER = "x-verified-webhooks-delivery";

export interface DeliveryInfo {
    readonly receivedAt: string;
    readonly deliveryId: string;
    readonly verified: boolean;
    readonly test: boolean;
}

/** How a delivery was answered, as the log records it (the outlet is handed one for each refusal); its emitted messages went through emit() before, under the same deliveryId. */
export interface AnswerRecord extends DeliveryInfo {
    readonly remoteAddress: string | undefined;
    readonly status: number;
    /** Why it was refused (a refusal only). */
    readonly reason?: string;
    /** Events emitted, events already seen, invalid elements of a batch. */
    readonly accepted: number;
    readonly duplicates: number;
    readonly rejected: number;
    readonly replayOf?: string;
    /** On events emitted again after a restart: how many times they were emitted. */
    readonly attempt?: number;
    /** The identity of its first new event, and of its first repeated one (what it repeats). */
    readonly firstNewKey?: string | undefined;
    readonly firstRepeatedKey?: string | undefined;
}

/**
 * One delivery once its outcome is decided: received over HTTP, replayed by hand from the log,
 * or redelivered (kept, not handled before). It travels the whole way after the answer is
 * decided (keep → emit → answer → log → handled → forget) as this one object, handed to the
 * node's outlet; what the store and the log attach to it travels with it.
 */
export interface AcceptedDelivery<Event = unknown> {
    readonly info: DeliveryInfo;
    readonly remoteAddress: string | undefined;
    /** The messages for output 1 (the new events) and output 2 (a batch's invalid elements). */
    readonly events: EventMessage<Event>[];
    readonly rejections: RejectionMessage[];
    /** Events seen before, and invalid elements of a batch. */
    readonly duplicates: number;
    readonly invalid: number;
    /** What the sender is answered once the messages are on their way. */
    readonly answer: Answer;
    /** The identity of its first new event, and of its first repeated one (what it repeats). */
    readonly firstNewKey: string | undefined;
    readonly firstRepeatedKey: string | undefined;
    /** What its emitted events are derived from (the body as verified; a replay's, the original's): none when it emitted nothing. */
    readonly record: BodyRecord | undefined;
    /** A replay's: the delivery whose events it emits again. */
    readonly replayOf?: string;
    /** A redelivery's: how many times its events were emitted, this time included. */
    readonly attempt?: number;
    /** A replay's or a redelivery's: the places of its events among those of the entry it updates, and that entry. */
    readonly places?: readonly number[];
    readonly entry?: LogEntry;
    /** Attached by the store: its events while kept. */
    kept?: KeptDelivery | undefined;
    /** Attached when emitted: its events as the log follows them. */
    emitted?: EmittedEvents | undefined;
}

/**
 * Where a receiver hands its deliveries: everything after the pipeline decided a delivery's
 * outcome happens there (the node shell's side: the store, the flow, the log).
 */
export interface Outlet<Event = unknown> {
    /** Whether accepted deliveries are kept (keep() before emit()). */
    readonly keeps: boolean;
    /** Keeps the delivery's events; resolves once they would survive a crash. */
    keep(delivery: AcceptedDelivery<Event>): Promise<void>;
    /** Hands its messages to the flow. Returns a check, run just before they reach the next nodes: false when a deploy stopped one in between. */
    emit(delivery: AcceptedDelivery<Event>): () => boolean;
    /** It was answered 2xx. */
    answered(delivery: AcceptedDelivery<Event>): void;
    /** A delivery refused (its output-2 message); `accepted`: it was accepted first, and what it kept or emitted is let go. */
    refused(record: AnswerRecord, message: RejectionMessage, accepted: AcceptedDelivery<Event> | undefined): void;
}
