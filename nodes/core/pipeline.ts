/**
 * The receiving pipeline every provider shares:
 * raw bytes → size limit → verify → parse and validate → de-duplicate → acknowledge → emit.
 * It names no provider and knows nothing of Node-RED: it reads a Node.js request, writes
 * a Node.js response and hands messages to the two outputs it is given.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { Rejection, type AnyProvider, type Delivery } from "./provider.js";
import { MemoryState, skippedPositions, type DeliveryState, type Identity, type Reservation, type StateLimits } from "./state.js";

export interface ReceiverSettings extends StateLimits {
    /** Bodies larger than this are refused with 413. */
    readonly maxBodyBytes: number;
    /** A body that has not fully arrived this long after the request is cut off (408). */
    readonly bodyTimeoutMs: number;
    /** Deliveries handled at once; past this, 429 with Retry-After. */
    readonly maxConcurrent: number;
}

export const DEFAULT_SETTINGS: ReceiverSettings = {
    maxBodyBytes: 1024 * 1024,
    bodyTimeoutMs: 10_000,
    maxConcurrent: 256,
    windowMs: 10 * 60 * 1000,
    maxEntries: 100_000,
};

export interface WebhookInfo {
    provider: string;
    receivedAt: string;
    verified: boolean;
    deliveryId: string;
    /** For a provider with ordered streams (WMS): positions skipped before this event. */
    missing?: number[];
    missingCount?: number;
}

export interface EventMessage {
    /** Properties a provider adds (Mentra: websocketUrl). */
    [field: string]: unknown;
    payload: unknown;
    topic: string;
    webhook: WebhookInfo;
    parts?: { id: string; index: number; count: number; type: "array"; len: 1 };
}

export interface RejectionMessage {
    payload: { provider: string; status: number; reason: string; index?: number };
    webhook: { provider: string; receivedAt: string; deliveryId: string; remoteAddress: string | undefined };
}

export interface ReceiverOutputs {
    /**
     * Hands a delivery's messages to the flow. Returns a check, run just before they reach
     * the next nodes, telling whether they still will: false when a deploy stopped one of
     * those nodes in between (the flow engine would then drop the messages).
     */
    emit(events: EventMessage[], rejections: RejectionMessage[]): () => boolean;
}

/** Answers that never change (most providers' success) are serialised once. */
const serialised = new WeakMap<object, string>();
function serialise(body: unknown): string {
    if (typeof body !== "object" || body === null) return JSON.stringify(body);
    let text = serialised.get(body);
    if (text === undefined) serialised.set(body, (text = JSON.stringify(body)));
    return text;
}

/**
 * Runs what follows a reservation; if it fails in any way (a refusal, a deploy, a bug), the
 * reservation is released first, so the sender's retry is taken rather than answered as a
 * duplicate of an event that was never emitted.
 */
