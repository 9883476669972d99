/**
 * Standard Webhooks (standardwebhooks.com): what OpenAI, every Svix-powered sender and many
 * others send. Signed over `<webhook-id>.<webhook-timestamp>.<raw body>`: `v1` is HMAC-SHA256
 * with the base64 key after `whsec_`, `v1a` is Ed25519, checked with a `whpk_` public key.
 * The id is the same on every retry (the idempotency key); the timestamp is checked against
 * a tolerance, so a replay is never emitted: within the tolerance it is a duplicate by id,
 * after it the timestamp refuses it.
 */
import { createHmac, createPublicKey, createSecretKey, randomBytes, timingSafeEqual, verify as verifySignature, type KeyObject } from "node:crypto";
import { z } from "zod";
import { dedupWindowSeconds, positiveNumber } from "../receive/options.js";
import { Rejection, type DeliveryHead, type Provider, type RawOptions } from "../receive/provider.js";
import { eventWanted, parseList } from "../receive/options-lists.js";

/** The payload the specification recommends; any JSON object is accepted, fields added later kept. */
export const standardEventSchema = z.looseObject({
    /** Full-stop delimited and hierarchical: "user.created", "invoice.paid". */
    type: z.string().optional(),
    /** When the event happened (ISO 8601), not when it was delivered. */
    timestamp: z.string().optional(),
    data: z.unknown().optional(),
});
export type StandardEvent = z.infer<typeof standardEventSchema>;

/** Header names: the specification's, then Svix's, which many senders still use. */
const HEADER_SETS = [
    { id: "webhook-id", timestamp: "webhook-timestamp", signature: "webhook-signature" },
    { id: "svix-id", timestamp: "svix-timestamp", signature: "svix-signature" },
] as const;

export const STANDARD_DEFAULT_TOLERANCE_SECONDS = 5 * 60;
const SECRET_PREFIX = "whsec_";
const PUBLIC_KEY_PREFIX = "whpk_";
/** DER prefix of an Ed25519 public key in SubjectPublicKeyInfo form: the 32 raw bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface StandardKeys {
    /** HMAC keys (v1): from whsec_ secrets, or unprefixed base64, as the official library reads them. */
    readonly hmac: readonly KeyObject[];
    /** Ed25519 public keys (v1a): from whpk_ keys. */
    readonly ed25519: readonly KeyObject[];
}

export interface StandardOptions {
    /** Event types to emit: "*" for all, "invoice.*" for a family, or exact types. */
    readonly events: readonly string[];
    /** How far webhook-timestamp may be from this server's clock, both ways (at most the de-duplication window). */
    readonly toleranceSeconds: number;
}

function strictBase64(text: string): Buffer | undefined {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
    const bytes = Buffer.from(text, "base64");
    return bytes.length > 0 ? bytes : undefined;
}

/** Why the configured secrets cannot be used (never quoting them), if they cannot. */
export function standardSecretProblem(secrets: readonly string[]): string | undefined {
    for (const [line, secret] of secrets.entries()) {
        const isPublicKey = secret.startsWith(PUBLIC_KEY_PREFIX);
        const bytes = strictBase64(secret.slice(isPublicKey ? PUBLIC_KEY_PREFIX.length : secret.startsWith(SECRET_PREFIX) ? SECRET_PREFIX.length : 0));
        if (!bytes) return `secret ${line + 1} is not whsec_<base64> or whpk_<base64>`;
        if (isPublicKey && bytes.length !== 32) return `public key ${line + 1} is not an Ed25519 key (32 bytes)`;
    }
    return undefined;
}

