/** NuraLogix WMS (Web Measurement Service) measurement events, HMAC-SHA256 signed. */
import { createHmac, createSecretKey, randomBytes, randomUUID, timingSafeEqual, type KeyObject } from "node:crypto";
import { z } from "zod";
import { dedupWindowSeconds, nonNegativeNumber } from "../receive/options.js";
import { Rejection, type Provider, type RawOptions } from "../receive/provider.js";

/** The documented codes; the list is open, so any other code with a valid MAC is emitted too. */
export const WMS_EVENT_CODES = [
    "WMS_LOADED",
    "CONFIGURATION_LOADED",
    "CAMERA_PERMISSION_GRANTED",
    "CAMERA_PERMISSION_DENIED",
    "CAMERA_STARTED",
    "MEASUREMENT_STARTED",
    "MEASUREMENT_CREATED",
    "INTERMEDIATE_RESULTS",
    "SCAN_COMPLETED",
    "RESULTS_RECEIVED",
    "REDIRECTING_TO_CALLBACK",
    "MEASUREMENT_CANCELED",
    "CONSTRAINT_VIOLATION",
    "PAGE_UNLOADED",
    "WEBSOCKET_DISCONNECTED",
    "WEBSOCKET_RECONNECTED",
    "WEBSOCKET_RECONNECTION_FAILED",
    "API_ERROR",
    "PAGE_VISIBILITY_CHANGE",
    "LOW_SNR",
    "GENERAL_ERROR",
] as const;
export type WmsEventCode = (typeof WMS_EVENT_CODES)[number];

export const wmsEventSchema = z.looseObject({
    /** Seconds since the epoch. */
    timestamp: z.number().nonnegative(),
    sessionId: z.string().min(1),
    /** 0, 1, 2, ... within a session. */
    sequence: z.number().int().nonnegative(),
    event: z.string().min(1),
    severity: z.enum(["INFO", "WARN", "ERROR"]),
    payload: z.record(z.string(), z.unknown()).nullable().optional(),
});
export type WmsEvent = z.infer<typeof wmsEventSchema>;

export const WMS_MAC_HEADER = "x-wms-content-mac";
const MAC_FORMAT = /^hmac-sha256=[0-9a-f]{64}$/;
const MAC_PREFIX_LENGTH = "hmac-sha256=".length;

/** Compares against every key (no early exit) in constant time. */
function anyMacMatches(expected: Buffer, keys: readonly KeyObject[], body: Buffer): boolean {
    let matched = false;
    for (const key of keys) matched = timingSafeEqual(expected, createHmac("sha256", key).update(body).digest()) || matched;
    return matched;
}

/** Refuses (401) a missing or malformed MAC header: before the body is read, and without decoding it. */
function checkMacHeader(header: string | string[] | undefined): string {
    if (header === undefined) throw new Rejection(401, "missing X-WMS-Content-MAC header");
    if (typeof header !== "string" || !MAC_FORMAT.test(header)) throw new Rejection(401, "malformed X-WMS-Content-MAC header (expected hmac-sha256=<lowercase hex>)");
    return header;
}

/** The MAC a well-formed header carries (its 64 hex digits after the prefix). */
function macOf(header: string | string[] | undefined): Buffer {
    return Buffer.from(checkMacHeader(header).slice(MAC_PREFIX_LENGTH), "hex");
}

