/**
 * Mentra (MentraOS, formerly AugmentOS) app lifecycle webhooks.
 * Nothing is signed: a forged session_request could make the app dial an attacker's
 * WebSocket with its API key, so the WebSocket host is checked against an allow-list and
 * an optional unguessable path token is the only shared secret there is.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { Rejection, type Provider, type RawOptions } from "../receive/provider.js";
import { parseList } from "../receive/options-lists.js";
import { tokenDigests, verifyPathToken } from "../receive/secrets.js";

const isoTimestamp = z
    .string()
    .refine((value) => !Number.isNaN(Date.parse(value)), { message: "must be an ISO 8601 date-time" });

const base = {
    sessionId: z.string().min(1),
    userId: z.string().min(1),
    timestamp: isoTimestamp,
};

/**
 * The three URL fields are not interchangeable: `websocketUrl` is the newer protocol's
 * endpoint (`/ws/miniapp`), the other two the SDK 2.x one (`/app-ws`), `augmentOSWebsocketUrl`
 * under its AugmentOS-era name.
 */
const WEBSOCKET_URL_FIELDS = ["websocketUrl", "mentraOSWebsocketUrl", "augmentOSWebsocketUrl"] as const;
const websocketUrls = {
    websocketUrl: z.string().optional(),
    mentraOSWebsocketUrl: z.string().optional(),
    augmentOSWebsocketUrl: z.string().optional(),
};

export const mentraSessionRequestSchema = z.looseObject({
    type: z.literal("session_request"),
    ...base,
    ...websocketUrls,
});
export const mentraStopRequestSchema = z.looseObject({
    type: z.literal("stop_request"),
    ...base,
    /** "user_disabled" | "system_stop" | "error" today; kept open for later reasons. */
    reason: z.string(),
});
export const mentraServerRegistrationSchema = z.looseObject({
    type: z.literal("server_registration"),
    ...base,
    registrationId: z.string().min(1),
    packageName: z.string().min(1),
    serverUrls: z.array(z.string()),
});
export const mentraServerHeartbeatSchema = z.looseObject({
    type: z.literal("server_heartbeat"),
    ...base,
    registrationId: z.string().min(1),
});
export const mentraSessionRecoverySchema = z.looseObject({
    type: z.literal("session_recovery"),
    ...base,
    ...websocketUrls,
});

export const MENTRA_EVENT_TYPES = [
    "session_request",
    "stop_request",
    "server_registration",
    "server_heartbeat",
    "session_recovery",
] as const;

export const mentraEventSchema = z.discriminatedUnion(
    "type",
    [
        mentraSessionRequestSchema,
        mentraStopRequestSchema,
        mentraServerRegistrationSchema,
        mentraServerHeartbeatSchema,
        mentraSessionRecoverySchema,
    ],
    {
        error: (issue) => {
            if (issue.code !== "invalid_union" || !issue.input || typeof issue.input !== "object") return undefined;
            // The input is hostile: name the type only when it is a string.
            const type = (issue.input as { type?: unknown }).type;
            return `unknown webhook type: ${typeof type === "string" ? JSON.stringify(type).slice(0, 80) : `(${typeof type})`}`;
        },
    },
);

export type MentraEvent = z.infer<typeof mentraEventSchema>;
export type MentraSessionRequest = z.infer<typeof mentraSessionRequestSchema>;
export type MentraStopRequest = z.infer<typeof mentraStopRequestSchema>;
export type MentraServerRegistration = z.infer<typeof mentraServerRegistrationSchema>;
export type MentraServerHeartbeat = z.infer<typeof mentraServerHeartbeatSchema>;
export type MentraSessionRecovery = z.infer<typeof mentraSessionRecoverySchema>;

export const DEFAULT_MENTRA_HOSTS = ["mentra.glass", "augmentos.org", "augmentos.cloud"] as const;

/** Which WebSocket protocol the flow speaks, and so which URL it dials. */
export const MENTRA_PROTOCOLS = {
    /** SDK 2.x: `/app-ws`, sent as mentraOSWebsocketUrl (augmentOSWebsocketUrl by older clouds). */
    "app-ws": ["mentraOSWebsocketUrl", "augmentOSWebsocketUrl"],
    /** The newer protocol (SDK 3): `/ws/miniapp`, sent as websocketUrl. */
    miniapp: ["websocketUrl"],
} as const;
export type MentraProtocol = keyof typeof MENTRA_PROTOCOLS;

export interface MentraOptions {
    /** Host names (and their subdomains) a session's WebSocket URL may point at. */
    readonly allowedHosts: readonly string[];
    /** Also allow plain-text ws: URLs (the app would send its API key unencrypted). */
    readonly allowInsecureWs: boolean;
    readonly protocol: MentraProtocol;
}

/** "mentra.glass" allows it and every subdomain; "*.example.com" only the subdomains. */
export function hostAllowed(host: string, allowedHosts: readonly string[]): boolean {
    const name = host.toLowerCase().replace(/\.$/, "");
    return allowedHosts.some((entry) => {
        const allowed = entry.toLowerCase().replace(/\.$/, "");
        if (allowed.startsWith("*.")) return name.endsWith(allowed.slice(1));
        return name === allowed || name.endsWith(`.${allowed}`);
    });
}

// Characters that parsers disagree on: WHATWG's URL drops tabs and newlines and reads "\" as
// "/", Python's urlsplit does neither, so the host checked here could differ from the one dialled.
const AMBIGUOUS_URL_CHARACTERS = /[\\\s\u0000-\u001f\u007f-\u009f\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]/;

