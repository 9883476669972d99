/**
 * The Mentra session WebSocket, protocol 2.x (`/app-ws`), as `@mentra/sdk` 2.1.29 speaks it
 * and the cloud answers (../shared/PROVIDERS.md, 1a): the frames an app sends, built field for
 * field as the SDK builds them; the frames it receives, checked; and the rules on closes and
 * reconnects. Pure: no socket, no Node-RED.
 */
import { z } from "zod";

/** How long the cloud waits for an app's init once it started the app (5 s; 6 s in newer cloud code). */
export const INIT_BUDGET_MS = 5000;
/** The SDK's reconnects after an unexpected close: 1 s, 2 s, 4 s, each with a fresh init. */
export const RECONNECT_DELAYS_MS = [1000, 2000, 4000] as const;
/** The cloud shows one display per 300 ms per app, the latest winning. */
export const DISPLAY_INTERVAL_MS = 300;
/** The SDK waits this long after an ownership_release before closing. */
export const RELEASE_WAIT_MS = 100;
/** The largest frame taken from the cloud: a data_stream is small; anything far larger is refused. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** The streams a session-events node can ask for, as the SDK names them. */
export const STREAMS = ["transcription", "translation", "button_press", "head_position", "touch_event", "location_stream", "VAD"] as const;
export type StreamKind = (typeof STREAMS)[number];

/** A subscription as sent in subscription_update: a stream name, or location with its rate. */
export type Subscription = string | { stream: "location_stream"; rate: string };

const LANGUAGE = /^[a-z]{2,3}-[A-Z]{2}$/;

/** A language code as the SDK accepts it (en-US; "auto" where `auto` allows it), or undefined. */
export function languageCode(value: unknown, auto = false): string | undefined {
    if (auto && value === "auto") return value;
    return typeof value === "string" && LANGUAGE.test(value) ? value : undefined;
}

/** Whether a data_stream of `streamType` is what `request` asked for (a bare transcription is en-US; transcription:auto receives every language). */
export function streamMatches(request: StreamRequest, streamType: string): boolean {
    const [base, rest] = [streamType.split(":")[0], streamType.slice(streamType.indexOf(":") + 1).split("?")[0]];
    if (base !== request.kind) return false;
    if (request.kind === "transcription") {
        const language = request.language ?? "en-US";
        if (!streamType.includes(":")) return language === "en-US";
        return language === "auto" || rest === language;
    }
    if (request.kind === "translation") return streamType.includes(":") && rest === `${request.language ?? "en-US"}-to-${request.target ?? "en-US"}`;
    return true;
}

/** What a session-events node asks for: its stream, with the language(s) or rate it needs. */
export interface StreamRequest {
    readonly kind: StreamKind;
    /** transcription: the language (en-US); translation: the source language. */
    readonly language?: string;
    /** translation: the target language. */
    readonly target?: string;
    /** location_stream: the rate the SDK names (standard, high, realtime, tenMeters, hundredMeters, kilometer, threeKilometers, reduced). */
    readonly rate?: string;
}

/** The subscription the SDK sends for `request` (transcription:en-US, translation:de-DE-to-en-US, …). */
export function subscriptionOf(request: StreamRequest): Subscription {
    switch (request.kind) {
        case "transcription":
            return `transcription:${request.language ?? "en-US"}`;
        case "translation":
            return `translation:${request.language ?? "en-US"}-to-${request.target ?? "en-US"}`;
        case "location_stream":
            return request.rate ? { stream: "location_stream", rate: request.rate } : "location_stream";
        default:
            return request.kind;
    }
}

/** The stream a subscription receives data_stream frames as. */
export function streamNameOf(subscription: Subscription): string {
    return typeof subscription === "string" ? subscription : subscription.stream;
}

/** Every subscription once, in a stable order (the SDK sends the whole list each time it changes). */
export function subscriptionList(requests: Iterable<StreamRequest>): Subscription[] {
    const byName = new Map<string, Subscription>();
    for (const request of requests) {
        const subscription = subscriptionOf(request);
        const name = streamNameOf(subscription);
        const held = byName.get(name);
        // Two location nodes with different rates: the finer one (the later one named wins otherwise).
        if (!held || typeof held === "string") byName.set(name, subscription);
    }
    return [...byName.keys()].sort().map((name) => byName.get(name)!);
}

export function sameSubscriptions(a: readonly Subscription[], b: readonly Subscription[]): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
}

// The frames an app sends, in the SDK's own field order (JSON.stringify keeps it), its Date timestamps as ISO strings.

export function initFrame(sessionId: string, packageName: string, apiKey: string, now = new Date()): string {
    return JSON.stringify({ type: "tpa_connection_init", sessionId, packageName, apiKey, timestamp: now });
}

export function subscriptionFrame(sessionId: string, packageName: string, subscriptions: readonly Subscription[], now = new Date()): string {
    return JSON.stringify({ type: "subscription_update", packageName, subscriptions, sessionId, timestamp: now });
}

export function ownershipReleaseFrame(sessionId: string, packageName: string, reason: "switching_clouds" | "clean_shutdown", now = new Date()): string {
    return JSON.stringify({ type: "ownership_release", packageName, sessionId, reason, timestamp: now });
}

export type View = "main" | "dashboard";

export type Layout =
    | { layoutType: "text_wall"; text: string }
    | { layoutType: "double_text_wall"; topText: string; bottomText: string }
    | { layoutType: "reference_card"; title: string; text: string }
    | { layoutType: "dashboard_card"; leftText: string; rightText: string }
    | { layoutType: "clear_view" };

