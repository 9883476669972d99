/**
 * What the Mentra nodes make of their configuration and their messages: the stream a
 * session-events node asks for, the message a session's event becomes, what a display
 * message shows. Pure: no socket, no Node-RED.
 */
import { LAYOUT_TYPES, languageCode, layoutOf, STREAMS, type Display, type LayoutType, type StreamKind, type StreamRequest, type View } from "./protocol.js";
import type { SessionLifecycle } from "./app.js";

/** A mentra-in node's options as the flow holds them. */
export interface MentraInOptions {
    app?: string;
    stream?: string;
    language?: string;
    target?: string;
    rate?: string;
}

const LOCATION_RATES = ["standard", "high", "realtime", "tenMeters", "hundredMeters", "kilometer", "threeKilometers", "reduced"];

/** The stream a node's configuration asks for, or why it cannot. */
export function streamRequestOf(config: MentraInOptions): StreamRequest | string {
    const kind = (config.stream || "transcription") as StreamKind;
    if (!(STREAMS as readonly string[]).includes(kind)) return `unknown stream ${String(config.stream).slice(0, 40)}`;
    if (kind === "transcription") {
        const language = languageCode(config.language || "en-US", true);
        return language ? { kind, language } : "the language must look like en-US (or auto)";
    }
    if (kind === "translation") {
        const language = languageCode(config.language || "en-US");
        const target = languageCode(config.target || "en-US");
        return language && target ? { kind, language, target } : "the languages must look like en-US";
    }
    if (kind === "location_stream") {
        const rate = config.rate || "standard";
        return LOCATION_RATES.includes(rate) ? { kind, rate } : `the rate must be one of ${LOCATION_RATES.join(", ")}`;
    }
    return { kind };
}

/** Whose glasses an event came from. */
export function sessionFields(session: { sessionId: string; userId: string }) {
    return { sessionId: session.sessionId, userId: session.userId };
}

/** The message a lifecycle event becomes: msg.topic says which. */
export function lifecycleMessage(event: SessionLifecycle): Record<string, unknown> {
    const fields = sessionFields(event.session);
    switch (event.type) {
        case "started": {
            const { settings, mentraosSettings, augmentosSettings, capabilities } = event.ack;
            return { topic: "session_started", payload: { settings, mentraosSettings: mentraosSettings ?? augmentosSettings, capabilities }, ...fields };
        }
        case "ended":
            return { topic: "session_stopped", payload: { reason: event.end.reason, code: event.end.code }, ...fields };
        case "error":
            return { topic: "session_error", payload: { code: event.error.code, message: event.error.message }, ...fields };
        case "notice":
            return { topic: event.notice, payload: event.frame, ...fields };
    }
}

/** A mentra-out node's options as the flow holds them. */
export interface MentraOutOptions {
    app?: string;
    layout?: string;
    view?: string;
    durationMs?: unknown;
}

export type DisplayMessage = { payload?: unknown; sessionId?: unknown; layout?: unknown; view?: unknown; durationMs?: unknown } & Record<string, unknown>;

/** What a message shows: the node's layout, view and duration unless the message says otherwise. */
export function displayOf(message: DisplayMessage, config: MentraOutOptions): Display {
    const pick = (value: unknown) => (typeof value === "string" && (LAYOUT_TYPES as readonly string[]).includes(value) ? (value as LayoutType) : undefined);
    const layoutType = pick(message.layout) ?? pick(config.layout) ?? "text_wall";
    const viewValue = message.view ?? config.view;
    const view: View = viewValue === "dashboard" || (viewValue === undefined && layoutType === "dashboard_card") ? "dashboard" : "main";
    const rawDuration = message.durationMs ?? config.durationMs;
    const duration = rawDuration === "" || rawDuration === undefined ? undefined : Number(rawDuration);
    return { layout: layoutOf(layoutType, message.payload, message), view, ...(duration !== undefined && Number.isFinite(duration) && duration >= 0 ? { durationMs: duration } : {}) };
}
