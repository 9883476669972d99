/**
 * The receiving pipeline every provider shares:
 * raw bytes → size limit → verify → parse and validate → de-duplicate → acknowledge → emit.
 * It names no provider and knows nothing of Node-RED: it reads a Node.js request, writes
 * a Node.js response and hands messages to the two outputs it is given.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Rejection, type Delivery, type DeliveryHead, type Provider } from "./provider.js";
import { MemoryState, type DedupState, type Identity, type Reservation } from "../dedup/state.js";
import { BodyBudget, checkContentType, checkDeclaredLength, parseJson, readBody, receivedNow } from "./body.js";
import { describeSchemaError, deliveryOutcome, isPlainObject, rejectionMessageOf, restarting, type DeliveryInput } from "./outcome.js";
import { TEST_DELIVERY_HEADER, TEST_EVENT_HEADER, TEST_OUTCOME_HEADER, type DeliveryInfo, type AnswerRecord, type InvalidElement, type ReceiverCounts, type RoutedRequest, type AcceptedDelivery, type Outlet } from "./messages.js";
import { maxBufferedBytes, type ReceiverSettings } from "./settings.js";
import { bodyRecord } from "./record.js";

// The pipeline's parts, for those who import them from here.
export * from "./settings.js";
export * from "./messages.js";
export * from "./outcome.js";
export { BodyBudget } from "./body.js";

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

const NONE_INVALID: InvalidElement[] = [];
const NOT_AN_OBJECT = new Rejection(400, "event must be a JSON object");

/** One event checked: the event, or why it was refused (never thrown: a batch may hold thousands). */
type Checked<Event> = { readonly event: Event; readonly rejection?: undefined } | { readonly event?: undefined; readonly rejection: Rejection };

function isTestEvent(header: string | string[] | undefined, verified: boolean, nonce: string | undefined): boolean {
    if (typeof header !== "string") return false;
    if (nonce !== undefined) {
        const given = Buffer.from(header);
        const expected = Buffer.from(nonce);
        if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
    }
    return verified && header === "1";
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
}