export const LAYOUT_TYPES = ["text_wall", "double_text_wall", "reference_card", "dashboard_card", "clear_view"] as const;
export type LayoutType = (typeof LAYOUT_TYPES)[number];

export interface Display {
    readonly layout: Layout;
    readonly view: View;
    readonly durationMs?: number;
}

/** A display_event as the 2.x SDK sends it: sessionId "" (the socket says whose it is). */
export function displayFrame(packageName: string, display: Display, now = new Date()): string {
    return JSON.stringify({ timestamp: now, sessionId: "", type: "display_event", packageName, view: display.view, layout: display.layout, durationMs: display.durationMs });
}

/** Longest text sent in one layout field: the glasses show a few lines; a runaway flow must not send megabytes a frame. */
export const MAX_DISPLAY_TEXT = 10_000;

function text(value: unknown): string {
    if (value === undefined || value === null) return "";
    const string = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
    return string.length > MAX_DISPLAY_TEXT ? string.slice(0, MAX_DISPLAY_TEXT) : string;
}

/** What a display node shows for a message: `layoutType` (the node's, or msg.layout's), its texts from msg.payload (and msg.title / msg.topText…). */
export function layoutOf(layoutType: LayoutType, payload: unknown, fields: Record<string, unknown> = {}): Layout {
    const object = payload !== null && typeof payload === "object" && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
    const field = (name: string, fallback: unknown) => text(object && name in object ? object[name] : (fields[name] ?? fallback));
    switch (layoutType) {
        case "double_text_wall":
            return { layoutType, topText: field("topText", payload), bottomText: field("bottomText", "") };
        case "reference_card":
            return { layoutType, title: field("title", ""), text: field("text", object ? "" : payload) };
        case "dashboard_card":
            return { layoutType, leftText: field("leftText", payload), rightText: field("rightText", "") };
        case "clear_view":
            return { layoutType };
        default:
            return { layoutType: "text_wall", text: object && "text" in object ? text(object.text) : text(payload) };
    }
}

// What the cloud sends. Loose objects: newer clouds add fields, and the flow gets them too.

export const ackFrameSchema = z.looseObject({
    type: z.literal("tpa_connection_ack"),
    sessionId: z.string().optional(),
    settings: z.array(z.unknown()).optional(),
    mentraosSettings: z.unknown().optional(),
    augmentosSettings: z.unknown().optional(),
    capabilities: z.unknown().optional(),
    userId: z.string().optional(),
});
export const errorFrameSchema = z.looseObject({
    type: z.enum(["tpa_connection_error", "connection_error"]),
    code: z.string().optional(),
    message: z.string().optional(),
});
export const dataStreamFrameSchema = z.looseObject({
    type: z.literal("data_stream"),
    sessionId: z.string().optional(),
    streamType: z.string().min(1),
    data: z.unknown(),
    timestamp: z.unknown().optional(),
});
export const permissionErrorFrameSchema = z.looseObject({
    type: z.literal("permission_error"),
    message: z.string().optional(),
    details: z.array(z.looseObject({ stream: z.string().optional(), requiredPermission: z.string().optional(), message: z.string().optional() })).optional(),
});

export type AckFrame = z.infer<typeof ackFrameSchema>;
export type ErrorFrame = z.infer<typeof errorFrameSchema>;
export type DataStreamFrame = z.infer<typeof dataStreamFrameSchema>;
export type PermissionErrorFrame = z.infer<typeof permissionErrorFrameSchema>;

/** A frame from the cloud, sorted: what a session does with it depends only on its kind. */
export type CloudFrame =
    | { kind: "ack"; frame: AckFrame }
    | { kind: "error"; frame: ErrorFrame }
    | { kind: "data"; frame: DataStreamFrame }
    | { kind: "permission_error"; frame: PermissionErrorFrame }
    | { kind: "app_stopped"; frame: Record<string, unknown> }
    | { kind: "other"; type: string; frame: Record<string, unknown> }
    | { kind: "malformed"; reason: string };

/** Reads one text frame from the cloud. */
export function readCloudFrame(raw: string): CloudFrame {
    let value: unknown;
    try {
        value = JSON.parse(raw);
    } catch {
        return { kind: "malformed", reason: "not JSON" };
    }
    if (value === null || typeof value !== "object" || Array.isArray(value) || typeof (value as { type?: unknown }).type !== "string") {
        return { kind: "malformed", reason: "not an object with a type" };
    }
    const frame = value as Record<string, unknown> & { type: string };
    const parsed = (schema: z.ZodType, kind: "ack" | "error" | "data" | "permission_error"): CloudFrame => {
        const result = schema.safeParse(frame);
        return result.success ? ({ kind, frame: result.data } as CloudFrame) : { kind: "malformed", reason: `a ${frame.type} frame without its fields` };
    };
    switch (frame.type) {
        case "tpa_connection_ack":
            return parsed(ackFrameSchema, "ack");
        case "tpa_connection_error":
        case "connection_error":
            return parsed(errorFrameSchema, "error");
        case "data_stream":
            return parsed(dataStreamFrameSchema, "data");
        case "permission_error":
            return parsed(permissionErrorFrameSchema, "permission_error");
        case "app_stopped":
            return { kind: "app_stopped", frame };
        default:
            return { kind: "other", type: frame.type, frame };
    }
}

/**
 * Whether a session reconnects after its socket closed with `code` and `reason`, as the SDK
 * decides: 1000, 1001, 1008 (a refused key, an app not started), "App stopped" and "User
 * session ended" end it; anything else is a drop to recover from.
 */
export function reconnectsAfter(code: number, reason: string): boolean {
    if (code === 1000 || code === 1001 || code === 1008) return false;
    return !reason.includes("App stopped") && !reason.includes("User session ended");
}
