/**
 * The decisions of the pipeline, pure: what a schema failure is called, and what a delivery
 * comes to once its events are validated and reserved (which events are new, what each
 * message carries, what goes to output 2, what the sender is answered). Nothing is emitted,
 * answered or committed here.
 */
import type { z } from "zod";
import { Rejection, type Answer, type Provider } from "./provider.js";
import { skippedPositions, type Identity, type Reservation } from "../dedup/state.js";
import type { DeliveryInfo, EventMessage, InvalidElement, RejectionMessage, WebhookInfo } from "./messages.js";
import { MAX_INVALID_LISTED } from "./messages.js";
import { jsonOfText, type EventText } from "./record.js";

/** One line saying what is wrong, naming the field. */
export function describeSchemaError(error: z.ZodError): string {
    const issue = error.issues[0];
    if (!issue) return "invalid event";
    const where = issue.path.length ? `${issue.path.map(String).join(".")}: ` : "";
    return `${where}${issue.message}`.replace(/\s+/g, " ").slice(0, 200);
}

/** Where an event fails the schema, and the kind of failure, without any text from the event. */
export function schemaMismatchOf(error: z.ZodError): string {
    const issue = error.issues[0];
    if (!issue) return "the event no longer passes the schema";
    const where = issue.path.filter((part) => typeof part === "number" || /^[A-Za-z0-9_]{1,64}$/.test(String(part))).map(String).join(".");
    return `${where || "the event"} no longer passes the schema (${issue.code})`;
}

/** The positions a stream skipped before an event, on its msg.webhook (field by field: Object.assign costs on every delivery). */
function setGaps(webhook: WebhookInfo, gaps: { missing: number[]; missingCount: number }): void {
    webhook.missing = gaps.missing;
    webhook.missingCount = gaps.missingCount;
}

/** What a delivery reserved, and what it carried, once validated. */
export interface DeliveryInput<Event> {
    readonly wanted: readonly Event[];
    /** A batch's: per wanted event, its place in the body's array (undefined: the body is the one event). */
    readonly elements: readonly number[] | undefined;
    /** Per wanted event, its identity (undefined: nothing makes it a duplicate). */
    readonly identities: readonly (Identity | undefined)[];
    /** Per identity, in order: new, busy or seen (none when nothing was reserved). */
    readonly reservation: Pick<Reservation, "statuses" | "previousHighest"> | undefined;
    readonly invalid: readonly InvalidElement[];
    readonly info: DeliveryInfo;
    readonly remoteAddress: string | undefined;
}

export interface DeliveryOutcome<Event> {
    /** The messages for output 1: the new events, each with what is known about its delivery. */
    readonly events: EventMessage<Event>[];
    /** A batch's: per new event, its place in the body's array (undefined: the body is the one event). */
    readonly elements: number[] | undefined;
    /** The messages for output 2: one for a batch's invalid elements, however many. */
    readonly rejections: RejectionMessage[];
    readonly duplicates: number;
    /** The identity of the first new event, and of the first already seen. */
    readonly firstNewKey: string | undefined;
    readonly firstRepeatedKey: string | undefined;
    /** What the sender is answered once the messages are on their way. */
    readonly answer: Answer;
}

/**
 * Decides a delivery's outcome from its events and its reservation: which events are new,
 * what each message carries (gaps, parts, provider fields), what goes to output 2 and what
 * the sender is answered. Pure: it emits, answers and commits nothing. Throws a Rejection
 * (503) when another delivery still holds one of the events, so the sender retries.
 */
export function deliveryOutcome<Event, Options>(
    provider: Pick<Provider<Event, Options, unknown>, "name" | "eventName" | "messageFields" | "batches" | "streamPosition" | "success">,
    options: Options,
    input: DeliveryInput<Event>,
): DeliveryOutcome<Event> {
    const { wanted, identities, reservation, invalid, info } = input;
    const statuses = reservation?.statuses ?? [];
    // Answering 2xx for an event another delivery is still taking in would lose it if that one failed.
    if (statuses.includes("busy")) throw new Rejection(503, "the same event is being received: retry");
    const events: EventMessage<Event>[] = [];
    const elements: number[] | undefined = input.elements ? [] : undefined;
    let duplicates = 0;
    let reserved = 0;
    let firstNewKey: string | undefined;
    let firstRepeatedKey: string | undefined;
    wanted.forEach((event, position) => {
        const identity = identities[position];
        const webhook: WebhookInfo = { provider: provider.name, receivedAt: info.receivedAt, verified: info.verified, deliveryId: info.deliveryId, test: info.test };
        if (identity) {
            const status = statuses[reserved];
            const previousHighest = reservation?.previousHighest[reserved];
            reserved++;
            if (status !== "new") {
                duplicates++;
                firstRepeatedKey ??= identity.key;
                return;
            }
            firstNewKey ??= identity.key;
            if (identity.stream) setGaps(webhook, skippedPositions(previousHighest ?? -1, identity.stream.position));
        } else if (provider.streamPosition) {
            setGaps(webhook, { missing: [], missingCount: 0 });
        }
        const message: EventMessage<Event> = { payload: event, topic: provider.eventName(event), webhook };
        elements?.push(input.elements![position]!);
        const fields = provider.messageFields?.(event, options);
        events.push(fields ? Object.assign(message, fields) : message);
    });
    if (provider.batches) {
        events.forEach((message, index) => {
            message.parts = { id: info.deliveryId, index, count: events.length, type: "array", len: 1 };
        });
    }
    const first = invalid[0];
    const rejections = first
        ? [
              rejectionMessageOf(
                  provider.name,
                  new Rejection(400, `${invalid.length === 1 ? "1 event" : `${invalid.length} events`} of the batch invalid; first, at ${first.index}: ${first.reason}`),
                  info,
                  input.remoteAddress,
                  invalid,
              ),
          ]
        : [];
    return { events, elements, rejections, duplicates, firstNewKey, firstRepeatedKey, answer: provider.success({ accepted: events.length, duplicates, rejected: invalid.length }) };
}

