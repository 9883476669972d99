/**
 * One Mentra session, from the webhook's session_request to its end: dials the session's
 * WebSocket (a URL the receiver checked against its allow-list), sends the init, reports the
 * ack or the error, keeps the subscriptions the deployed nodes ask for, coalesces displays
 * (latest wins), and reconnects as the SDK does. No Node-RED.
 */
import WebSocket from "ws";
import {
    DISPLAY_INTERVAL_MS,
    INIT_BUDGET_MS,
    MAX_FRAME_BYTES,
    RECONNECT_DELAYS_MS,
    RELEASE_WAIT_MS,
    displayFrame,
    initFrame,
    ownershipReleaseFrame,
    readCloudFrame,
    reconnectsAfter,
    sameSubscriptions,
    subscriptionFrame,
    type AckFrame,
    type DataStreamFrame,
    type Display,
    type Subscription,
    type View,
} from "./protocol.js";

export type SessionState = "connecting" | "active" | "reconnecting" | "ended";

/** Why a session ended, in words a status can show. */
export interface SessionEnd {
    readonly reason: string;
    /** The cloud refused the app (tpa_connection_error's code, or the close code). */
    readonly code?: string;
}

/** What the app hears of its sessions. */
export interface SessionListener {
    started(session: MentraSession, ack: AckFrame): void;
    data(session: MentraSession, frame: DataStreamFrame): void;
    /** A frame the flow may want that is not a data_stream: settings_update, capabilities_update, permission_error, app_stopped… */
    notice(session: MentraSession, type: string, frame: Record<string, unknown>): void;
    error(session: MentraSession, error: { code?: string; message: string }): void;
    stateChanged(session: MentraSession): void;
    ended(session: MentraSession, end: SessionEnd): void;
}

export interface AppIdentity {
    readonly packageName: string;
    readonly apiKey: string;
}

/** A pause before another try within the init budget, after a dial that failed. */
const RETRY_WITHIN_BUDGET_MS = 250;

export class MentraSession {
    state: SessionState = "connecting";
    private socket: WebSocket | undefined;
    private sent: Subscription[] | undefined;
    private reconnects = 0;
    private timer: NodeJS.Timeout | undefined;
    /** Displays waiting for the cloud's interval, one per view: the latest wins. */
    private readonly waiting = new Map<View, Display>();
    private lastDisplayAt = 0;
    private displayTimer: NodeJS.Timeout | undefined;
    /** The cloud's last tpa_connection_error: its code names why the close that follows ends the session. */
    private refusal: string | undefined;

    constructor(
        readonly sessionId: string,
        readonly userId: string,
        private url: string,
        private readonly app: AppIdentity,
        private readonly subscriptions: () => Subscription[],
        private readonly listener: SessionListener,
    ) {}

    /** Connects within the cloud's init budget, trying again while there is time (the webhook was answered: the cloud will not retry). */
    start(deadline = Date.now() + INIT_BUDGET_MS): void {
        this.dial(deadline);
    }

    private setState(state: SessionState): void {
        if (this.state === state) return;
        this.state = state;
        this.listener.stateChanged(this);
    }

    private dial(deadline: number | undefined): void {
        if (this.state === "ended") return;
        const socket = new WebSocket(this.url, { maxPayload: MAX_FRAME_BYTES, handshakeTimeout: INIT_BUDGET_MS });
        this.socket = socket;
        let acked = false;
        // No ack within the budget: the cloud has given up on this start; a reconnect may still succeed.
        const ackTimer = setTimeout(() => socket.terminate(), INIT_BUDGET_MS);
        socket.on("open", () => socket.send(initFrame(this.sessionId, this.app.packageName, this.app.apiKey)));
        socket.on("message", (data, isBinary) => {
            if (isBinary || this.socket !== socket) return; // audio is not subscribed to
            if (this.received(String(data))) {
                acked = true;
                clearTimeout(ackTimer);
            }
        });
        socket.on("error", () => {}); // its close follows, and decides
        socket.on("close", (code, reasonBytes) => {
            clearTimeout(ackTimer);
            if (this.socket !== socket) return;
            this.socket = undefined;
            this.sent = undefined;
            const reason = reasonBytes.toString("utf8");
            if (!acked && deadline !== undefined && code !== 1008 && Date.now() + RETRY_WITHIN_BUDGET_MS < deadline && this.state !== "ended") {
                this.timer = setTimeout(() => this.dial(deadline), RETRY_WITHIN_BUDGET_MS);
                return;
            }
            this.closed(code, reason, acked);
        });
    }

