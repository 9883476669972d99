/**
 * Displays for sessions another Node-RED instance holds: several instances behind one Public
 * URL each join the sessions their webhooks accept, so a flow on one may answer a session held
 * by another. A display for a session not held here is published (Redis pub/sub, through the
 * shared-state node) and shown by the instance that holds it. Every message is sealed with a
 * key the instances share (derived from the shared-state node's Entry key): another tenant of
 * the Redis can publish, but cannot put text on anyone's glasses. No Node-RED, no Redis client.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { LAYOUT_TYPES, layoutOf, type Display, type LayoutType } from "./protocol.js";
import type { PubSub } from "../redis/pubsub.js";

/** A relayed message is at most this long: a display is a few lines of text. */
export const MAX_RELAYED_BYTES = 64 * 1024;

interface Relayed {
    readonly from: string;
    readonly sessionId: string | null;
    readonly display: Display;
}

function seal(key: Buffer, relayed: Relayed): string {
    const body = JSON.stringify(relayed);
    return JSON.stringify({ body, mac: createHmac("sha256", key).update(body).digest("base64url") });
}

/** A display read back from a relayed message, rebuilt through the layouts' own rules (nothing else passes). */
function displayFrom(value: unknown): Display | undefined {
    if (value === null || typeof value !== "object") return undefined;
    const { layout, view, durationMs } = value as { layout?: { layoutType?: unknown } & Record<string, unknown>; view?: unknown; durationMs?: unknown };
    if (!layout || typeof layout.layoutType !== "string" || !(LAYOUT_TYPES as readonly string[]).includes(layout.layoutType)) return undefined;
    if (view !== "main" && view !== "dashboard") return undefined;
    const rebuilt = layoutOf(layout.layoutType as LayoutType, layout, {});
    return { layout: rebuilt, view, ...(typeof durationMs === "number" && Number.isFinite(durationMs) && durationMs >= 0 ? { durationMs } : {}) };
}

/** Opens a relayed message: undefined unless its seal is good and it holds a display. */
export function openRelayed(key: Buffer, message: string): Relayed | undefined {
    if (message.length > MAX_RELAYED_BYTES) return undefined;
    let outer: { body?: unknown; mac?: unknown };
    try {
        outer = JSON.parse(message) as { body?: unknown; mac?: unknown };
    } catch {
        return undefined;
    }
    if (typeof outer?.body !== "string" || typeof outer.mac !== "string") return undefined;
    const expected = createHmac("sha256", key).update(outer.body).digest();
    const given = Buffer.from(outer.mac, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let inner: { from?: unknown; sessionId?: unknown; display?: unknown };
    try {
        inner = JSON.parse(outer.body) as typeof inner;
    } catch {
        return undefined;
    }
    const display = displayFrom(inner.display);
    if (typeof inner.from !== "string" || (inner.sessionId !== null && typeof inner.sessionId !== "string") || !display) return undefined;
    return { from: inner.from, sessionId: inner.sessionId, display };
}

export class DisplayRelay {
    private unsubscribe: (() => Promise<unknown>) | undefined;
    private closed = false;

    constructor(
        private readonly transport: PubSub,
        private readonly channel: string,
        private readonly key: Buffer,
        /** This instance's name: it does not show its own messages twice. */
        private readonly instance: string,
        /** Shows a relayed display on the sessions held here (one, or every session of the app). */
        private readonly show: (sessionId: string | undefined, display: Display) => void,
        /** A message that failed its seal: said once per relay (another writer, or another key). */
        private readonly onForged: () => void = () => {},
    ) {}

    async start(): Promise<void> {
        let forged = false;
        const unsubscribe = await this.transport.subscribe(this.channel, (message) => {
            const relayed = openRelayed(this.key, message);
            if (!relayed) {
                if (!forged) this.onForged();
                forged = true;
                return;
            }
            if (relayed.from !== this.instance) this.show(relayed.sessionId ?? undefined, relayed.display);
        });
        if (this.closed) return void (await unsubscribe());
        this.unsubscribe = unsubscribe;
    }

    /** Publishes a display for session `sessionId` (or every session of the app) to the other instances. */
    send(sessionId: string | undefined, display: Display): Promise<unknown> {
        const message = seal(this.key, { from: this.instance, sessionId: sessionId ?? null, display });
        if (message.length > MAX_RELAYED_BYTES) return Promise.resolve();
        return this.transport.publish(this.channel, message).catch(() => undefined);
    }

    async close(): Promise<void> {
        this.closed = true;
        await this.unsubscribe?.().catch(() => undefined);
    }
}
