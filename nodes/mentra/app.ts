/**
 * A Mentra app as a flow runs it: the sessions its webhook node joins, the streams its
 * session-events nodes ask for (sent to the cloud as the SDK derives them from handlers), and
 * the displays its display nodes send. Bounded: at most `maxSessions` sessions at once.
 * No Node-RED.
 */
import type { DisplayRelay } from "./relay.js";
import { MentraSession, type AppIdentity, type SessionEnd, type SessionListener } from "./session.js";
import { streamMatches, subscriptionList, type AckFrame, type DataStreamFrame, type Display, type StreamRequest, type Subscription } from "./protocol.js";

/** What a session-events node offers the app: what it asks for, and where the app hands what arrives. */
export interface AppInput {
    readonly streams: readonly StreamRequest[];
    data(session: MentraSession, frame: DataStreamFrame): void;
    /** started (with the ack), ended, error, and the cloud's notices (permission_error, settings_update…). */
    lifecycle(event: SessionLifecycle): void;
}

export type SessionLifecycle =
    | { type: "started"; session: MentraSession; ack: AckFrame }
    | { type: "ended"; session: MentraSession; end: SessionEnd }
    | { type: "error"; session: MentraSession; error: { code?: string; message: string } }
    | { type: "notice"; session: MentraSession; notice: string; frame: Record<string, unknown> };

/** How long a change of the nodes' streams settles before the sessions send it (a deploy's stop and start). */
export const SUBSCRIPTIONS_SETTLE_MS = 250;

/** Sessions one app holds at once at most: past it, a new session_request is refused (the cloud then shows the app as failed). */
export const DEFAULT_MAX_SESSIONS = 1000;

export class MentraApp implements SessionListener {
    readonly sessions = new Map<string, MentraSession>();
    private readonly inputs = new Set<AppInput>();
    private readonly watchers = new Set<() => void>();
    private subscriptionTimer: NodeJS.Timeout | undefined;
    /** Where displays for sessions other instances hold go (a shared-state node selected), if anywhere. */
    relay: DisplayRelay | undefined;
    /** The cloud's last refusal or error, for the nodes' status. */
    lastError: { code?: string; message: string } | undefined;

    constructor(
        private identity: AppIdentity,
        private readonly maxSessions = DEFAULT_MAX_SESSIONS,
    ) {}

    get packageName(): string {
        return this.identity.packageName;
    }

    /** Whether a redeployed configuration node is this same app (its sessions then go on through the deploy). */
    sameIdentity(identity: AppIdentity): boolean {
        return identity.packageName === this.identity.packageName && identity.apiKey === this.identity.apiKey;
    }

    /**
     * A session_request accepted by the webhook node: joins the session at `url` (a URL the node
     * checked), or, for a session held already (a cloud switch, a resurrection), releases it there
     * and moves to `url`. Returns what it did.
     */
    join(sessionId: string, userId: string, url: string): "joined" | "moved" | "full" {
        const held = this.sessions.get(sessionId);
        if (held && held.state !== "ended") {
            void held.moveTo(url);
            return "moved";
        }
        if (this.sessions.size >= this.maxSessions) return "full";
        const session = new MentraSession(sessionId, userId, url, this.identity, () => this.subscriptions(), this);
        this.sessions.set(sessionId, session);
        session.start();
        this.changed();
        return "joined";
    }

    /** Tells `watcher` whenever a session starts, changes state or ends (the nodes' status); returns how to stop. */
    watch(watcher: () => void): () => void {
        this.watchers.add(watcher);
        return () => void this.watchers.delete(watcher);
    }

    private changed(): void {
        for (const watcher of this.watchers) watcher();
    }

    /** Sessions by state, for a status: active, connecting (or reconnecting). */
    summary(): { active: number; connecting: number; lastError: { code?: string; message: string } | undefined } {
        let active = 0;
        let connecting = 0;
        for (const session of this.sessions.values()) {
            if (session.state === "active") active++;
            else if (session.state !== "ended") connecting++;
        }
        return { active, connecting, lastError: this.lastError };
    }

    /** A stop_request: the session ends, its socket closed. */
    stop(sessionId: string, reason: string): void {
        this.sessions.get(sessionId)?.end({ reason });
    }

    /**
     * Shows `display` on session `sessionId`, or on every session of the app. With a relay
     * (several instances), a session not held here, and every session, are also the other
     * instances' to show. Returns how many sessions here it went to, or "relayed".
     */
    display(sessionId: string | undefined, display: Display): number | "relayed" {
        const shown = this.showHere(sessionId, display);
        if (this.relay && (sessionId === undefined || shown === 0)) {
            void this.relay.send(sessionId, display);
            if (shown === 0) return "relayed";
        }
        return shown;
    }

    /** Shows `display` on the sessions held here: `sessionId`'s, or all of them. */
    showHere(sessionId: string | undefined, display: Display): number {
        if (sessionId !== undefined) {
            const session = this.sessions.get(sessionId);
            if (!session) return 0;
            session.display(display);
            return 1;
        }
        for (const session of this.sessions.values()) session.display(display);
        return this.sessions.size;
    }

    /** The subscriptions every session sends: the union of what the deployed session-events nodes ask for. */
    subscriptions(): Subscription[] {
        return subscriptionList([...this.inputs].flatMap((input) => input.streams));
    }

    addInput(input: AppInput): void {
        this.inputs.add(input);
        this.subscriptionsChanged();
    }

    removeInput(input: AppInput): void {
        if (this.inputs.delete(input)) this.subscriptionsChanged();
    }

    /**
     * The nodes asking for streams changed: each active session sends the new list, if it
     * differs, once the change has settled (a full deploy stops every mentra in node and starts
     * them again: the cloud must not see an empty list in between, and lose what is said meanwhile).
     */
    subscriptionsChanged(): void {
        this.subscriptionTimer ??= setTimeout(() => {
            this.subscriptionTimer = undefined;
            for (const session of this.sessions.values()) session.updateSubscriptions();
        }, SUBSCRIPTIONS_SETTLE_MS);
    }

    /** Ends every session without releasing ownership: the cloud may start the app again (a shutdown, the app deleted). */
    close(reason: string): void {
        clearTimeout(this.subscriptionTimer);
        this.subscriptionTimer = undefined;
        void this.relay?.close();
        this.relay = undefined;
        for (const session of [...this.sessions.values()]) session.end({ reason });
    }

    started(session: MentraSession, ack: AckFrame): void {
        this.lastError = undefined;
        for (const input of this.inputs) input.lifecycle({ type: "started", session, ack });
    }

    data(session: MentraSession, frame: DataStreamFrame): void {
        for (const input of this.inputs) if (input.streams.some((request) => streamMatches(request, frame.streamType))) input.data(session, frame);
    }

    notice(session: MentraSession, notice: string, frame: Record<string, unknown>): void {
        for (const input of this.inputs) input.lifecycle({ type: "notice", session, notice, frame });
    }

    error(session: MentraSession, error: { code?: string; message: string }): void {
        this.lastError = error;
        for (const input of this.inputs) input.lifecycle({ type: "error", session, error });
        this.changed();
    }

    stateChanged(_session: MentraSession): void {
        this.changed();
    }

    ended(session: MentraSession, end: SessionEnd): void {
        if (this.sessions.get(session.sessionId) === session) this.sessions.delete(session.sessionId);
        for (const input of this.inputs) input.lifecycle({ type: "ended", session, end });
        this.changed();
    }
}