/** The URL, normalised, once it is unambiguous, encrypted (unless allowed) and on an allowed host. */
export function checkWebsocketUrl(field: string, value: string, options: MentraOptions): string {
    if (AMBIGUOUS_URL_CHARACTERS.test(value)) {
        throw new Rejection(400, `${field} contains a backslash, white space or a control character`);
    }
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        throw new Rejection(400, `${field} is not a valid URL`);
    }
    if (url.protocol !== "wss:" && !(url.protocol === "ws:" && options.allowInsecureWs)) {
        throw new Rejection(400, options.allowInsecureWs ? `${field} must be a ws: or wss: URL` : `${field} must be a wss: URL`);
    }
    const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(value)?.[1] ?? "";
    if (url.username || url.password || authority.includes("@")) {
        throw new Rejection(400, `${field} must not carry user information`);
    }
    if (!hostAllowed(url.hostname, options.allowedHosts)) {
        throw new Rejection(403, `WebSocket host ${url.hostname.slice(0, 100)} is not in the allow-list`);
    }
    return url.href;
}

export function mentraOptions(raw: RawOptions): MentraOptions {
    return {
        allowedHosts: parseList(raw.allowedHosts, DEFAULT_MENTRA_HOSTS),
        allowInsecureWs: raw.allowInsecureWs === true || raw.allowInsecureWs === "true",
        protocol: raw.protocol === "miniapp" ? "miniapp" : "app-ws",
    };
}

/** The URL a flow speaking `protocol` dials, from the fields meant for that protocol only. */
export function websocketUrlFor(event: MentraSessionRequest | MentraSessionRecovery, protocol: MentraProtocol): string | undefined {
    for (const field of MENTRA_PROTOCOLS[protocol]) if (event[field]) return event[field];
    return undefined;
}

const MENTRA_SUCCESS = { status: 200, body: { status: "success" } } as const;

const now = () => new Date().toISOString();

export const mentra: Provider<MentraEvent, MentraOptions, Buffer[], "mentra"> = {
    name: "mentra",
    nodeType: "mentra-webhook",
    title: "Mentra webhook event",
    description: "msg.payload of a mentra-webhook node: one MentraOS app lifecycle webhook.",
    samples: {
    session_request: () => ({
        type: "session_request",
        sessionId: "jane.doe@example.com-com.example.notes",
        userId: "jane.doe@example.com",
        timestamp: now(),
        websocketUrl: "wss://prod.mentra.glass/ws/miniapp",
        mentraOSWebsocketUrl: "wss://prod.mentra.glass/app-ws",
        augmentOSWebsocketUrl: "wss://prod.mentra.glass/app-ws",
    }),
    stop_request: () => ({
        type: "stop_request",
        sessionId: "jane.doe@example.com-com.example.notes",
        userId: "jane.doe@example.com",
        timestamp: now(),
        reason: "user_disabled",
    }),
    server_heartbeat: () => ({
        type: "server_heartbeat",
        sessionId: "heartbeat-123456",
        userId: "system",
        timestamp: now(),
        registrationId: "reg-78901234",
    }),
    server_registration: () => ({
        type: "server_registration",
        sessionId: "registration-123456",
        userId: "system",
        timestamp: now(),
        registrationId: "reg-78901234",
        packageName: "com.example.notes",
        serverUrls: ["https://notes.example.com/webhook"],
    }),
    session_recovery: () => ({
        type: "session_recovery",
        sessionId: "jane.doe@example.com-com.example.notes",
        userId: "jane.doe@example.com",
        timestamp: now(),
        mentraOSWebsocketUrl: "wss://franceapi.mentra.glass/app-ws",
    }),
    },
    secretRequired: false,
    pathToken: true,
    // The cloud posts to `<public URL>/webhook`; the SDK 3 app server also serves `/api/_mentraos/webhook`.
    pathSuffixes: [["webhook"], ["api", "_mentraos", "webhook"]],

    options: mentraOptions,
    prepareKeys: tokenDigests,
    // The token is in the URL: checked before the body is read, and nothing else is signed.
    checkHead: (head, digests) => verifyPathToken(head, digests, mentra.pathSuffixes),
    verify: (delivery, digests) => verifyPathToken(delivery, digests, mentra.pathSuffixes),

    batches: false,
    schema: mentraEventSchema,
    prepare(event, options) {
        if (event.type !== "session_request" && event.type !== "session_recovery") return event;
        // Every URL field present is checked, and emitted normalised: what the flow dials is what was checked.
        const checked = { ...event };
        for (const field of WEBSOCKET_URL_FIELDS) {
            const value = event[field];
            if (value !== undefined && value !== "") checked[field] = checkWebsocketUrl(field, value, options);
        }
        if (!websocketUrlFor(checked, options.protocol)) {
            const fields = MENTRA_PROTOCOLS[options.protocol].join(" or ");
            throw new Rejection(400, `${event.type} carries no WebSocket URL for the ${options.protocol} protocol (${fields})`);
        }
        return checked;
    },
    eventName: (event) => event.type,
    eventKey: (event) => event.sessionId,
    /** msg.websocketUrl: the URL for the protocol the node is set to, never taken from another protocol's field. */
    messageFields: (event, options) =>
        event.type === "session_request" || event.type === "session_recovery" ? { websocketUrl: websocketUrlFor(event, options.protocol) } : undefined,

    // The cloud's retry repeats the same bytes; a new session_request has a new timestamp.
    duplicateKey: (_event, delivery) => createHash("sha256").update(delivery.body).digest("base64"),

    success: () => MENTRA_SUCCESS,
    errorBody: (reason) => ({ status: "error", message: reason }),
};
