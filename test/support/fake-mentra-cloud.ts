// A fake Mentra cloud for the session WebSocket, protocol 2.x (/app-ws), written from the
// cloud's behaviour as ../shared/PROVIDERS.md (1a) reads it from Mentra-Community/MentraOS
// (AppManager handleAppInit, AppSession, bun-websocket handleAppMessage): the ack with its
// settings and capabilities followed by a device_state_update snapshot, tpa_connection_error
// codes and their closes, a frame before the init answered SESSION_NOT_FOUND (the socket
// stays open). The tests drive it: streams, closes, a slow ack, a refused key.
import { WebSocketServer, type WebSocket } from "ws";
import type { AddressInfo } from "node:net";

export interface CloudFrame {
    /** Which connection it came on (1, 2, …), and when (ms since the cloud started). */
    readonly connection: number;
    readonly at: number;
    readonly frame: Record<string, unknown> & { type: string };
}

export interface FakeCloudOptions {
    readonly packageName: string;
    readonly apiKey: string;
    /** How long the cloud takes to ack an init. */
    ackDelayMs?: number;
    /** Connections cut at once, before anything is read (a cloud restarting, a load balancer): the first this many. */
    dropFirst?: number;
}

export const CAPABILITIES = { modelName: "Even Realities G1", hasCamera: false, hasDisplay: true, hasMicrophone: true, hasSpeaker: false, hasIMU: true, hasButton: false, hasLight: false, hasWifi: false };

export class FakeMentraCloud {
    readonly frames: CloudFrame[] = [];
    /** Sockets of initialised sessions, by session id (the latest connection wins). */
    readonly sessions = new Map<string, WebSocket>();
    connections = 0;
    /** How each connection closed, as the cloud saw it. */
    readonly closes: { connection: number; code: number; reason: string }[] = [];
    /** When the cloud started (ms since 1970): frames' `at` counts from it. */
    readonly started = Date.now();
    private readonly waiters = new Set<() => void>();

    private constructor(
        private readonly server: WebSocketServer,
        readonly options: FakeCloudOptions,
    ) {
        server.on("connection", (socket) => this.accept(socket));
    }

    static async start(options: FakeCloudOptions): Promise<FakeMentraCloud> {
        const server = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/app-ws" });
        await new Promise<void>((resolve) => server.once("listening", () => resolve()));
        return new FakeMentraCloud(server, options);
    }

    /** The URL a session_request carries, as the cloud names it (ws: on loopback: the node allows it in the tests). */
    get url(): string {
        return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/app-ws`;
    }

    private accept(socket: WebSocket): void {
        const connection = ++this.connections;
        if (connection <= (this.options.dropFirst ?? 0)) return void socket.terminate();
        let sessionId: string | undefined;
        socket.on("message", (data) => {
            let frame: CloudFrame["frame"];
            try {
                frame = JSON.parse(String(data)) as CloudFrame["frame"];
            } catch {
                socket.send(JSON.stringify({ type: "tpa_connection_error", code: "MALFORMED_MESSAGE", message: "Invalid JSON", timestamp: new Date() }));
                return socket.close(1011, "Invalid JSON");
            }
            this.frames.push({ connection, at: Date.now() - this.started, frame });
            this.wake();
            if (frame.type === "tpa_connection_init") {
                sessionId = String(frame.sessionId);
                return this.init(socket, frame);
            }
            if (sessionId === undefined) socket.send(JSON.stringify({ type: "tpa_connection_error", code: "SESSION_NOT_FOUND", message: "No active session", timestamp: new Date() }));
        });
        socket.on("close", (code, reason) => {
            this.closes.push({ connection, code, reason: String(reason) });
            if (sessionId !== undefined && this.sessions.get(sessionId) === socket) this.sessions.delete(sessionId);
            this.wake();
        });
    }

    private init(socket: WebSocket, frame: CloudFrame["frame"]): void {
        if (frame.apiKey !== this.options.apiKey || frame.packageName !== this.options.packageName) {
            socket.send(JSON.stringify({ type: "tpa_connection_error", code: "INVALID_API_KEY", message: "Invalid API key", timestamp: new Date() }));
            return void socket.close(1008, "Invalid API key");
        }
        const sessionId = String(frame.sessionId);
        const userId = sessionId.split("-")[0];
        setTimeout(() => {
            if (socket.readyState !== socket.OPEN) return;
            this.sessions.set(sessionId, socket);
            socket.send(JSON.stringify({ type: "tpa_connection_ack", sessionId, settings: [], mentraosSettings: { metricSystemEnabled: false, brightness: 50 }, capabilities: CAPABILITIES, subscriptions: [], userId, timestamp: new Date() }));
            socket.send(JSON.stringify({ type: "device_state_update", state: { connected: true, modelName: CAPABILITIES.modelName }, fullSnapshot: true, timestamp: new Date() }));
            this.wake();
        }, this.options.ackDelayMs ?? 0);
    }

    private wake(): void {
        for (const waiter of [...this.waiters]) waiter();
    }

    /** The frames of `type` received so far. */
    received(type: string): CloudFrame[] {
        return this.frames.filter((each) => each.frame.type === type);
    }

    /** Waits until `count` frames of `type` arrived (or `ready` holds). */
    async waitFor(type: string, count = 1, timeoutMs = 5000): Promise<CloudFrame[]> {
        await this.until(() => this.received(type).length >= count, `${count} ${type} frame(s), got ${this.received(type).length}`, timeoutMs);
        return this.received(type);
    }

    async until(ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
        if (ready()) return;
        await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => {
                this.waiters.delete(check);
                reject(new Error(`the fake cloud waited ${timeoutMs} ms for ${what}`));
            }, timeoutMs);
            const check = () => {
                if (!ready()) return;
                clearTimeout(timer);
                this.waiters.delete(check);
                resolve();
            };
            this.waiters.add(check);
        });
    }

    /** Sends a data_stream to session `sessionId`, as the cloud relays the glasses' events. */
    sendData(sessionId: string, streamType: string, data: unknown): void {
        const socket = this.sessions.get(sessionId);
        if (!socket) throw new Error(`no session ${sessionId} at the fake cloud`);
        socket.send(JSON.stringify({ type: "data_stream", sessionId, streamType, data, timestamp: new Date() }));
    }

    /** Closes session `sessionId`'s socket as the cloud would (1000 "App stopped", 1006-like drops as 4000…). */
    close(sessionId: string, code: number, reason: string, appStopped = false): void {
        const socket = this.sessions.get(sessionId);
        if (!socket) throw new Error(`no session ${sessionId} at the fake cloud`);
        this.sessions.delete(sessionId);
        if (appStopped) socket.send(JSON.stringify({ type: "app_stopped", timestamp: new Date() }));
        socket.close(code, reason);
    }

    /** Whether session `sessionId`'s socket (the latest) is open at the cloud. */
    isOpen(sessionId: string): boolean {
        return this.sessions.get(sessionId)?.readyState === 1;
    }

    async stop(): Promise<void> {
        for (const client of this.server.clients) client.terminate();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
}
