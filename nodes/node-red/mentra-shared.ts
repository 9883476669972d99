/**
 * What the Mentra nodes share: finding the app a node selects, its status as the app's
 * sessions change, and joining the sessions a mentra-webhook node accepts.
 */
import type { Node, NodeAPI, NodeDef } from "node-red";
import type { MentraApp } from "../mentra/app.js";
import type { PubSub } from "../redis/pubsub.js";

export interface MentraAppDef extends NodeDef {
    packageName?: string;
    maxSessions?: unknown;
    /** A webhook-state node: displays reach the sessions other instances hold. */
    state?: string;
}

export interface MentraAppNode extends Node<{ apiKey?: string }> {
    /** The app, or undefined with `problem` saying why it cannot run (no package name, no API key). */
    app: MentraApp | undefined;
    problem: string | undefined;
}

/** What a shared-state node offers besides state: messages among the instances sharing its Redis, sealed with a key they share. */
export interface SharedMessagesNode {
    sharedMessages(): { pubSub: PubSub; key: Buffer; instance: string; channelPrefix: string };
}

/** The app of the mentra-app node `id`, or a red status saying why there is none. */
export function selectedApp(RED: NodeAPI, node: Node, id: unknown): MentraApp | undefined {
    const config = typeof id === "string" && id ? (RED.nodes.getNode(id) as MentraAppNode | null) : null;
    if (!config) {
        node.status({ fill: "red", shape: "ring", text: RED._("mentra.status.no-app") });
        return undefined;
    }
    if (!config.app) node.status({ fill: "red", shape: "ring", text: config.problem ?? RED._("mentra.status.no-app") });
    return config.app;
}

/** Keeps `node`'s status on the app's sessions (redrawn at most every 500 ms); returns how to stop. */
export function showSessions(RED: NodeAPI, node: Node, app: MentraApp): () => void {
    let timer: NodeJS.Timeout | undefined;
    const show = () => {
        timer = undefined;
        const { active, connecting, lastError } = app.summary();
        if (lastError && active === 0) return void node.status({ fill: "red", shape: "ring", text: RED._("mentra.status.error", { reason: (lastError.code ?? lastError.message).slice(0, 80) }) });
        if (active + connecting === 0) return void node.status({ fill: "grey", shape: "ring", text: RED._("mentra.status.no-session") });
        const text = connecting > 0 ? RED._("mentra.status.connecting", { active: String(active), connecting: String(connecting) }) : RED._("mentra.status.sessions", { active: String(active) });
        node.status({ fill: connecting > 0 ? "yellow" : "green", shape: "dot", text });
    };
    show();
    const unwatch = app.watch(() => {
        timer ??= setTimeout(show, 500);
    });
    return () => {
        clearTimeout(timer);
        unwatch();
    };
}

/** What a mentra-webhook node does with its accepted events when an app is selected: joins the sessions, ends the stopped ones. */
export function sessionJoiner(app: MentraApp): (messages: readonly { payload: unknown; websocketUrl?: unknown }[]) => void {
    return (messages) => {
        for (const message of messages) {
            const event = message.payload as { type?: unknown; sessionId?: unknown; userId?: unknown; reason?: unknown };
            if (typeof event.sessionId !== "string") continue;
            if ((event.type === "session_request" || event.type === "session_recovery") && typeof message.websocketUrl === "string") {
                app.join(event.sessionId, String(event.userId ?? ""), message.websocketUrl);
            } else if (event.type === "stop_request") {
                app.stop(event.sessionId, String(event.reason ?? "stop_request"));
            }
        }
    };
}
