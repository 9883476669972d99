/**
 * MeshAgent room and storage webhooks. Signed with `Meshagent-Signature: Bearer <jwt>`:
 * an HS256 JWT keyed with the secret's UTF-8 bytes, whose `sha256` claim is the hex
 * SHA-256 of the exact body bytes (Python json.dumps output: never re-serialise).
 */
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { z } from "zod";
import { toJsonSchema } from "./json-schema.js";
import { Rejection, type JsonSchema, type Provider, type RawOptions } from "../receive/provider.js";
import { eventWanted, parseList } from "../receive/options-lists.js";

// jose ships as ES modules only; import() loads it from CommonJS on every supported Node.
type Jose = typeof import("jose");
let josePromise: Promise<Jose> | undefined;
let joseLoaded: Jose | undefined;
const loadJose = (): Promise<Jose> =>
    (josePromise ??= import("jose").then((module) => (joseLoaded = module)));

export const meshagentRoomStartedSchema = z.looseObject({ room_name: z.string(), room_url: z.string().optional() });
export const meshagentRoomEndedSchema = z.looseObject({ room_name: z.string() });
export const meshagentRoomCallSchema = z.looseObject({
    room_name: z.string(),
    room_url: z.string(),
    token: z.string(),
    arguments: z.unknown().optional(),
});
export const meshagentFileChangedSchema = z.looseObject({
    path: z.string(),
    participant_id: z.string().nullable().optional(),
});
export const meshagentFileMovedSchema = z.looseObject({
    source_path: z.string(),
    destination_path: z.string(),
    participant_id: z.string().nullable().optional(),
});

/** The `data` schema of each documented event; other events need only an object. */
export const MESHAGENT_DATA_SCHEMAS = {
    "room.started": meshagentRoomStartedSchema,
    "room.ended": meshagentRoomEndedSchema,
    "room.call": meshagentRoomCallSchema,
    "storage.file.updated": meshagentFileChangedSchema,
    "storage.file.deleted": meshagentFileChangedSchema,
    "storage.file.moved": meshagentFileMovedSchema,
} as const;
type DataSchemas = typeof MESHAGENT_DATA_SCHEMAS;
// A Map: event names come from the request, and "constructor" or "__proto__" must not reach Object.prototype.
const DATA_SCHEMAS = new Map<string, z.ZodType>(Object.entries(MESHAGENT_DATA_SCHEMAS));
export type MeshAgentEventName = keyof DataSchemas;
export const MESHAGENT_EVENT_NAMES = Object.keys(MESHAGENT_DATA_SCHEMAS) as MeshAgentEventName[];

export type KnownMeshAgentEvent = {
    [Name in MeshAgentEventName]: { event: Name; data: z.infer<DataSchemas[Name]> };
}[MeshAgentEventName];
/** An event MeshAgent may add later: any name, any object as data. */
export interface OtherMeshAgentEvent {
    event: string & {};
    data: Record<string, unknown>;
}
export type MeshAgentEvent = KnownMeshAgentEvent | OtherMeshAgentEvent;

/** Every event: a name and an object of data. */
export const meshagentEnvelopeSchema = z.looseObject({
    event: z.string().min(1),
    data: z.record(z.string(), z.unknown()),
});

export const meshagentEventSchema = meshagentEnvelopeSchema.transform((envelope, context) => {
    const dataSchema = DATA_SCHEMAS.get(envelope.event);
    if (!dataSchema) return envelope as MeshAgentEvent;
    const result = dataSchema.safeParse(envelope.data);
    if (!result.success) {
        for (const issue of result.error.issues) context.addIssue({ ...issue, path: ["data", ...issue.path] } as never);
        return z.NEVER;
    }
    return { ...envelope, data: result.data } as MeshAgentEvent;
});

export const MESHAGENT_SIGNATURE_HEADER = "meshagent-signature";

export interface MeshAgentOptions {
    /** Event names to emit: "*" for all, "storage.*" for a family, or exact names. */
    readonly events: readonly string[];
}

export { eventWanted };

