/**
 * mentra-out: shows msg.payload on the glasses of the session in msg.sessionId, or of every
 * session of the app: a text wall by default; a double text wall, reference card, dashboard
 * card or clear view through the node's layout or msg.layout. Displays faster than the cloud
 * takes them are coalesced per session, the latest winning (nodes/mentra/session.ts).
 */
import type { Node, NodeAPI, NodeDef } from "node-red";
import { displayOf, type DisplayMessage, type MentraOutOptions } from "../mentra/messages.js";
import { selectedApp, showSessions } from "./mentra-shared.js";




export = (RED: NodeAPI): void => {
    function MentraOutNode(this: Node, config: MentraOutOptions & NodeDef) {
        RED.nodes.createNode(this, config);
        const node = this;
        const app = selectedApp(RED, node, config.app);
        if (!app) return;
        const stopShowing = showSessions(RED, node, app);
        node.on("input", (msg: object, _send: unknown, done: (error?: Error) => void) => {
            const message = msg as DisplayMessage;
            const sessionId = typeof message.sessionId === "string" && message.sessionId ? message.sessionId : undefined;
            const shown = app.display(sessionId, displayOf(message, config));
            // A session that ended meanwhile is no failure of the flow: the status says it.
            if (shown === 0 && sessionId !== undefined) node.warn(RED._("mentra.errors.no-such-session", { sessionId: sessionId.slice(0, 100) }));
            done();
        });
        node.on("close", (done: () => void) => {
            stopShowing();
            done();
        });
    }
    RED.nodes.registerType("mentra-out", MentraOutNode as never);
};
