/**
 * What a provider module declares. The receiving pipeline (pipeline.ts) runs the same
 * steps for every provider and asks the provider only for what differs. Provider modules
 * import nothing of Node-RED, so they can be tested alone and reused by the CLI signer.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { z } from "zod";

/** The parts of an HTTP request known before its body is read. */
export interface DeliveryHead {
    readonly headers: IncomingHttpHeaders;
    /** Decoded segments of the request path below Node-RED's httpNodeRoot. */
    readonly path: readonly string[];
    /** The segments of `path` after the node's own path (a path token, for example). */
    readonly extraPath: readonly string[];
    /** Raw query string without the leading "?" ("" when there is none). */
    readonly query: string;
}

/** The parts of an HTTP request a provider may look at, once its body is read. */
export interface Delivery extends DeliveryHead {
    readonly body: Buffer;
}

/** Why a delivery, or one event of a batch, is refused; becomes the HTTP answer and output 2. */
export class Rejection extends Error {
    constructor(readonly status: number, readonly reason: string) {
        super(reason);
        this.name = "Rejection";
    }
}

export interface Verification {
    /** True only when a secret or signature was actually checked. */
    readonly verified: boolean;
}

/** Where an event sits in an ordered stream (WMS: its sequence number within a session). */
export interface StreamPosition {
    readonly stream: string;
    readonly position: number;
}

export interface Answer {
    readonly status: number;
    readonly body: unknown;
}

/** What the pipeline tells the provider when it builds the success answer. */
export interface AnswerCounts {
    readonly accepted: number;
    readonly duplicates: number;
    readonly rejected: number;
}

/** Node configuration every receiver shares; providers add their own string options. */
export type RawOptions = Readonly<Record<string, unknown>>;

/** JSON Schema (draft 2020-12) of one event as a node emits it in msg.payload. */
export type JsonSchema = Record<string, unknown>;

export interface Provider<Event, Options, Keys, Name extends string = string> {
    /** Short name used in msg.webhook.provider, output-2 payloads, the CLI and the package's exports. */
    readonly name: Name;
    /** The Node-RED node type of the provider's receiver ("wms-webhook"). */
    readonly nodeType: string;
    /** What the provider is, for people: "NuraLogix WMS event". */
    readonly title: string;
    /** One line on what msg.payload holds, for the JSON Schema's description. */
    readonly description: string;

    /**
     * Sample events, each as a real delivery of its kind holds it: what the CLI signer,
     * "Send test event", `npm start` and the tests send. The first is the default.
     */
    readonly samples: Readonly<Record<string, () => unknown>>;
    /** The bytes the provider sends for `event` (default: JSON.stringify). */
    serialise?(event: unknown): string;
    /** The headers that sign `body` as the provider signs it, with `secret`. */
    signatureHeaders?(body: string, secret: string): Record<string, string> | Promise<Record<string, string>>;
    /** The secret `npm start` deploys the example node with, when the node needs one. */
    readonly demoSecret?: string;
    /** JSON Schema of msg.payload, where the zod schema alone cannot express it (default: derived from `schema`). */
    jsonSchema?(): JsonSchema;

    /** Whether a node of this provider refuses to start without a secret. */
    readonly secretRequired: boolean;
    /** Why the configured secrets cannot be used (never quoting them), if they cannot: the node does not start. */
    secretProblem?(secrets: readonly string[]): string | undefined;
    /**
     * Whether an unguessable token may follow the node's path as one more segment (or come
     * as a `token` query parameter): the only shared secret of a provider that signs nothing.
     */
    readonly pathToken?: boolean;
    /**
     * Segments the provider itself appends to the URL it is given (Mentra posts to
     * `<public URL>/webhook`), each list one alternative; they follow the token, if any.
     */
    readonly pathSuffixes?: readonly (readonly string[])[];

    /** Reads the provider's own options from the node configuration, filling defaults. */
    options(raw: RawOptions): Options;
    /** Turns the configured secrets into whatever verify() uses; run once per node start. */
    prepareKeys(secrets: readonly string[]): Keys | Promise<Keys>;
    /**
     * What can be checked before the body is read (a path token; the signature header's
     * presence and form): throws a Rejection (401), answered at once without reading the body.
     * Returns the verification when nothing more is needed (a path token), else undefined.
     */
    checkHead?(head: DeliveryHead, keys: Keys, options: Options): Verification | undefined;
    /** Throws a Rejection (401) unless the delivery proves it comes from the provider. */
    verify(delivery: Delivery, keys: Keys, options: Options): Verification | Promise<Verification>;

    /** False for a provider that never retries a delivery (SynthesisVR): its node keeps deliveries until handled by default. */
    readonly retries?: boolean;

    /** True when the body may be a JSON array of events, each checked on its own. */
    readonly batches: boolean;
    /** One event, as the provider sends it; the TypeScript type is derived from it. */
    readonly schema: z.ZodType<Event>;
    /**
     * Checks and completes one schema-valid event (normalised fields, policy such as an
     * allow-list); throws a Rejection to refuse it. `again`: the event was accepted before and
     * is emitted again (a replay, a redelivery): time-bound checks do not apply.
     */
    prepare?(event: Event, options: Options, again?: boolean): Event;
    /** The event's name, used as msg.topic. */
    eventName(event: Event): string;
    /** What tells the event apart from others of its name, for people: the Webhooks tab shows it beside the name. */
    eventKey?(event: Event): string | undefined;
    /** Message properties beside payload, topic and webhook, derived from the checked event. */
    messageFields?(event: Event, options: Options): Readonly<Record<string, unknown>> | undefined;
    /** False for an event the node is configured not to emit; it is still acknowledged. */
    wanted?(event: Event, options: Options): boolean;

    /** Identity of a delivery: a second delivery with the same key within the window is a duplicate. */
    duplicateKey?(event: Event, delivery: Delivery): string | undefined;
    /**
     * Until when (ms since 1970) a copy of this delivery could still pass the provider's time
     * check: its identity is remembered at least that long, beyond the window (an event
     * stamped ahead of the clock). Undefined: no time check, the window alone.
     */
    passesTimeCheckUntil?(event: Event, delivery: Delivery, options: Options): number | undefined;
    /** Position in an ordered stream: repeats are duplicates, gaps are reported. */
    streamPosition?(event: Event): StreamPosition | undefined;

    /** The answer for a delivery that was taken in (duplicates included). */
    success(summary: AnswerCounts): Answer;
    /** The answer body for a refused delivery. */
    errorBody(reason: string): unknown;
}

/**
 * A provider of whatever event, options and keys: what a list of providers holds. Code that
 * uses one (a receiver) is generic over the three and so checks them together; code that
 * only signs, samples or exports schemas needs none of them.
 */
export type SomeProvider = Provider<unknown, unknown, unknown>;
