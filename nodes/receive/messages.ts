/**
 * What a receiver hands on: the messages of its two outputs, what it reports of each delivery,
 * and the request it is given. Types and constants only.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

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

/** How a delivery was answered; its emitted messages went through emit() before, under the same deliveryId. */
export interface DeliveryRecord extends DeliveryInfo {
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