/** The output-2 message of a refusal: never a secret, a signature or the body. */
export function rejectionMessageOf(
    provider: string,
    rejection: Rejection,
    info: Pick<DeliveryInfo, "receivedAt" | "deliveryId">,
    remoteAddress: string | undefined,
    invalid?: readonly InvalidElement[],
): RejectionMessage {
    const payload: RejectionMessage["payload"] = { provider, status: rejection.status, reason: rejection.reason };
    if (invalid) {
        payload.invalidCount = invalid.length;
        payload.invalid = invalid.slice(0, MAX_INVALID_LISTED).map(({ index, reason }) => ({ index, reason }));
    }
    return { payload, webhook: { provider, receivedAt: info.receivedAt, deliveryId: info.deliveryId, remoteAddress } };
}

/** An event is a JSON object: not an array, not null. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Events emitted before, accepted again for a replay or a redelivery: each goes through the
 * provider's whole acceptance once more (schema, checks, event filter) with the node's options
 * as they are now, so only what the node would accept today reaches the flow; time-bound checks
 * (a WMS event's age) are not repeated. Throws a Rejection (409) naming where an event no longer
 * passes, never quoting it (the editor shows the reason).
 */
export function reacceptedEvents<Event, Options>(
    provider: Pick<Provider<Event, Options, unknown>, "schema" | "prepare" | "wanted">,
    options: Options,
    payloads: readonly unknown[],
): Event[] {
    return payloads.map((payload) => {
        const event = acceptedAgain(provider, options, payload);
        if (provider.wanted && !provider.wanted(event, options)) throw new Rejection(409, "not replayable: the node's event filter leaves it out now");
        return event;
    });
}

/** One event emitted before, through the schema and the provider's checks once more (time-bound ones aside); a Rejection (409) says where it no longer passes. */
function acceptedAgain<Event, Options>(provider: Pick<Provider<Event, Options, unknown>, "schema" | "prepare">, options: Options, json: unknown): Event {
    if (!isPlainObject(json)) throw new Rejection(409, "not replayable: the event is not a JSON object");
    const result = provider.schema.safeParse(json);
    if (!result.success) throw new Rejection(409, `not replayable: ${schemaMismatchOf(result.error)}`);
    try {
        return provider.prepare ? provider.prepare(result.data, options, true) : result.data;
    } catch (error) {
        if (error instanceof Rejection) throw new Rejection(409, `not replayable: the node's checks refuse it now (${error.status})`);
        throw error;
    }
}

/**
 * An event as a node with `options` emitted it, from its JSON as received: the schema and the
 * provider's checks, time-bound ones aside (what the Webhooks tab shows). The JSON as it is when
 * it does not pass (it did when it was emitted: only a change of the provider's code would do that).
 */
export function emittedEventOf<Event, Options>(provider: Pick<Provider<Event, Options, unknown>, "schema" | "prepare">, options: Options, json: unknown): unknown {
    try {
        return acceptedAgain(provider, options, json);
    } catch (error) {
        if (error instanceof Rejection) return json;
        throw error;
    }
}

/** The name (msg.topic) of a kept event, from its JSON: "event" when it no longer validates, "(unreadable)" when it is not JSON. */
export function eventNameOf<Event>(provider: Pick<Provider<Event, unknown, unknown>, "schema" | "eventName">, text: EventText): string {
    let json: unknown;
    try {
        json = jsonOfText(text);
    } catch {
        return "(unreadable)";
    }
    const result = provider.schema.safeParse(json);
    return result.success ? provider.eventName(result.data) : "event";
}

/** The answer while a deploy stops the node: 503, so the sender retries and the next node takes it. */
export const restarting = () => new Rejection(503, "receiver is restarting: retry");