/** "TypeError at pipeline.js:123": enough to find a bug, nothing of the request. */
function whereFrom(error: unknown): string {
    const name = error instanceof Error ? error.name : typeof error;
    const frame = error instanceof Error ? /\(?([^\s()]+:\d+):\d+\)?\s*$/m.exec(error.stack?.split("\n")[1] ?? "") : null;
    return frame ? `${name} at ${frame[1]!.replace(/^.*[\\/]/, "")}` : name;
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
        /** Where each delivery goes once its outcome is decided: kept, emitted, answered, refused. */
        private readonly outlet: Outlet<Event>,
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
        // The delivery once accepted: a refusal after that (a deploy, a failed keep) lets go of it.
        let decidedDelivery: AcceptedDelivery<Event> | undefined;
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
                return this.accept(delivery, { receivedAt, deliveryId, verified, test }, request, (decided) => (decidedDelivery = decided));
            });
            if (accepted) await accepted;
        } catch (error) {
            if (!(error instanceof Rejection)) this.context.onInternalError?.(whereFrom(error));
            const rejection =
                error instanceof Rejection ? error : new Rejection(500, "internal error while receiving the webhook");
            this.reject(rejection, request, receivedAt, deliveryId, decidedDelivery);
        } finally {
            if (handling) this.inFlight--;
        }
    }

    /**
     * Parse, validate, de-duplicate; then acknowledge and emit. Returns a promise only when
     * something had to be waited for.
     */
    private accept(delivery: Delivery, info: DeliveryInfo, request: RoutedRequest, decided: (accepted: AcceptedDelivery<Event>) => void): void | Promise<void> {
        const { valid, elements: validElements, invalid } = this.validated(parseJson(delivery.body));
        if (this.closed) throw restarting();
        let wanted = valid;
        let elements = validElements;
        if (this.provider.wanted) {
            // One pass, one array (and, for a batch, its places): the filter runs on every delivery.
            wanted = [];
            elements = validElements && [];
            for (let position = 0; position < valid.length; position++) {
                if (!this.provider.wanted(valid[position]!, this.options)) continue;
                wanted.push(valid[position]!);
                elements?.push(validElements![position]!);
            }
        }
        const identities = wanted.map((event) => this.identityOf(event, delivery));
        const reserving = identities.filter((identity): identity is Identity => identity !== undefined);
        const reserved = reserving.length === 0 ? undefined : this.state.reserve(this.context.scope, reserving);
        const remoteAddress = request.req.socket?.remoteAddress;
        return whenReady(
            reserved,
            (reservation) =>
                releasedOnFailure(reservation, () => this.deliver({ wanted, elements, identities, reservation, invalid, info, remoteAddress }, delivery.body, reservation, request.res, decided)),
            () => {
                throw new Rejection(503, "de-duplication state unavailable: retry");
            },
        );
    }

    /** The document's events: one, or a batch's valid elements (and their places in it) and the invalid ones' reasons. */
    private validated(document: unknown): { valid: Event[]; elements: number[] | undefined; invalid: InvalidElement[] } {
        if (!this.provider.batches || !Array.isArray(document)) {
            const checked = this.check(document);
            if (checked.rejection) throw checked.rejection;
            return { valid: [checked.event], elements: undefined, invalid: NONE_INVALID };
        }
        if (document.length > this.settings.maxBatchEvents) {
            throw new Rejection(413, `batch of ${document.length} events exceeds the limit of ${this.settings.maxBatchEvents}`);
        }
        const valid: Event[] = [];
        const elements: number[] = [];
        const invalid: InvalidElement[] = [];
        for (let index = 0; index < document.length; index++) {
            const checked = this.check(document[index]);
            if (checked.rejection) invalid.push({ index, reason: checked.rejection.reason });
            else {
                valid.push(checked.event);
                elements.push(index);
            }
        }
        return { valid, elements, invalid };
    }

    /**
     * Acknowledge and emit what was reserved: the outcome is decided first (one delivery
     * object), then the outlet keeps it, emits it, and hears it was answered.
     */
    private deliver(
        input: DeliveryInput<Event>,
        body: Buffer,
        reservation: Reservation | undefined,
        res: ServerResponse,
        decided: (accepted: AcceptedDelivery<Event>) => void,
    ): void | Promise<void> {
        if (this.closed) throw restarting();
        const outcome = deliveryOutcome(this.provider, this.options, input);
        const delivery: AcceptedDelivery<Event> = {
            info: input.info,
            remoteAddress: input.remoteAddress,
            events: outcome.events,
            rejections: outcome.rejections,
            duplicates: outcome.duplicates,
            invalid: input.invalid.length,
            answer: outcome.answer,
            firstNewKey: outcome.firstNewKey,
            firstRepeatedKey: outcome.firstRepeatedKey,
            // The bytes as verified are the record of what it emitted: nothing is copied.
            record: outcome.events.length > 0 ? bodyRecord(body, outcome.elements) : undefined,
            // Present from the start: one object shape for every delivery, whatever the outlet attaches.
            kept: undefined,
            emitted: undefined,
        };
        decided(delivery);
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
            this.outlet.answered(delivery);
        };
        if (!outcome.events.length && !outcome.rejections.length) return acknowledge();
        // Kept first, when the node keeps deliveries until handled: nothing reaches the
        // flow, and no 2xx goes out, before the events would survive a crash.
        if (outcome.events.length && this.outlet.keeps) {
            return this.outlet.keep(delivery).then(
                () => {
                    // A deploy during the sync: refused, and forgotten by the store (the sender retries).
                    if (this.closed) throw restarting();
                    return this.emitThenAcknowledge(delivery, acknowledge);
                },
                () => {
                    throw new Rejection(503, "the delivery could not be kept: retry");
                },
            );
        }
        return this.emitThenAcknowledge(delivery, acknowledge);
    }

    private emitThenAcknowledge(delivery: AcceptedDelivery<Event>, acknowledge: () => void): Promise<void> {
        // The answer waits one turn: scheduled before the messages are handed over, it runs
        // just before the flow engine delivers them, so a slow flow never delays it, and a
        // deploy that stopped their next nodes in between is noticed: 503, so the sender
        // retries, rather than 200 for messages that will be dropped.
        const turn = nextTurn();
        const willArrive = this.outlet.emit(delivery);
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

    private reject(rejection: Rejection, request: RoutedRequest, receivedAt: string, deliveryId: string, accepted: AcceptedDelivery<Event> | undefined): void {
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
        const record: AnswerRecord = { receivedAt, deliveryId, verified: false, test: false, remoteAddress, status: rejection.status, reason: rejection.reason, accepted: 0, duplicates: 0, rejected: 0 };
        this.outlet.refused(record, rejectionMessageOf(this.provider.name, rejection, { receivedAt, deliveryId }, remoteAddress), accepted);
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