/** The header value MeshAgent sends for `body`, as its reference sender builds it. */
export async function meshagentSignature(body: Buffer | string, secret: string): Promise<string> {
    const { SignJWT } = await loadJose();
    const jwt = await new SignJWT({ sha256: createHash("sha256").update(body).digest("hex") })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .sign(new TextEncoder().encode(secret));
    return `Bearer ${jwt}`;
}

/** The token's MAC, checked against every key (no early exit) in constant time. */
function macMatches(signingInput: string, signature: string, keys: readonly KeyObject[]): boolean {
    const given = Buffer.from(signature, "base64url");
    if (given.length !== 32 || given.toString("base64url") !== signature) return false;
    let matched = false;
    for (const key of keys) {
        matched = timingSafeEqual(createHmac("sha256", key).update(signingInput).digest(), given) || matched;
    }
    return matched;
}

const BEARER_JWT = /^Bearer +([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)$/i;

/** Checks a token's protected header (HS256, no extensions) and remembers it as accepted. */
function checkProtectedHeader(token: string, protectedHeader: string): void {
    let header: ReturnType<Jose["decodeProtectedHeader"]>;
    try {
        header = joseLoaded!.decodeProtectedHeader(token); // loaded by prepareKeys, which the pipeline awaits first
    } catch {
        throw new Rejection(401, "malformed signature token");
    }
    if (header.alg !== "HS256") throw new Rejection(401, "signature token must use HS256");
    // Extensions this receiver does not implement must not be ignored (RFC 7515 §4.1.11).
    if (header.crit !== undefined || header.b64 !== undefined) throw new Rejection(401, "signature token uses unsupported extensions");
    acceptedProtectedHeader = protectedHeader;
}

/**
 * The claims of a token whose MAC verified: base64url JSON of an object. Decoded with
 * Buffer rather than jose's decodeJwt, whose portable base64 decoder took 4% of a delivery.
 */
function claimsOf(payload: string): Record<string, unknown> {
    let claims: unknown;
    try {
        claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
        throw new Rejection(401, "malformed signature token");
    }
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw new Rejection(401, "malformed signature token");
    return claims as Record<string, unknown>;
}

/** The three parts of the header's JWT; a missing or malformed header is refused (401). */
function tokenParts(header: string | string[] | undefined): [string, string, string] {
    if (header === undefined) throw new Rejection(401, "missing Meshagent-Signature header");
    const match = typeof header === "string" ? BEARER_JWT.exec(header) : null;
    if (!match) throw new Rejection(401, "malformed Meshagent-Signature header (expected Bearer <jwt>)");
    return [match[1]!, match[2]!, match[3]!];
}

/**
 * The last protected header found acceptable (HS256, no extensions), as sent: decoding and
 * checking it costs ~1,070 ns, 3% of a delivery (bench/caches.js).
 */
let acceptedProtectedHeader: string | undefined;

const MESHAGENT_SUCCESS = { status: 200, body: { ok: true } } as const;

/**
 * Python's json.dumps with its defaults, which is how MeshAgent serialises bodies:
 * ", " and ": " separators, and everything outside printable ASCII as \uXXXX.
 */
export function toPythonJson(value: unknown): string {
    if (value === null || typeof value !== "object") {
        return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
    }
    if (Array.isArray(value)) return `[${value.map(toPythonJson).join(", ")}]`;
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries.map(([key, item]) => `${toPythonJson(key)}: ${toPythonJson(item)}`).join(", ")}}`;
}

/**
 * The runtime schema picks the data schema by event name (a transform, which JSON Schema
 * cannot express): here, one branch per documented event, and one for events added later,
 * whose name is none of those.
 */
function meshagentJsonSchema(): JsonSchema {
    const known = MESHAGENT_EVENT_NAMES.map((name) => toJsonSchema(z.looseObject({ event: z.literal(name), data: MESHAGENT_DATA_SCHEMAS[name] })));
    const other = toJsonSchema(meshagentEnvelopeSchema);
    const properties = other.properties as Record<string, JsonSchema>;
    properties.event = { ...properties.event, not: { enum: MESHAGENT_EVENT_NAMES } };
    return { anyOf: [...known, other] };
}

export const meshagent: Provider<MeshAgentEvent, MeshAgentOptions, KeyObject[], "meshagent"> = {
    name: "meshagent",
    nodeType: "meshagent-webhook",
    title: "MeshAgent event",
    description: "msg.payload of a meshagent-webhook node: one MeshAgent room or storage event.",
    samples: {
    "room.started": () => ({ event: "room.started", data: { room_name: "café-standup", room_url: "https://studio.meshagent.com/rooms/café-standup" } }),
    "room.ended": () => ({ event: "room.ended", data: { room_name: "café-standup" } }),
    "storage.file.updated": () => ({ event: "storage.file.updated", data: { path: "notes/réunion.md", participant_id: "p-42" } }),
    "storage.file.deleted": () => ({ event: "storage.file.deleted", data: { path: "notes/old.md", participant_id: "p-42" } }),
    "storage.file.moved": () => ({
        event: "storage.file.moved",
        data: { source_path: "notes/draft.md", destination_path: "notes/final.md", participant_id: "p-42" },
    }),
    },
    serialise: toPythonJson,
    jsonSchema: meshagentJsonSchema,
    signatureHeaders: async (body, secret) => ({ [MESHAGENT_SIGNATURE_HEADER]: await meshagentSignature(body, secret) }),
    demoSecret: "demo-meshagent-secret",
    secretRequired: true,

    options: (raw: RawOptions) => ({ events: parseList(raw.events, ["*"]) }),
    // The secret's UTF-8 bytes as they are: MeshAgent does not base64-decode it. jose is loaded
    // here, once, so that verify() runs without waiting on every request.
    prepareKeys: async (secrets) => {
        await loadJose();
        return secrets.map((secret) => createSecretKey(Buffer.from(secret, "utf8"))); // key objects: cheaper per HMAC
    },
    checkHead(head) {
        tokenParts(head.headers[MESHAGENT_SIGNATURE_HEADER]);
        return undefined;
    },
    verify(delivery, keys) {
        const [protectedHeader, payload, signature] = tokenParts(delivery.headers[MESHAGENT_SIGNATURE_HEADER]);
        // A sender signs every token with the same protected header: checked once, not per request.
        if (protectedHeader !== acceptedProtectedHeader) checkProtectedHeader(`${protectedHeader}.${payload}.${signature}`, protectedHeader);
        // HS256 checked with node:crypto (WebCrypto's asynchronous job costs more than the MAC
        // itself), before anything of the token is read: its claims are parsed only once signed.
        if (!macMatches(`${protectedHeader}.${payload}`, signature, keys)) {
            throw new Rejection(401, "signature does not verify with the configured secret");
        }
        const claims = claimsOf(payload);
        const now = Math.floor(Date.now() / 1000);
        if (claims.exp !== undefined && (typeof claims.exp !== "number" || claims.exp <= now)) throw new Rejection(401, "signature token expired");
        if (claims.nbf !== undefined && (typeof claims.nbf !== "number" || claims.nbf > now)) throw new Rejection(401, "signature token not valid yet");
        // MeshAgent's own receiver refuses tokens meant for an audience.
        if (claims.aud !== undefined) throw new Rejection(401, "signature token carries an audience");
        const digest = createHash("sha256").update(delivery.body).digest("hex");
        if (typeof claims.sha256 !== "string" || claims.sha256.toLowerCase() !== digest) {
            throw new Rejection(401, "signature sha256 claim does not match the body");
        }
        return { verified: true };
    },

    // MeshAgent sends each event once (PROVIDERS.md: "There is no retry").
    retries: false,
    batches: false,
    schema: meshagentEventSchema as unknown as z.ZodType<MeshAgentEvent>,
    eventName: (event) => event.event,
    eventKey: (event) => {
        const data = event.data as Record<string, unknown>;
        const key = data.path ?? data.source_path ?? data.room_name;
        return typeof key === "string" ? key : undefined;
    },
    wanted: (event, options) => eventWanted(event.event, options.events),

    success: () => MESHAGENT_SUCCESS,
    errorBody: (reason) => ({ ok: false, error: reason }),
};
