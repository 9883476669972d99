/**
 * mentra-in: emits on output 1 what the glasses of a Mentra app's sessions send, for the stream
 * it is set to (one message per data_stream), and on output 2 the sessions' lifecycle: started (with the
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
        const input: AppInput = {
            streams: [request],
            data: (session, frame) => node.send([{ topic: frame.streamType, payload: frame.data, streamType: frame.streamType, ...sessionFields(session), timestamp: frame.timestamp }, null] as never),
            // Apart from the stream: wired straight to a display, output 1 shows only what was said.
            lifecycle: (event) => node.send([null, lifecycleMessage(event)] as never),
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
