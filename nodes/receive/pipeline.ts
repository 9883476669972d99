/**
 * The receiving pipeline every provider shares:
 * raw bytes → size limit → verify → parse and validate → de-duplicate → acknowledge → emit.
 * It names no provider and knows nothing of Node-RED: it reads a Node.js request, writes
 * a Node.js response and hands messages to the two outputs it is given.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { Rejection, type Answer, type Delivery, type DeliveryHead, type Provider } from "./provider.js";
import { MemoryState, skippedPositions, type DedupState, type Identity, type Reservation, type StateLimits } from "../dedup/state.js";

export interface ReceiverSettings extends StateLimits {
    /** Bodies larger than this are refused with 413. */
    readonly maxBodyBytes: number;
    /** A body that has not fully arrived this long after the request is cut off (408). */
    readonly bodyTimeoutMs: number;
    /** Deliveries handled at once, once their bodies are in; past this, 429 with Retry-After. */
    readonly maxConcurrent: number;
    /** A batch with more events than this is refused (413). */
    readonly maxBatchEvents: number;
    /** Bytes of bodies still arriving, at most (default: maxBufferedBytes(settings)). */
    readonly maxBufferedBytes?: number;
}

export const DEFAULT_SETTINGS: ReceiverSettings = {
    maxBodyBytes: 1024 * 1024,
    bodyTimeoutMs: 10_000,
    maxConcurrent: 256,
    maxBatchEvents: 1000,
    windowMs: 10 * 60 * 1000,
    maxEntries: 100_000,
};

/**
 * Bodies still arriving are bounded on their own, not by the deliveries being handled: a
 * sender that goes silent this long is cut off, and so is one whose body arrives slower than
 * the minimum rate once the grace period is over.
 */
export const BODY_IDLE_MS = 2000;
export const BODY_GRACE_MS = 2000;
export const BODY_MIN_BYTES_PER_SECOND = 16 * 1024;
/** Bytes of bodies still arriving, per node: the larger of this and 4 bodies of the size limit. */
export const MIN_BUFFERED_BYTES = 16 * 1024 * 1024;

export function maxBufferedBytes(settings: Pick<ReceiverSettings, "maxBodyBytes">): number {
    return Math.max(MIN_BUFFERED_BYTES, 4 * settings.maxBodyBytes);
}

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



/**
 * Runs what follows a reservation; if it fails in any way (a refusal, a deploy, a bug), the
 * reservation is released first, so the sender's retry is taken rather than answered as a
 * duplicate of an event that was never emitted.
 */
function releasedOnFailure(reservation: Reservation | undefined, work: () => void | Promise<void>): void | Promise<void> {
    const releaseThenFail = (error: unknown): Promise<never> => {
        const fail = () => Promise.reject(error);
        return Promise.resolve()
            .then(() => reservation?.release())
            .then(fail, fail);
    };
    let outcome: void | Promise<void>;
    try {
        outcome = work();
    } catch (error) {
        return releaseThenFail(error);
    }
    return outcome?.catch(releaseThenFail);
}

/**
 * `next(value)` at once when `value` is ready, or once it resolves: each await costs a promise
 * and a turn on a hot path, and most values here (memory state, keys, HMACs) are ready.
 */
function whenReady<T>(value: T | Promise<T>, next: (ready: T) => void | Promise<void>, failed?: (error: unknown) => never): void | Promise<void> {
    return value instanceof Promise ? value.then(next, failed) : next(value);
}

/** Resolves at the next turn of the event loop's check phase. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

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

/** Content types a JSON webhook may arrive with: JSON, and the defaults of generic HTTP clients. */
const ACCEPTED_MEDIA_TYPES = new Set([
    "application/json",
    "text/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
]);

/**
 * A sender repeats the same Content-Type: remember the last one found acceptable. Saves
 * ~410 ns of a ~40,000 ns delivery (1%; bench/caches.js).
 */
let lastAcceptedContentType: string | undefined;

