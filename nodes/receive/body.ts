/**
 * Reading a request's body, bounded before a byte is read (declared length, content type) and
 * while it arrives (size, time, a budget per node shared by the bodies still arriving).
 */
import type { IncomingMessage } from "node:http";
import { Rejection } from "./provider.js";
import { BODY_GRACE_MS, BODY_IDLE_MS, BODY_MIN_BYTES_PER_SECOND } from "./settings.js";

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

export function checkContentType(header: string | undefined): void {
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
export function receivedNow(): string {
    const now = Date.now();
    if (now !== lastTime) {
        lastTime = now;
        lastIso = new Date(now).toISOString();
    }
    return lastIso;
}

/** Refuses a declared length over the limit before a byte of the body is read. */
export function checkDeclaredLength(req: IncomingMessage, limit: number): void {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
        throw new Rejection(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`);
    }
}

/** A body still arriving: since when, when its last bytes came, how many. */
interface Arriving {
    readonly started: number;
    readonly timeoutMs: number;
    lastData: number;
    received: number;
}

/** How often the bodies still arriving are checked against their deadlines, at most. */
const SWEEP_MS = 100;

/**
 * Bodies of one node still arriving: their bytes, bounded, and who has been reading longest.
 * One timer checks them all against their deadlines while any is arriving (a timer per body
 * would be made and cleared for every request, most of which arrive whole in one turn).
 */
export class BodyBudget {
    buffered = 0;
    /** Each body's cut-off, in the order they started: the oldest is cut off first when room is needed. */
    readonly readers = new Map<(rejection: Rejection) => void, Arriving>();
    private sweeper: NodeJS.Timeout | undefined;
    private sweepMs = SWEEP_MS;

    constructor(readonly maxBytes: number) {}

    /** Watches a body from now on: cut off once it is too slow, too idle or too late. */
    watch(cutOff: (rejection: Rejection) => void, arriving: Arriving): void {
        this.readers.set(cutOff, arriving);
        if (arriving.timeoutMs < this.sweepMs) this.sweepMs = Math.max(1, arriving.timeoutMs);
        if (this.sweeper === undefined) {
            this.sweeper = setTimeout(this.sweep, this.sweepMs);
            this.sweeper.unref?.();
        }
    }

    private readonly sweep = (): void => {
        this.sweeper = undefined;
        const now = Date.now();
        for (const [cutOff, arriving] of this.readers) {
            const tooSlow = slowBody(now - arriving.started, now - arriving.lastData, arriving.received, arriving.timeoutMs);
            if (tooSlow) cutOff(tooSlow);
        }
        if (this.readers.size > 0) {
            this.sweeper = setTimeout(this.sweep, this.sweepMs);
            this.sweeper.unref?.();
        }
    };
}

/**
 * The raw bytes of the body, as sent: the signature is computed over them. (Node's HTTP
 * parser already enforces Content-Length and chunked framing; what is left is the limit,
 * the deadline, a silent or trickling sender, the node's budget and a sender that goes away.)
 */
/**
 * Makes room in the budget for `bytes` more: the bodies that have been arriving longest make way
 * (a slow sender is the likeliest attacker). False when there is no room even so.
 */
function madeRoom(budget: BodyBudget, bytes: number, self: (rejection: Rejection) => void): boolean {
    for (const oldest of budget.readers.keys()) {
        if (budget.buffered + bytes <= budget.maxBytes) break;
        if (oldest !== self) oldest(new Rejection(503, "too many bodies arriving at once: retry"));
    }
    return budget.buffered + bytes <= budget.maxBytes;
}

/** Why a body still arriving is cut off now, if it is: too long in all, idle too long, or too slow after its grace. */
function slowBody(elapsed: number, idle: number, received: number, timeoutMs: number): Rejection | undefined {
    if (elapsed >= timeoutMs) return new Rejection(408, `body not received within ${timeoutMs / 1000} seconds`);
    if (idle >= BODY_IDLE_MS) return new Rejection(408, `no body data for ${BODY_IDLE_MS / 1000} seconds`);
    if (elapsed >= BODY_GRACE_MS && received < (BODY_MIN_BYTES_PER_SECOND * elapsed) / 1000) {
        return new Rejection(408, `body arriving slower than ${BODY_MIN_BYTES_PER_SECOND / 1024} KiB/s`);
    }
    return undefined;
}

export function readBody(req: IncomingMessage, limit: number, timeoutMs: number, budget: BodyBudget): Promise<Buffer> {
    if (req.readableEnded) {
        // Something before this node consumed the stream: the raw bytes are gone, nothing can be verified.
        return Promise.reject(new Rejection(500, "the request body was consumed before the webhook node could read it"));
    }
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const now = Date.now();
        const arriving: Arriving = { started: now, timeoutMs, lastData: now, received: 0 };
        let done = false;
        const finish = (error: Rejection | undefined) => {
            if (done) return;
            done = true;
            budget.readers.delete(cutOff);
            budget.buffered -= arriving.received;
            req.off("data", onData);
            req.off("end", onEnd);
            req.off("error", onError);
            req.off("close", onClose);
            if (error) {
                req.pause(); // read no more of it: the answer closes the connection
                return reject(error);
            }
            resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, arriving.received));
        };
        const cutOff = (rejection: Rejection) => finish(rejection);
        const onData = (chunk: Buffer) => {
            if (arriving.received + chunk.length > limit) return finish(new Rejection(413, `body exceeds the limit of ${limit} bytes`));
            if (!madeRoom(budget, chunk.length, cutOff)) return finish(new Rejection(503, "too many bodies arriving at once: retry"));
            budget.buffered += chunk.length;
            arriving.received += chunk.length;
            arriving.lastData = Date.now();
            chunks.push(chunk);
        };
        const onEnd = () => finish(undefined);
        const onError = () => finish(new Rejection(400, "could not read the request body"));
        const onClose = () => finish(new Rejection(400, "request aborted before the body was complete"));
        budget.watch(cutOff, arriving);
        req.on("data", onData);
        req.on("end", onEnd);
        req.on("error", onError);
        req.on("close", onClose);
    });
}

export function parseJson(body: Buffer): unknown {
    // A UTF-8 byte-order mark is not JSON, but some clients send one.
    const start = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
    try {
        return JSON.parse(body.toString("utf8", start));
    } catch {
        throw new Rejection(400, body.length === 0 ? "empty body: expected JSON" : "body is not valid JSON");
    }
}
