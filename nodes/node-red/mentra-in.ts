/**
 * mentra-in: emits what the glasses of a Mentra app's sessions send, for the stream it is set
 * to (one message per data_stream), and, if asked, the sessions' lifecycle: started (with the
 * ack's settings and capabilities), stopped, errors and the cloud's notices. The streams of
 * every deployed mentra-in node are the app's subscriptions.
 */
import type { Node, NodeAPI, NodeDef } from "node-red";
import type { AppInput } from "../mentra/app.js";
import { lifecycleMessage, sessionFields, streamRequestOf, type MentraInOptions } from "../mentra/messages.js";
import { selectedApp, showSessions } from "./mentra-shared.js";






export = (RED: NodeAPI): void => {
    function MentraInNode(this: Node, config: MentraInOptions & NodeDef) {
        RED.nodes.createNode(this, config);
        const node = this;
        const app = selectedApp(RED, node, config.app);
        if (!app) return;
        const request = streamRequestOf(config);
        if (typeof request === "string") {
            node.status({ fill: "red", shape: "ring", text: request });
            return void node.error(request);
        }
        const lifecycle = config.lifecycle === true || config.lifecycle === "true";
        const input: AppInput = {
            streams: [request],
            data: (session, frame) => node.send({ topic: frame.streamType, payload: frame.data, streamType: frame.streamType, ...sessionFields(session), timestamp: frame.timestamp } as never),
            lifecycle: (event) => {
                if (lifecycle) node.send(lifecycleMessage(event) as never);
            },
        };
        app.addInput(input);
        const stopShowing = showSessions(RED, node, app);
        node.on("close", (done: () => void) => {
            stopShowing();
            app.removeInput(input);
            done();
        });
    }
    RED.nodes.registerType("mentra-in", MentraInNode as never);
};