function checkContentType(header: string | undefined): void {
    if (header === undefined || header === "" || header === lastAcceptedContentType) return;
    const [mediaType = "", ...parameters] = header.toLowerCase().split(";").map((part) => part.trim());
    if (!ACCEPTED_MEDIA_TYPES.has(mediaType) && !/^application\/[a-z0-9.+-]+\+json$/.test(mediaType)) {
        throw new Rejection(415, `content type ${mediaType.slice(0, 60) || "(empty)"} is not JSON`);
    }
    for (const parameter of parameters) {
        const [name, value = ""] = parameter.split("=").map((part) => part.trim());
        if (name === "charset" && !/^"?(utf-8|utf8|us-ascii)"?$/.test(value)) {
            throw new Rejection(415, "JSON must be encoded as UTF-8");
        }
    }
    lastAcceptedContentType = header;
}

/** ISO time of receipt; formatted once per millisecond under load: saves ~450 ns a delivery (1%; bench/caches.js). */
let lastTime = 0;
let lastIso = "";
function receivedNow(): string {
    const now = Date.now();
    if (now !== lastTime) {
        lastTime = now;
        lastIso = new Date(now).toISOString();
    }
    return lastIso;
}

/** Refuses a declared length over the limit before a byte of the body is read. */
function checkDeclaredLength(req: IncomingMessage, limit: number): void {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
        throw new Rejection(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`);
    }
}

/** Bodies of one node still arriving: their bytes, bounded, and who has been reading longest. */
export class BodyBudget {
    buffered = 0;
    /** In the order they started: the oldest is cut off first when room is needed. */
    readonly readers = new Set<(rejection: Rejection) => void>();

    constructor(readonly maxBytes: number) {}
}

/**
 * The raw bytes of the body, as sent: the signature is computed over them. (Node's HTTP
 * parser already enforces Content-Length and chunked framing; what is left is the limit,
 * the deadline, a silent or trickling sender, the node's budget and a sender that goes away.)
 */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number, budget: BodyBudget): Promise<Buffer> {
    if (req.readableEnded) {
        // Something before this node consumed the stream: the raw bytes are gone, nothing can be verified.
        return Promise.reject(new Rejection(500, "the request body was consumed before the webhook node could read it"));
    }
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const started = Date.now();
        let received = 0;
        let lastData = started;
        let done = false;
        const finish = (error: Rejection | undefined) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            budget.readers.delete(cutOff);
            budget.buffered -= received;
            req.off("data", onData);
            req.off("end", onEnd);
            req.off("error", onError);
            req.off("close", onClose);
            if (error) {
                req.pause(); // read no more of it: the answer closes the connection
                return reject(error);
            }
            resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
        };
        const cutOff = (rejection: Rejection) => finish(rejection);
        const onData = (chunk: Buffer) => {
            if (received + chunk.length > limit) return finish(new Rejection(413, `body exceeds the limit of ${limit} bytes`));
            // Room for it: the bodies that have been arriving longest make way (a slow sender is the likeliest attacker).
            for (const oldest of budget.readers) {
                if (budget.buffered + chunk.length <= budget.maxBytes) break;
                if (oldest !== cutOff) oldest(new Rejection(503, "too many bodies arriving at once: retry"));
            }
            if (budget.buffered + chunk.length > budget.maxBytes) return finish(new Rejection(503, "too many bodies arriving at once: retry"));
            budget.buffered += chunk.length;
            received += chunk.length;
            lastData = Date.now();
            chunks.push(chunk);
        };
        // One timer per body, re-armed only while the body is still arriving.
        const check = () => {
            const now = Date.now();
            const elapsed = now - started;
            if (elapsed >= timeoutMs) return finish(new Rejection(408, `body not received within ${timeoutMs / 1000} seconds`));
            if (now - lastData >= BODY_IDLE_MS) return finish(new Rejection(408, `no body data for ${BODY_IDLE_MS / 1000} seconds`));
            if (elapsed >= BODY_GRACE_MS && received < (BODY_MIN_BYTES_PER_SECOND * elapsed) / 1000) {
                return finish(new Rejection(408, `body arriving slower than ${BODY_MIN_BYTES_PER_SECOND / 1024} KiB/s`));
            }
            timer = setTimeout(check, Math.min(500, timeoutMs - elapsed));
        };
        let timer = setTimeout(check, Math.min(BODY_GRACE_MS, BODY_IDLE_MS, timeoutMs));
        const onEnd = () => finish(undefined);
        const onError = () => finish(new Rejection(400, "could not read the request body"));
        const onClose = () => finish(new Rejection(400, "request aborted before the body was complete"));
        budget.readers.add(cutOff);
        req.on("data", onData);
        req.on("end", onEnd);
        req.on("error", onError);
        req.on("close", onClose);
    });
}

function parseJson(body: Buffer): unknown {
    // A UTF-8 byte-order mark is not JSON, but some clients send one.
    const start = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
    try {
        return JSON.parse(body.toString("utf8", start));
    } catch {
        throw new Rejection(400, body.length === 0 ? "empty body: expected JSON" : "body is not valid JSON");
    }
}

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

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An element of a batch that failed validation: reported on the second output. */
export interface InvalidElement {
    readonly index: number;
    readonly reason: string;
}
const NONE_INVALID: InvalidElement[] = [];
const NOT_AN_OBJECT = new Rejection(400, "event must be a JSON object");

/** One event checked: the event, or why it was refused (never thrown: a batch may hold thousands). */
type Checked<Event> = { readonly event: Event; readonly rejection?: undefined } | { readonly event?: undefined; readonly rejection: Rejection };

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

function isTestEvent(header: string | string[] | undefined, verified: boolean, nonce: string | undefined): boolean {
    if (typeof header !== "string") return false;
    if (nonce !== undefined) {
        const given = Buffer.from(header);
        const expected = Buffer.from(nonce);
        if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
    }
    return verified && header === "1";
}

export interface DeliveryInfo {
    readonly receivedAt: string;
    readonly deliveryId: string;
    readonly verified: boolean;
    readonly test: boolean;
}

export interface ReceiverContext {
    /** The nonce "Send test event" marks its deliveries with, in this process. */
    readonly testEventNonce?: string;
    /** Where de-duplication state lives: this process (default) or a shared store. */
    readonly state?: DedupState;
    /** Names this receiver's identities in a shared store: the same endpoint on every instance. */
    readonly scope: string;
    readonly onCount?: () => void;
    /** An unexpected error (a bug): told where it happened, never its message, which may quote the body. */
    readonly onInternalError?: (where: string) => void;
    /** Every delivery once answered (and every replay once emitted): what the delivery log records. */
    readonly onDelivery?: (record: DeliveryRecord) => void;
    /**
     * Keeps a delivery's events before they are emitted and acknowledged ("Keep deliveries
     * until handled": on disk, or in Redis); resolves once they are kept. A failure answers 503.
     */
    readonly persist?: (events: readonly EventMessage<unknown>[], delivery: DeliveryInput<unknown>) => Promise<void> | undefined;
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

/** The answer while a deploy stops the node: 503, so the sender retries and the next node takes it. */
const restarting = () => new Rejection(503, "receiver is restarting: retry");

/** "TypeError at pipeline.js:123": enough to find a bug, nothing of the request. */
function whereFrom(error: unknown): string {
    const name = error instanceof Error ? error.name : typeof error;
    const frame = error instanceof Error ? /\(?([^\s()]+:\d+):\d+\)?\s*$/m.exec(error.stack?.split("\n")[1] ?? "") : null;
    return frame ? `${name} at ${frame[1]!.replace(/^.*[\\/]/, "")}` : name;
}

/** What a delivery reserved, and what it carried, once validated. */
export interface DeliveryInput<Event> {
    readonly wanted: readonly Event[];
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
            if (identity.stream) Object.assign(webhook, skippedPositions(previousHighest ?? -1, identity.stream.position));
        } else if (provider.streamPosition) {
            Object.assign(webhook, { missing: [], missingCount: 0 });
        }
        const message: EventMessage<Event> = { payload: event, topic: provider.eventName(event), webhook };
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
    return { events, rejections, duplicates, firstNewKey, firstRepeatedKey, answer: provider.success({ accepted: events.length, duplicates, rejected: invalid.length }) };
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

export class Receiver<Event, Options, Keys> {
    readonly counts: ReceiverCounts = { accepted: 0, duplicates: 0, rejected: 0 };
    private readonly keys: Promise<Keys>;
    private readonly state: DedupState;
    private closed = false;
    /** Deliveries whose bodies are in and which are being handled: what maxConcurrent bounds. */
    private inFlight = 0;
    /** Bodies still arriving: bounded on their own. */
    readonly bodies: BodyBudget;

    /** The prepared keys once ready: no await per request after that. */
    private readyKeys: Keys | undefined;

    constructor(
        private readonly provider: Provider<Event, Options, Keys>,
        private readonly options: Options,
        secrets: readonly string[],
        private readonly settings: ReceiverSettings,
        private readonly outputs: ReceiverOutputs<Event>,
        private readonly context: ReceiverContext = { scope: provider.name },
    ) {
        this.keys = Promise.resolve(provider.prepareKeys(secrets));
        this.keys.then((keys) => (this.readyKeys = keys), () => {}); // a failure is met by the first request
        this.state = context.state ?? new MemoryState(settings);
        this.bodies = new BodyBudget(settings.maxBufferedBytes ?? maxBufferedBytes(settings));
    }

    /** What a node's status or an admin route may show: counts, load, bytes arriving. */
    stats(): ReceiverCounts & { inFlight: number; bodiesArriving: number; bufferedBytes: number; maxBufferedBytes: number } {
        return { ...this.counts, inFlight: this.inFlight, bodiesArriving: this.bodies.readers.size, bufferedBytes: this.bodies.buffered, maxBufferedBytes: this.bodies.maxBytes };
    }

    /** From now on deliveries are answered 503, so the sender retries instead of losing them. */
    close(): void {
        this.closed = true;
    }

    async handle(request: RoutedRequest): Promise<void> {
        const receivedAt = receivedNow();
        const deliveryId = randomUUID();
        const { req, res } = request;
        let handling = false;
        try {
            // Everything that can be checked before the body is read is checked first, answered at once.
            if (req.method !== "POST") {
                res.setHeader("Allow", "POST");
                throw new Rejection(405, `method ${String(req.method).slice(0, 20)} not allowed: use POST`);
            }
            if (this.closed) throw restarting();
            checkContentType(req.headers["content-type"]);
            checkDeclaredLength(req, this.settings.maxBodyBytes);
            // Await only what is asynchronous: each await costs a promise and a turn on a hot path.
            const keys = this.readyKeys ?? (await this.keys);
            const head: DeliveryHead = { headers: req.headers, path: request.path, extraPath: request.extraPath, query: request.query };
            const checkedHead = this.provider.checkHead?.(head, keys, this.options);

            // A body still arriving takes no delivery slot: it is bounded by the node's body budget.
            const body = await readBody(req, this.settings.maxBodyBytes, this.settings.bodyTimeoutMs, this.bodies);
            if (this.inFlight >= this.settings.maxConcurrent) throw new Rejection(429, "too many deliveries at once: retry");
            this.inFlight++;
            handling = true;
            const delivery: Delivery = { headers: head.headers, path: head.path, extraPath: head.extraPath, query: head.query, body };
            const verification = checkedHead ?? this.provider.verify(delivery, keys, this.options);
            const accepted = whenReady(verification, ({ verified }) => {
                const test = isTestEvent(req.headers[TEST_EVENT_HEADER], verified, this.context.testEventNonce);
                return this.accept(delivery, { receivedAt, deliveryId, verified, test }, request);
            });
            if (accepted) await accepted;
        } catch (error) {
            if (!(error instanceof Rejection)) this.context.onInternalError?.(whereFrom(error));
            const rejection =
                error instanceof Rejection ? error : new Rejection(500, "internal error while receiving the webhook");
            this.reject(rejection, request, receivedAt, deliveryId);
        } finally {
            if (handling) this.inFlight--;
        }
    }

    /**
     * Parse, validate, de-duplicate; then acknowledge and emit. Returns a promise only when
     * something had to be waited for.
     */
    private accept(delivery: Delivery, info: DeliveryInfo, request: RoutedRequest): void | Promise<void> {
        const { valid, invalid } = this.validated(parseJson(delivery.body));
        if (this.closed) throw restarting();
        const wanted = this.provider.wanted ? valid.filter((event) => this.provider.wanted!(event, this.options)) : valid;
        const identities = wanted.map((event) => this.identityOf(event, delivery));
        const reserving = identities.filter((identity): identity is Identity => identity !== undefined);
        const reserved = reserving.length === 0 ? undefined : this.state.reserve(this.context.scope, reserving);
        const remoteAddress = request.req.socket?.remoteAddress;
        return whenReady(
            reserved,
            (reservation) =>
                releasedOnFailure(reservation, () => this.deliver({ wanted, identities, reservation, invalid, info, remoteAddress }, reservation, request.res)),
            () => {
                throw new Rejection(503, "de-duplication state unavailable: retry");
            },
        );
    }

    /** The document's events: one, or a batch's valid elements and the invalid ones' reasons. */
    private validated(document: unknown): { valid: Event[]; invalid: InvalidElement[] } {
        if (!this.provider.batches || !Array.isArray(document)) {
            const checked = this.check(document);
            if (checked.rejection) throw checked.rejection;
            return { valid: [checked.event], invalid: NONE_INVALID };
        }
        if (document.length > this.settings.maxBatchEvents) {
            throw new Rejection(413, `batch of ${document.length} events exceeds the limit of ${this.settings.maxBatchEvents}`);
        }
        const valid: Event[] = [];
        const invalid: InvalidElement[] = [];
        for (let index = 0; index < document.length; index++) {
            const checked = this.check(document[index]);
            if (checked.rejection) invalid.push({ index, reason: checked.rejection.reason });
            else valid.push(checked.event);
        }
        return { valid, invalid };
    }

    /** Acknowledge and emit what was reserved: the outcome is decided first, then the effects happen. */
    private deliver(input: DeliveryInput<Event>, reservation: Reservation | undefined, res: ServerResponse): void | Promise<void> {
        if (this.closed) throw restarting();
        const outcome = deliveryOutcome(this.provider, this.options, input);
        const acknowledge = () => {
            const { info } = input;
            // A test (or a sample sent to a node that checks no token) says what became of it: a
            // repeat reaches no flow, and the user should know. Only past verification.
            if (info.test || (res.req as IncomingMessage | undefined)?.headers[TEST_EVENT_HEADER] !== undefined) {
                res.setHeader(TEST_OUTCOME_HEADER, outcome.events.length === 0 && outcome.duplicates > 0 ? "duplicate" : "accepted");
                res.setHeader(TEST_DELIVERY_HEADER, info.deliveryId);
            }
            this.respond(res, outcome.answer.status, outcome.answer.body);
            reservation?.commit();
            if (outcome.events.length === 0 && outcome.duplicates > 0 && input.invalid.length === 0) this.counts.duplicates++;
            else this.counts.accepted++;
            this.context.onCount?.();
            // Fields copied one by one: an object spread here cost ~4 µs a delivery (CloneObjectIC; measured in-process).
            this.context.onDelivery?.({
                receivedAt: info.receivedAt,
                deliveryId: info.deliveryId,
                verified: info.verified,
                test: info.test,
                remoteAddress: input.remoteAddress,
                status: outcome.answer.status,
                accepted: outcome.events.length,
                duplicates: outcome.duplicates,
                rejected: input.invalid.length,
                firstNewKey: outcome.firstNewKey,
                firstRepeatedKey: outcome.firstRepeatedKey,
            });
        };
        if (!outcome.events.length && !outcome.rejections.length) return acknowledge();
        // Kept first, when the node keeps deliveries until handled: nothing reaches the
        // flow, and no 2xx goes out, before the events would survive a crash.
        const stored = outcome.events.length ? this.context.persist?.(outcome.events, input as DeliveryInput<unknown>) : undefined;
        if (stored) {
            return stored.then(
                () => {
                    // A deploy during the sync: refused, and forgotten by the store (the sender retries).
                    if (this.closed) throw restarting();
                    return this.emitThenAcknowledge(outcome, acknowledge);
                },
                () => {
                    throw new Rejection(503, "the delivery could not be kept: retry");
                },
            );
        }
        return this.emitThenAcknowledge(outcome, acknowledge);
    }

    private emitThenAcknowledge(outcome: DeliveryOutcome<Event>, acknowledge: () => void): Promise<void> {
        // The answer waits one turn: scheduled before the messages are handed over, it runs
        // just before the flow engine delivers them, so a slow flow never delays it, and a
        // deploy that stopped their next nodes in between is noticed: 503, so the sender
        // retries, rather than 200 for messages that will be dropped.
        const turn = nextTurn();
        const willArrive = this.outputs.emit(outcome.events, outcome.rejections);
        return turn.then(() => {
            if (!willArrive()) throw restarting();
            acknowledge();
        });
    }

    /** What makes a second delivery of `event` a duplicate, if anything. */
    private identityOf(event: Event, delivery: Delivery): Identity | undefined {
        const key = this.provider.duplicateKey?.(event, delivery);
        const position = this.provider.streamPosition?.(event);
        if (!position && key === undefined) return undefined;
        const identity: { key: string; stream?: Identity["stream"]; until?: number } = position
            ? { key: key ?? `${position.stream}#${position.position}`, stream: { name: position.stream, position: position.position } }
            : { key: key! };
        const until = this.provider.passesTimeCheckUntil?.(event, delivery, this.options);
        if (until !== undefined) identity.until = until;
        return identity;
    }

    private check(value: unknown): Checked<Event> {
        if (!isPlainObject(value)) return { rejection: NOT_AN_OBJECT };
        const result = this.provider.schema.safeParse(value);
        if (!result.success) return { rejection: new Rejection(400, describeSchemaError(result.error)) };
        if (!this.provider.prepare) return { event: result.data };
        try {
            return { event: this.provider.prepare(result.data, this.options) };
        } catch (error) {
            if (error instanceof Rejection) return { rejection: error };
            throw error;
        }
    }

    private reject(rejection: Rejection, request: RoutedRequest, receivedAt: string, deliveryId: string): void {
        if (request.res.headersSent) return;
        const { res } = request;
        // Node.js would read and discard the unread rest of an oversized body to keep the
        // connection alive; closing it costs the sender nothing and spares us the bytes.
        this.settleUnreadBody(request.req, res);
        if (rejection.status === 503 || rejection.status === 429) res.setHeader("Retry-After", "1");
        this.respond(res, rejection.status, this.provider.errorBody(rejection.reason));
        this.counts.rejected++;
        this.context.onCount?.();
        const remoteAddress = request.req.socket?.remoteAddress;
        this.outputs.emit([], [rejectionMessageOf(this.provider.name, rejection, { receivedAt, deliveryId }, remoteAddress)]);
        this.context.onDelivery?.({
            receivedAt,
            deliveryId,
            verified: false,
            test: false,
            remoteAddress,
            status: rejection.status,
            reason: rejection.reason,
            accepted: 0,
            duplicates: 0,
            rejected: 0,
        });
    }

    /** The name (msg.topic) of an event this receiver emitted, as kept: "event" when it no longer validates. */
    eventNameOf(payload: unknown): string {
        const result = this.provider.schema.safeParse(payload);
        return result.success ? this.provider.eventName(result.data) : "event";
    }

    /**
     * Emits events again that this receiver emitted before (kept by the delivery log), as a
     * delivery of its own: a new deliveryId, `replayOf` the original. Returns the new delivery's id.
     */
    replay(payloads: readonly unknown[], original: Pick<DeliveryInfo, "deliveryId" | "verified" | "test"> & { remoteAddress: string | undefined }): string {
        const info: DeliveryInfo = { receivedAt: receivedNow(), deliveryId: randomUUID(), verified: original.verified, test: original.test };
        this.reemit(payloads, info, original.remoteAddress, { replayOf: original.deliveryId });
        this.context.onDelivery?.({ ...info, remoteAddress: original.remoteAddress, status: 200, accepted: payloads.length, duplicates: 0, rejected: 0, replayOf: original.deliveryId });
        return info.deliveryId;
    }

    /**
     * Emits again kept events not handled (acknowledged before a restart, or by an instance
     * that stopped), under their own delivery's id, with `redelivered` and the attempt.
     */
    redeliver(payloads: readonly unknown[], original: DeliveryInfo & { remoteAddress: string | undefined }, attempt: number): void {
        this.reemit(payloads, original, original.remoteAddress, { redelivered: true, attempt });
        this.context.onDelivery?.({ ...original, status: 200, accepted: payloads.length, duplicates: 0, rejected: 0, attempt });
    }

    /**
     * Events emitted before, emitted again. Each goes through the provider's acceptance once
     * more (schema, checks, event filter, with the node's current options), so only what the
     * node would accept now reaches the flow; time-bound checks (a WMS event's age) are not
     * repeated.
     */
    private reemit(payloads: readonly unknown[], info: DeliveryInfo, remoteAddress: string | undefined, marks: Partial<WebhookInfo>): void {
        if (this.closed) throw restarting();
        // The provider's whole acceptance, with the node's options as they are now (a host
        // removed from Mentra's allow-list, an event filter changed): what would not be
        // accepted today is not emitted again.
        const events = payloads.map((payload) => {
            if (!isPlainObject(payload)) throw new Rejection(409, "not replayable: the event is not a JSON object");
            const result = this.provider.schema.safeParse(payload);
            // Where and what kind of mismatch, never the message: a schema's message may quote the payload, and the editor shows this reason.
            if (!result.success) throw new Rejection(409, `not replayable: ${schemaMismatchOf(result.error)}`);
            let event: Event;
            try {
                event = this.provider.prepare ? this.provider.prepare(result.data, this.options, true) : result.data;
            } catch (error) {
                if (error instanceof Rejection) throw new Rejection(409, `not replayable: the node's checks refuse it now (${error.status})`);
                throw error;
            }
            if (this.provider.wanted && !this.provider.wanted(event, this.options)) throw new Rejection(409, "not replayable: the node's event filter leaves it out now");
            return event;
        });
        const outcome = deliveryOutcome(this.provider, this.options, {
            wanted: events,
            identities: events.map(() => undefined),
            reservation: undefined,
            invalid: NONE_INVALID,
            info,
            remoteAddress,
        });
        for (const message of outcome.events) Object.assign(message.webhook, marks);
        this.outputs.emit(outcome.events, []);
    }

    /**
     * A delivery refused before its body was read. A small declared body is drained (read and
     * dropped, never buffered) for at most the body timeout, so the sender's client sees the
     * answer rather than a reset connection; anything else closes the connection after the answer.
     */
    private settleUnreadBody(req: IncomingMessage, res: ServerResponse): void {
        if (req.readableEnded) return;
        const declared = Number(req.headers["content-length"]);
        if (!req.readableDidRead && Number.isFinite(declared) && declared <= this.settings.maxBodyBytes) {
            const timer = setTimeout(() => req.socket?.destroy(), this.settings.bodyTimeoutMs);
            timer.unref?.();
            req.once("end", () => clearTimeout(timer));
            req.once("close", () => clearTimeout(timer));
            req.resume();
            return;
        }
        res.setHeader("Connection", "close");
    }

    private respond(res: ServerResponse, status: number, body: unknown): void {
        if (res.headersSent) return;
        // Serialised every time: caching a constant answer saves ~110 ns of a ~40,000 ns delivery (bench/caches.js).
        const text = JSON.stringify(body);
        res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
    }
}
