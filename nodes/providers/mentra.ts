/**
 * Mentra (MentraOS, formerly AugmentOS) app lifecycle webhooks.
 * Nothing is signed: a forged session_request could make the app dial an attacker's
 * WebSocket with its API key, so the WebSocket host is checked against an allow-list and
 * an optional unguessable path token is the only shared secret there is.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { Rejection, type Provider, type RawOptions } from "../core/provider.js";
import { parseList, tokenDigests, verifyPathToken } from "../core/secrets.js";

const isoTimestamp = z
    .string()
    .refine((value) => !Number.isNaN(Date.parse(value)), { message: "must be an ISO 8601 date-time" });

const base = {
    sessionId: z.string().min(1),
    userId: z.string().min(1),
    timestamp: isoTimestamp,
};

/** Newest first: the URL the app should dial is the first one present. */
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
export type MentraSessionRequest = z.infer<typeof mentraSessionRequestSchema> & { websocketUrl: string };
export type MentraStopRequest = z.infer<typeof mentraStopRequestSchema>;
export type MentraServerRegistration = z.infer<typeof mentraServerRegistrationSchema>;
export type MentraServerHeartbeat = z.infer<typeof mentraServerHeartbeatSchema>;
export type MentraSessionRecovery = z.infer<typeof mentraSessionRecoverySchema> & { websocketUrl: string };

export const DEFAULT_MENTRA_HOSTS = ["mentra.glass", "augmentos.org"] as const;

export interface MentraOptions {
    /** Host names (and their subdomains) a session's WebSocket URL may point at. */
    readonly allowedHosts: readonly string[];
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

function checkWebsocketUrl(field: string, value: string, allowedHosts: readonly string[]): void {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        throw new Rejection(400, `${field} is not a valid URL`);
    }
    if (url.protocol !== "wss:" && url.protocol !== "ws:") {
        throw new Rejection(400, `${field} must be a ws: or wss: URL`);
    }
    if (!hostAllowed(url.hostname, allowedHosts)) {
        throw new Rejection(403, `WebSocket host ${url.hostname.slice(0, 100)} is not in the allow-list`);
    }
}

/** The same answer every time: serialised once by the pipeline. */
const MENTRA_SUCCESS = { status: 200, body: { status: "success" } } as const;

export const mentra: Provider<MentraEvent, MentraOptions, Buffer[]> = {
    name: "mentra",
    secretRequired: false,
    // The cloud posts to `<public URL>/webhook`, so a token in the public URL comes before "webhook".
    acceptsExtraPath: (segments) =>
        segments.length <= 1 || (segments.length === 2 && segments[1] === "webhook"),

    options: (raw: RawOptions) => ({ allowedHosts: parseList(raw.allowedHosts, DEFAULT_MENTRA_HOSTS) }),
    prepareKeys: tokenDigests,
    verify: (delivery, digests) => verifyPathToken(delivery, digests, "webhook"),

    batches: false,
    schema: mentraEventSchema,
    prepare(event, options) {
        if (event.type !== "session_request" && event.type !== "session_recovery") return event;
        for (const field of WEBSOCKET_URL_FIELDS) {
            const value = event[field];
            if (value) checkWebsocketUrl(field, value, options.allowedHosts);
        }
        const websocketUrl = event.websocketUrl || event.mentraOSWebsocketUrl || event.augmentOSWebsocketUrl;
        if (!websocketUrl) throw new Rejection(400, `${event.type} carries no WebSocket URL`);
        return { ...event, websocketUrl };
    },
    eventName: (event) => event.type,

    // The cloud's retry repeats the same bytes; a new session_request has a new timestamp.
    duplicateKey: (_event, delivery) => createHash("sha256").update(delivery.body).digest("base64"),

    success: () => MENTRA_SUCCESS,
    errorBody: (reason) => ({ status: "error", message: reason }),
};