/** The header value WMS sends for `body`: what the CLI signer and tests use. */
export function wmsSignature(body: Buffer | string, secret: string): string {
    return `hmac-sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

const WMS_SUCCESS = { status: 200, body: { status: "ok" } } as const;

/** How far ahead of this server's clock an event's timestamp may be: clocks drift. */
export const WMS_FUTURE_TOLERANCE_SECONDS = 300;

export interface WmsOptions {
    /**
     * Also accept the MAC as WMS's sample code computes it (the body as text, each character
     * cut to its low byte). Weaker: for a body with non-ASCII characters, one captured MAC
     * then verifies other bodies. Off unless a user turns it on.
     */
    readonly acceptTextMac: boolean;
    /** Events older than this are refused (0: no check); default: the de-duplication window. */
    readonly maxAgeSeconds: number;
}


/**
 * An exact replay after the de-duplication window would be taken as new: so by default an
 * event must be younger than the window.
 */
export function wmsOptions(raw: RawOptions): WmsOptions {
    return {
        acceptTextMac: raw.acceptTextMac === true || raw.acceptTextMac === "true",
        maxAgeSeconds: nonNegativeNumber(raw.maxAgeSeconds) ?? dedupWindowSeconds(raw),
    };
}

const nowInSeconds = () => Math.floor(Date.now() / 1000);

/** The measurement session this process's samples belong to: a fresh id per process, positions counted on. */
const sampleSession = { id: randomBytes(13).toString("hex").slice(0, 25), measurementId: randomUUID(), next: 0 };

function nextSample(event: string, severity: "INFO" | "WARN" | "ERROR", extra: Record<string, unknown>) {
    const sequence = sampleSession.next++;
    const payload = { measurementId: sampleSession.measurementId, ...extra, ...("snr" in extra ? { sequence } : {}) };
    return { timestamp: nowInSeconds(), sessionId: sampleSession.id, sequence, event, severity, payload };
}

export const wms: Provider<WmsEvent, WmsOptions, KeyObject[], "wms"> = {
    name: "wms",
    nodeType: "wms-webhook",
    title: "NuraLogix WMS event",
    description: "msg.payload of a wms-webhook node: one WMS measurement event.",
    // Each sample is the next event of this process's sample session: a second test is a new
    // event, not a duplicate of the first, and follows it without a gap.
    samples: {
        MEASUREMENT_CREATED: () => nextSample("MEASUREMENT_CREATED", "INFO", {}),
        INTERMEDIATE_RESULTS: () => nextSample("INTERMEDIATE_RESULTS", "INFO", { snr: 100 }),
        CONSTRAINT_VIOLATION: () => nextSample("CONSTRAINT_VIOLATION", "ERROR", {}),
    },
    signatureHeaders: (body, secret) => ({ [WMS_MAC_HEADER]: wmsSignature(body, secret) }),
    demoSecret: "demo-wms-mac-secret",
    secretRequired: true,

    options: wmsOptions,
    // Key objects made once: an HMAC keyed with one is ~0.5 µs cheaper than with the secret's bytes.
    prepareKeys: (secrets) => secrets.map((secret) => createSecretKey(Buffer.from(secret, "utf8"))),
    checkHead(head) {
        checkMacHeader(head.headers[WMS_MAC_HEADER]);
        return undefined;
    },
    verify(delivery, keys, options) {
        const expected = macOf(delivery.headers[WMS_MAC_HEADER]);
        if (anyMacMatches(expected, keys, delivery.body)) return { verified: true };
        if (options.acceptTextMac) {
            // WMS's sample check hashes the body as text with Node's 'ascii' encoding, which
            // differs from the raw bytes only when the body holds non-ASCII characters.
            const asText = Buffer.from(delivery.body.toString("utf8"), "ascii");
            if (!asText.equals(delivery.body) && anyMacMatches(expected, keys, asText)) return { verified: true };
        }
        throw new Rejection(401, "X-WMS-Content-MAC does not match the body");
    },

    batches: false,
    schema: wmsEventSchema,
    prepare(event, options, again) {
        if (options.maxAgeSeconds > 0 && !again) {
            const age = Date.now() / 1000 - event.timestamp;
            if (age > options.maxAgeSeconds) {
                throw new Rejection(400, `timestamp is ${Math.round(age)} s old, older than the ${options.maxAgeSeconds} s allowed`);
            }
            if (-age > WMS_FUTURE_TOLERANCE_SECONDS) throw new Rejection(400, `timestamp is ${Math.round(-age)} s in the future`);
        }
        return event;
    },
    eventName: (event) => event.event,
    eventKey: (event) => `${event.sessionId} #${event.sequence}`,
    streamPosition: (event) => ({ stream: event.sessionId, position: event.sequence }),
    passesTimeCheckUntil: (event, _delivery, options) => (options.maxAgeSeconds > 0 ? (event.timestamp + options.maxAgeSeconds) * 1000 : undefined),

    success: () => WMS_SUCCESS,
    errorBody: (reason) => ({ error: reason }),
};
