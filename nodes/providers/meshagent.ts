/**
 * MeshAgent room and storage webhooks. Signed with `Meshagent-Signature: Bearer <jwt>`:
 * an HS256 JWT keyed with the secret's UTF-8 bytes, whose `sha256` claim is the hex
 * SHA-256 of the exact body bytes (Python json.dumps output: never re-serialise).
 */
import { createHash, webcrypto } from "node:crypto";
import { z } from "zod";
import { Rejection, type Provider, type RawOptions } from "../core/provider.js";
import { parseList } from "../core/secrets.js";

// jose ships as ES modules only; import() loads it from CommonJS on every supported Node.
type Jose = typeof import("jose");
let josePromise: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (josePromise ??= import("jose"));

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
const DATA_SCHEMA_OF = {
    "room.started": meshagentRoomStartedSchema,
    "room.ended": meshagentRoomEndedSchema,
    "room.call": meshagentRoomCallSchema,
    "storage.file.updated": meshagentFileChangedSchema,
    "storage.file.deleted": meshagentFileChangedSchema,
    "storage.file.moved": meshagentFileMovedSchema,
} as const;
type DataSchemas = typeof DATA_SCHEMA_OF;
// A Map: event names come from the request, and "constructor" or "__proto__" must not reach Object.prototype.
const DATA_SCHEMAS = new Map<string, z.ZodType>(Object.entries(DATA_SCHEMA_OF));
export type MeshAgentEventName = keyof DataSchemas;
export const MESHAGENT_EVENT_NAMES = Object.keys(DATA_SCHEMA_OF) as MeshAgentEventName[];

export type KnownMeshAgentEvent = {
    [Name in MeshAgentEventName]: { event: Name; data: z.infer<DataSchemas[Name]> };
}[MeshAgentEventName];
/** An event MeshAgent may add later: any name, any object as data. */
export interface OtherMeshAgentEvent {
    event: string & {};
    data: Record<string, unknown>;
}
export type MeshAgentEvent = KnownMeshAgentEvent | OtherMeshAgentEvent;

const envelopeSchema = z.looseObject({
    event: z.string().min(1),
    data: z.record(z.string(), z.unknown()),
});

export const meshagentEventSchema = envelopeSchema.transform((envelope, context) => {
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

export function eventWanted(name: string, patterns: readonly string[]): boolean {
    return patterns.some(
        (pattern) => pattern === "*" || pattern === name || (pattern.endsWith(".*") && name.startsWith(pattern.slice(0, -1))),
    );
}

/** The header value MeshAgent sends for `body`, as its reference sender builds it. */
export async function meshagentSignature(body: Buffer | string, secret: string): Promise<string> {
    const { SignJWT } = await loadJose();
    const jwt = await new SignJWT({ sha256: createHash("sha256").update(body).digest("hex") })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .sign(new TextEncoder().encode(secret));
    return `Bearer ${jwt}`;
}

async function importKey(secret: string): Promise<webcrypto.CryptoKey> {
    return webcrypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
        "verify",
    ]);
}

function rejectToken(error: unknown): never {
    const code = (error as { code?: string }).code;
    if (code === "ERR_JWT_EXPIRED") throw new Rejection(401, "signature token expired");
    if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") throw new Rejection(401, "signature token not valid yet");
    throw new Rejection(401, "malformed signature token");
}

export const meshagent: Provider<MeshAgentEvent, MeshAgentOptions, webcrypto.CryptoKey[]> = {
    name: "meshagent",
    secretRequired: true,

    options: (raw: RawOptions) => ({ events: parseList(raw.events, ["*"]) }),
    prepareKeys: (secrets) => Promise.all(secrets.map(importKey)),
    async verify(delivery, keys) {
        const header = delivery.headers[MESHAGENT_SIGNATURE_HEADER];
        if (header === undefined) throw new Rejection(401, "missing Meshagent-Signature header");
        const match = typeof header === "string" ? /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i.exec(header) : null;
        if (!match) throw new Rejection(401, "malformed Meshagent-Signature header (expected Bearer <jwt>)");
        const token = match[1]!;
        const jose = await loadJose();
        let algorithm: unknown;
        try {
            algorithm = jose.decodeProtectedHeader(token).alg;
        } catch {
            throw new Rejection(401, "malformed signature token");
        }
        if (algorithm !== "HS256") throw new Rejection(401, "signature token must use HS256");

        let claims: Record<string, unknown> | undefined;
        for (const key of keys) {
            try {
                claims = (await jose.jwtVerify(token, key, { algorithms: ["HS256"] })).payload;
                break;
            } catch (error) {
                if ((error as { code?: string }).code !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") rejectToken(error);
            }
        }
        if (!claims) throw new Rejection(401, "signature does not verify with the configured secret");
        // MeshAgent's own receiver refuses tokens meant for an audience.
        if (claims.aud !== undefined) throw new Rejection(401, "signature token carries an audience");
        const digest = createHash("sha256").update(delivery.body).digest("hex");
        if (typeof claims.sha256 !== "string" || claims.sha256.toLowerCase() !== digest) {
            throw new Rejection(401, "signature sha256 claim does not match the body");
        }
        return { verified: true };
    },

    batches: false,
    schema: meshagentEventSchema as unknown as z.ZodType<MeshAgentEvent>,
    eventName: (event) => event.event,
    wanted: (event, options) => eventWanted(event.event, options.events),

    success: () => ({ status: 200, body: { ok: true } }),
    errorBody: (reason) => ({ ok: false, error: reason }),
};