    /** Reads a frame; true once it was the ack. */
    private received(raw: string): boolean {
        const read = readCloudFrame(raw);
        switch (read.kind) {
            case "ack":
                this.reconnects = 0;
                this.refusal = undefined;
                this.setState("active");
                this.updateSubscriptions(true);
                this.listener.started(this, read.frame);
                if (this.waiting.size > 0 && !this.displayTimer) this.flushDisplays(); // shown while it was connecting
                return true;
            case "data":
                this.listener.data(this, read.frame);
                return false;
            case "error":
                this.refusal = read.frame.code;
                this.listener.error(this, { code: read.frame.code, message: read.frame.message ?? "connection error" });
                return false;
            case "permission_error":
                this.listener.notice(this, "permission_error", read.frame);
                return false;
            case "app_stopped":
                this.listener.notice(this, "app_stopped", read.frame);
                return false;
            case "other":
                this.listener.notice(this, read.type, read.frame);
                return false;
            case "malformed":
                this.listener.error(this, { message: `a frame from the cloud was ${read.reason}` });
                return false;
        }
    }

    private closed(code: number, reason: string, acked: boolean): void {
        if (this.state === "ended") return;
        if (!reconnectsAfter(code, reason) || this.reconnects >= RECONNECT_DELAYS_MS.length) {
            const why = reason || (acked ? `closed (${code})` : `could not connect (${code})`);
            return this.end({ reason: why, code: this.refusal ?? (code === 1008 || code === 1011 ? String(code) : undefined) }, false);
        }
        const delay = RECONNECT_DELAYS_MS[this.reconnects++]!;
        this.setState("reconnecting");
        this.timer = setTimeout(() => this.dial(undefined), delay);
    }

    /** Sends the subscriptions the deployed nodes ask for, when they changed (or always, after an ack). */
    updateSubscriptions(force = false): void {
        const socket = this.socket;
        if (!socket || socket.readyState !== WebSocket.OPEN || this.state !== "active") return;
        const wanted = this.subscriptions();
        if (!force && this.sent && sameSubscriptions(this.sent, wanted)) return;
        this.sent = wanted;
        socket.send(subscriptionFrame(this.sessionId, this.app.packageName, wanted));
    }

    /** Shows `display`, now or (within the cloud's interval since the last) once the interval is over, unless a later one replaces it. */
    display(display: Display): void {
        if (this.state === "ended") return;
        this.waiting.set(display.view, display);
        const wait = this.lastDisplayAt + DISPLAY_INTERVAL_MS - Date.now();
        if (wait <= 0 && !this.displayTimer) return this.flushDisplays();
        this.displayTimer ??= setTimeout(() => {
            this.displayTimer = undefined;
            this.flushDisplays();
        }, Math.max(wait, 0));
    }

    private flushDisplays(): void {
        const socket = this.socket;
        if (!socket || socket.readyState !== WebSocket.OPEN || this.state !== "active") return; // kept: sent once active again
        for (const display of this.waiting.values()) socket.send(displayFrame(this.app.packageName, display));
        this.waiting.clear();
        this.lastDisplayAt = Date.now();
    }

    /** A repeated session_request for this session (a cloud switch, a resurrection): release it here, connect to `url`. */
    async moveTo(url: string): Promise<void> {
        await this.release("switching_clouds");
        this.url = url;
        this.reconnects = 0;
        if (this.state === "ended") return;
        this.setState("connecting");
        this.dial(Date.now() + INIT_BUDGET_MS);
    }

    /** Sends ownership_release and closes the socket after the SDK's pause; the session itself goes on (or not) as the caller decides. */
    private async release(reason: "switching_clouds" | "clean_shutdown"): Promise<void> {
        clearTimeout(this.timer);
        const socket = this.socket;
        this.socket = undefined;
        this.sent = undefined;
        if (!socket) return;
        if (socket.readyState === WebSocket.OPEN) {
            socket.send(ownershipReleaseFrame(this.sessionId, this.app.packageName, reason));
            await new Promise((resolve) => setTimeout(resolve, RELEASE_WAIT_MS));
        }
        socket.close(1000, reason);
    }

    /**
     * Ends the session: a stop_request, app_stopped, a close that allows no reconnect. With
     * `close`, the socket is closed 1001 (going away) without releasing ownership, so that the
     * cloud may start the app again (a Node-RED shutdown).
     */
    end(end: SessionEnd, close = true): void {
        if (this.state === "ended") return;
        clearTimeout(this.timer);
        clearTimeout(this.displayTimer);
        this.waiting.clear();
        const socket = this.socket;
        this.socket = undefined;
        if (close && socket && socket.readyState !== WebSocket.CLOSED) {
            if (socket.readyState === WebSocket.OPEN) socket.close(1001, end.reason.slice(0, 100));
            else socket.terminate();
        }
        this.setState("ended");
        this.listener.ended(this, end);
    }
}