function releasedOnFailure(reservation: Reservation | undefined, work: () => Promise<void> | undefined): Promise<void> | undefined {
    const releaseThenFail = (error: unknown): Promise<never> => {
        const fail = () => Promise.reject(error);
        return Promise.resolve()
            .then(() => reservation?.release())
            .then(fail, fail);
    };
    let outcome: Promise<void> | undefined;
    try {
        outcome = work();
    } catch (error) {
        return releaseThenFail(error);
    }
    return outcome?.catch(releaseThenFail);
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

/** A sender repeats the same Content-Type: remember the last one found acceptable. */
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

/** ISO time of receipt; formatted once per millisecond under load. */
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

/**
 * The raw bytes of the body, as sent: the signature is computed over them. (Node's HTTP
 * parser already enforces Content-Length and chunked framing; what is left is the limit,
 * the deadline and a sender that goes away.)
 */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
        // Refused before a byte of the body is read.
        return Promise.reject(new Rejection(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`));
    }
    if (req.readableEnded) {
        // Something before this node consumed the stream: the raw bytes are gone, nothing can be verified.
        return Promise.reject(new Rejection(500, "the request body was consumed before the webhook node could read it"));
    }
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let received = 0;
        const finish = (error: Rejection | undefined) => {
            clearTimeout(timer);
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
        const onData = (chunk: Buffer) => {
            received += chunk.length;
            if (received > limit) return finish(new Rejection(413, `body exceeds the limit of ${limit} bytes`));
            chunks.push(chunk);
        };
        const onEnd = () => finish(undefined);
        const onError = () => finish(new Rejection(400, "could not read the request body"));
        const onClose = () => finish(new Rejection(400, "request aborted before the body was complete"));
        const timer = setTimeout(() => finish(new Rejection(408, `body not received within ${timeoutMs / 1000} seconds`)), timeoutMs);
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An element of a batch that failed validation: reported on the second output. */
interface InvalidElement {
    readonly rejection: Rejection;
    readonly index: number;
}
const NONE_INVALID: InvalidElement[] = [];

export interface ReceiverContext {
    /** Where de-duplication state lives: this process (default) or a shared store. */
    readonly state?: DeliveryState;
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

export class Receiver<Options, Keys> {
    readonly counts: ReceiverCounts = { accepted: 0, rejected: 0 };
    private readonly keys: Promise<Keys>;
    private readonly state: DeliveryState;
    private closed = false;
    private inFlight = 0;

    /** The prepared keys once ready: no await per request after that. */
    private readyKeys: Keys | undefined;

    constructor(
        private readonly provider: AnyProvider,
        private readonly options: Options,
        secrets: readonly string[],
        private readonly settings: ReceiverSettings,
        private readonly outputs: ReceiverOutputs,
        private readonly context: ReceiverContext = { scope: provider.name },
    ) {
        this.keys = Promise.resolve(provider.prepareKeys(secrets));
        this.keys.then((keys) => (this.readyKeys = keys), () => {}); // a failure is met by the first request
        this.state = context.state ?? new MemoryState(settings);
    }

    /** From now on deliveries are answered 503, so the sender retries instead of losing them. */
    close(): void {
        this.closed = true;
    }

    async handle(request: RoutedRequest): Promise<void> {
        const receivedAt = receivedNow();
        const deliveryId = randomUUID();
        const { req, res } = request;
        this.inFlight++;
        try {
            if (req.method !== "POST") {
                res.setHeader("Allow", "POST");
                throw new Rejection(405, `method ${String(req.method).slice(0, 20)} not allowed: use POST`);
            }
            if (this.closed) throw new Rejection(503, "receiver is restarting: retry");
            if (this.inFlight > this.settings.maxConcurrent) throw new Rejection(429, "too many deliveries at once: retry");
            checkContentType(req.headers["content-type"]);
            const body = await readBody(req, this.settings.maxBodyBytes, this.settings.bodyTimeoutMs);
            const delivery: Delivery = {
                body,
                headers: req.headers,
                path: request.path,
                extraPath: request.extraPath,
                query: request.query,
            };
            // Await only what is asynchronous: each await costs a promise and a turn on a hot path.
            const keys = this.readyKeys ?? (await this.keys);
            const verification = this.provider.verify(delivery, keys, this.options);
            const { verified } = verification instanceof Promise ? await verification : verification;
            const accepted = this.accept(delivery, { receivedAt, deliveryId, verified }, request);
            if (accepted) await accepted;
        } catch (error) {
            if (!(error instanceof Rejection)) this.context.onInternalError?.(whereFrom(error));
            const rejection =
                error instanceof Rejection ? error : new Rejection(500, "internal error while receiving the webhook");
            this.reject(rejection, request, receivedAt, deliveryId);
        } finally {
            this.inFlight--;
        }
    }

    /**
     * Parse, validate, de-duplicate; then acknowledge and emit. Returns a promise only when
     * something had to be waited for.
     */
    private accept(
        delivery: Delivery,
        info: { receivedAt: string; deliveryId: string; verified: boolean },
        request: RoutedRequest,
    ): Promise<void> | undefined {
        const document = parseJson(delivery.body);
        const isBatch = this.provider.batches && Array.isArray(document);
        let valid: unknown[];
        let invalid: InvalidElement[] = NONE_INVALID;
        if (isBatch) {
            valid = [];
            invalid = [];
            (document as unknown[]).forEach((value, index) => {
                try {
                    valid.push(this.validate(value));
                } catch (error) {
                    if (!(error instanceof Rejection)) throw error;
                    invalid.push({ rejection: error, index });
                }
            });
        } else {
            valid = [this.validate(document)];
        }
        if (this.closed) throw new Rejection(503, "receiver is restarting: retry");
        const wanted = this.provider.wanted ? valid.filter((event) => this.provider.wanted!(event, this.options)) : valid;

        const identities = wanted.map((event) => this.identityOf(event, delivery));
        const reserving = identities.filter((identity): identity is Identity => identity !== undefined);
        const deliverReserved = (reservation: Reservation | undefined) =>
            releasedOnFailure(reservation, () => this.deliver(wanted, identities, reservation, invalid, isBatch, info, request));
        if (reserving.length === 0) return deliverReserved(undefined);
        const reserved = this.state.reserve(this.context.scope, reserving);
        if (!(reserved instanceof Promise)) return deliverReserved(reserved);
        return reserved.then(deliverReserved, () => {
            throw new Rejection(503, "de-duplication state unavailable: retry");
        });
    }

    /** Acknowledge and emit what was reserved. */
    private deliver(
        wanted: unknown[],
        identities: (Identity | undefined)[],
        reservation: Reservation | undefined,
        invalid: InvalidElement[],
        isBatch: boolean,
        info: { receivedAt: string; deliveryId: string; verified: boolean },
        request: RoutedRequest,
    ): Promise<void> | undefined {
        const statuses = reservation?.statuses ?? [];
        // Another delivery of the same event is being taken in right now (on another instance):
        // a single event waits for the sender's retry; an element of a batch is left to it.
        if (this.closed || (!isBatch && statuses.includes("busy"))) {
            throw new Rejection(503, this.closed ? "receiver is restarting: retry" : "the same event is being received: retry");
        }

        const events: EventMessage[] = [];
        let duplicates = 0;
        let reserved = 0;
        wanted.forEach((event, position) => {
            const identity = identities[position];
            const webhook: WebhookInfo = {
                provider: this.provider.name,
                receivedAt: info.receivedAt,
                verified: info.verified,
                deliveryId: info.deliveryId,
            };
            if (identity) {
                const status = statuses[reserved];
                const previousHighest = reservation?.previousHighest[reserved];
                reserved++;
                if (status !== "new") {
                    duplicates++;
                    return;
                }
                if (identity.stream) Object.assign(webhook, skippedPositions(previousHighest ?? -1, identity.stream.position));
            } else if (this.provider.streamPosition) {
                Object.assign(webhook, { missing: [], missingCount: 0 });
            }
            const message: EventMessage = { payload: event, topic: this.provider.eventName(event), webhook };
            const fields = this.provider.messageFields?.(event, this.options);
            events.push(fields ? Object.assign(message, fields) : message);
        });
        if (this.provider.batches) {
            events.forEach((message, index) => {
                message.parts = { id: info.deliveryId, index, count: events.length, type: "array", len: 1 };
            });
        }

        const rejections = invalid.map(({ rejection, index }) =>
            this.rejectionMessage(rejection, request, info.receivedAt, info.deliveryId, index),
        );
        const acknowledge = () => {
            const answer = this.provider.success({ accepted: events.length, duplicates, rejected: invalid.length });
            this.respond(request.res, answer.status, answer.body);
            reservation?.commit();
            this.counts.accepted++;
            this.context.onCount?.();
        };
        if (!events.length && !rejections.length) {
            acknowledge();
            return undefined;
        }
        // The answer waits one turn: scheduled before the messages are handed over, it runs
        // just before the flow engine delivers them, so a slow flow never delays it, and a
        // deploy that stopped their next nodes in between is noticed: 503, so the sender
        // retries, rather than 200 for messages that will be dropped.
        const turn = nextTurn();
        const willArrive = this.outputs.emit(events, rejections);
        return turn.then(() => {
            if (!willArrive()) throw new Rejection(503, "receiver is restarting: retry");
            acknowledge();
        });
    }

    /** What makes a second delivery of `event` a duplicate, if anything. */
    private identityOf(event: unknown, delivery: Delivery): Identity | undefined {
        const key = this.provider.duplicateKey?.(event, delivery);
        const position = this.provider.streamPosition?.(event);
        if (position) {
            return { key: key ?? `${position.stream}#${position.position}`, stream: { name: position.stream, position: position.position } };
        }
        return key === undefined ? undefined : { key };
    }

    private validate(value: unknown): unknown {
        if (!isPlainObject(value)) throw new Rejection(400, "event must be a JSON object");
        const result = this.provider.schema.safeParse(value);
        if (!result.success) throw new Rejection(400, describeSchemaError(result.error));
        return this.provider.prepare ? this.provider.prepare(result.data, this.options) : result.data;
    }

    private reject(rejection: Rejection, request: RoutedRequest, receivedAt: string, deliveryId: string): void {
        if (request.res.headersSent) return;
        const { res } = request;
        // Node.js would read and discard the unread rest of an oversized body to keep the
        // connection alive; closing it costs the sender nothing and spares us the bytes.
        if (rejection.status === 413 || rejection.status === 408) res.setHeader("Connection", "close");
        if (rejection.status === 503 || rejection.status === 429) res.setHeader("Retry-After", "1");
        this.respond(res, rejection.status, this.provider.errorBody(rejection.reason));
        this.counts.rejected++;
        this.context.onCount?.();
        this.outputs.emit([], [this.rejectionMessage(rejection, request, receivedAt, deliveryId, undefined)]);
    }

    private rejectionMessage(
        rejection: Rejection,
        request: RoutedRequest,
        receivedAt: string,
        deliveryId: string,
        index: number | undefined,
    ): RejectionMessage {
        const payload: RejectionMessage["payload"] = {
            provider: this.provider.name,
            status: rejection.status,
            reason: rejection.reason,
        };
        if (index !== undefined) payload.index = index;
        return {
            payload,
            webhook: { provider: this.provider.name, receivedAt, deliveryId, remoteAddress: request.req.socket?.remoteAddress },
        };
    }

    private respond(res: ServerResponse, status: number, body: unknown): void {
        if (res.headersSent) return;
        const text = serialise(body);
        res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
    }
}