export function standardKeys(secrets: readonly string[]): StandardKeys {
    const problem = standardSecretProblem(secrets);
    if (problem) throw new Error(problem);
    const hmac: KeyObject[] = [];
    const ed25519: KeyObject[] = [];
    for (const secret of secrets) {
        if (secret.startsWith(PUBLIC_KEY_PREFIX)) {
            const raw = Buffer.from(secret.slice(PUBLIC_KEY_PREFIX.length), "base64");
            ed25519.push(createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" }));
        } else {
            hmac.push(createSecretKey(Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64")));
        }
    }
    return { hmac, ed25519 };
}

function headerValue(value: string | string[] | undefined): string | undefined {
    return typeof value === "string" ? value : undefined;
}

interface SignedHead {
    readonly id: string;
    readonly timestamp: string;
    /** Each signature the header lists, by version. */
    readonly v1: readonly Buffer[];
    readonly v1a: readonly Buffer[];
}

/** The header names a delivery uses: the specification's, or Svix's. */
function headerNamesOf(head: DeliveryHead): (typeof HEADER_SETS)[number] {
    return HEADER_SETS.find((set) => head.headers[set.id] !== undefined) ?? HEADER_SETS[0];
}

/** A verified delivery's id (checked by signedHead before). */
function idOf(head: DeliveryHead): string | undefined {
    return headerValue(head.headers[headerNamesOf(head).id]);
}

/** The id, timestamp and signatures a delivery carries; refused (401) when any is missing or malformed. */
function signedHead(head: DeliveryHead): SignedHead {
    const names = headerNamesOf(head);
    const id = headerValue(head.headers[names.id]);
    const timestamp = headerValue(head.headers[names.timestamp]);
    const signature = headerValue(head.headers[names.signature]);
    if (!id || !timestamp || !signature) throw new Rejection(401, `missing ${names.id}, ${names.timestamp} or ${names.signature} header`);
    // The id is signed with "." as the separator: one holding a "." could shift the signed fields.
    if (id.length > 256 || id.includes(".")) throw new Rejection(401, `malformed ${names.id} header`);
    if (!/^[0-9]{1,12}$/.test(timestamp)) throw new Rejection(401, `malformed ${names.timestamp} header (expected seconds since the epoch)`);
    const v1: Buffer[] = [];
    const v1a: Buffer[] = [];
    for (const entry of signature.split(" ")) {
        const [version, value = ""] = entry.split(",", 2);
        const bytes = strictBase64(value);
        if (version === "v1" && bytes?.length === 32) v1.push(bytes);
        else if (version === "v1a" && bytes?.length === 64) v1a.push(bytes);
    }
    if (v1.length + v1a.length === 0) throw new Rejection(401, `no v1 or v1a signature in ${names.signature}`);
    return { id, timestamp, v1, v1a };
}

function checkTimestamp(timestamp: string, toleranceSeconds: number): void {
    const skew = Number(timestamp) - Math.floor(Date.now() / 1000);
    if (skew < -toleranceSeconds) throw new Rejection(401, `message timestamp too old (more than ${toleranceSeconds} s)`);
    if (skew > toleranceSeconds) throw new Rejection(401, `message timestamp too new (more than ${toleranceSeconds} s ahead)`);
}

/** The header values a sender following the specification sends for `body`, signed with a whsec_ secret (v1). */
export function standardSignatureHeaders(body: string | Buffer, secret: string, id = `msg_${randomBytes(12).toString("base64url")}`, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
    const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
    const signature = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64");
    return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${signature}` };
}


export function standardOptions(raw: RawOptions): StandardOptions {
    const tolerance = positiveNumber(raw.toleranceSeconds, STANDARD_DEFAULT_TOLERANCE_SECONDS);
    // Past the window a replay would no longer be a known duplicate: the timestamp must refuse it.
    return { events: parseList(raw.events, ["*"]), toleranceSeconds: Math.min(tolerance, dedupWindowSeconds(raw)) };
}

const now = () => new Date().toISOString();
const STANDARD_SUCCESS = { status: 200, body: { ok: true } } as const;

export const standard: Provider<StandardEvent, StandardOptions, StandardKeys, "standard"> = {
    name: "standard",
    nodeType: "standard-webhook",
    title: "Standard Webhooks event",
    description: "msg.payload of a standard-webhook node: the JSON payload of one Standard Webhooks delivery.",
    samples: {
        "user.created": () => ({ type: "user.created", timestamp: now(), data: { id: "user_2Ka9ZbWV8X", email: "jane.doe@example.com" } }),
        "invoice.paid": () => ({ type: "invoice.paid", timestamp: now(), data: { id: "in_1PqR8s", amount: 4200, currency: "eur" } }),
    },
    signatureHeaders: (body, secret) => standardSignatureHeaders(body, secret),
    demoSecret: "whsec_dmVyaWZpZWQtd2ViaG9va3MtZGVtby1rZXktMzItYnl0ZXM=",

    secretRequired: true,
    secretProblem: standardSecretProblem,
    options: standardOptions,
    prepareKeys: standardKeys,
    checkHead(head, _keys, options) {
        checkTimestamp(signedHead(head).timestamp, options.toleranceSeconds);
        return undefined;
    },
    verify(delivery, keys, options) {
        const { id, timestamp, v1, v1a } = signedHead(delivery);
        checkTimestamp(timestamp, options.toleranceSeconds);
        const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), delivery.body]);
        // Every key against every signature, no early exit: the time taken tells nothing.
        let matched = false;
        for (const key of keys.hmac) {
            const expected = createHmac("sha256", key).update(signed).digest();
            for (const given of v1) matched = timingSafeEqual(expected, given) || matched;
        }
        for (const key of keys.ed25519) {
            for (const given of v1a) matched = verifySignature(null, signed, key, given) || matched;
        }
        if (!matched) throw new Rejection(401, "no signature matches the configured secrets");
        return { verified: true };
    },

    batches: false,
    schema: standardEventSchema,
    eventName: (event) => (typeof event.type === "string" ? event.type : ""),
    eventKey: (event) => {
        const id = (event.data as { id?: unknown } | null | undefined)?.id;
        return typeof id === "string" || typeof id === "number" ? String(id) : undefined;
    },
    wanted: (event, options) => eventWanted(typeof event.type === "string" ? event.type : "", options.events),
    // The id is the same on every retry of an event: the idempotency key.
    duplicateKey: (_event, delivery) => idOf(delivery),
    passesTimeCheckUntil: (_event, delivery, options) => {
        const timestamp = Number(headerValue(delivery.headers[headerNamesOf(delivery).timestamp]));
        return Number.isFinite(timestamp) ? (timestamp + options.toleranceSeconds) * 1000 : undefined;
    },

    success: () => STANDARD_SUCCESS,
    errorBody: (reason) => ({ error: reason }),
};
