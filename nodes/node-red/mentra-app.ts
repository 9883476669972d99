/**
 * The mentra-app configuration node: a Mentra app's package name and API key (a credential),
 * and the app's sessions (nodes/mentra/app.ts), which the runtime object holds so that a
 * deploy does not end a user's session. As Node-RED's MQTT broker node owns its connection: a
 * mentra-webhook node with the app selected joins the sessions it accepts, mentra-in nodes
 * emit what the glasses send, mentra-out nodes show text on them.
 */
import type { NodeAPI } from "node-red";
import { MentraApp } from "../mentra/app.js";
import { DEFAULT_MAX_SESSIONS } from "./node-options.js";
import { positiveNumber } from "../receive/options.js";
import { WebhooksRuntime } from "./runtime.js";
import type { MentraAppDef, MentraAppNode, SharedMessagesNode } from "./mentra-shared.js";
import { DisplayRelay } from "../mentra/relay.js";



/** A redeployed mentra-app node takes its sessions back within this time; past it they end (the cloud starts the app again). */
const ADOPT_WITHIN_MS = 10_000;

/** A package name as the Mentra developer console takes it: com.example.app. */
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The app a mentra-app node runs, taken back from before a deploy when it is the same app (package name and key). */
function appFor(runtime: WebhooksRuntime, id: string, identity: { packageName: string; apiKey: string }, maxSessions: number): MentraApp {
    const held = runtime.mentraApps.get(id);
    if (held) {
        clearTimeout(held.detached);
        held.detached = undefined;
        if (held.app.sameIdentity(identity)) return held.app;
        held.app.close("the app's package name or API key changed");
    }
    const app = new MentraApp(identity, maxSessions);
    runtime.mentraApps.set(id, { app });
    runtime.watchStop(true);
    return app;
}

/**
 * With a shared-state node selected (several instances behind one Public URL), displays for
 * sessions another instance holds reach it through Redis, sealed with the instances' shared key.
 */
function relayDisplays(RED: NodeAPI, node: MentraAppNode, app: MentraApp, stateId: unknown): void {
    void app.relay?.close();
    app.relay = undefined;
    if (typeof stateId !== "string" || !stateId) return;
    const state = RED.nodes.getNode(stateId) as (Partial<SharedMessagesNode> & object) | null;
    if (!state?.sharedMessages) return void node.warn(RED._("mentra-app.errors.no-state"));
    const { pubSub, key, instance, channelPrefix } = state.sharedMessages();
    const relay = new DisplayRelay(pubSub, `${channelPrefix}mentra:${app.packageName}:display`, key, instance, (sessionId, display) => void app.showHere(sessionId, display), () =>
        node.warn(RED._("mentra-app.errors.forged")),
    );
    app.relay = relay;
    relay.start().catch((error: unknown) => node.warn(RED._("mentra-app.errors.relay", { reason: error instanceof Error ? error.message : String(error) })));
}

export = (RED: NodeAPI): void => {
    const runtime = WebhooksRuntime.of(RED);
    function MentraAppConfigNode(this: MentraAppNode, config: MentraAppDef) {
        RED.nodes.createNode(this, config);
        const node = this;
        const packageName = String(config.packageName ?? "").trim();
        const apiKey = String(node.credentials?.apiKey ?? "").trim();
        node.app = undefined;
        node.problem = !PACKAGE_NAME.test(packageName) ? RED._("mentra-app.errors.package-name") : !apiKey ? RED._("mentra-app.errors.api-key") : undefined;
        // Not configured yet (an imported example): its nodes' status says so, and a session it cannot join is warned of then.
        if (node.problem) return;
        const maxSessions = Math.floor(positiveNumber(config.maxSessions, DEFAULT_MAX_SESSIONS));
        const app = (node.app = appFor(runtime, node.id, { packageName, apiKey }, maxSessions));
        relayDisplays(RED, node, app, config.state);

        node.on("close", (removed: boolean, done: () => void) => {
            void app.relay?.close(); // the shared-state node closes its Redis connections too
            app.relay = undefined;
            const held = runtime.mentraApps.get(node.id);
            if (held) {
                if (removed) {
                    held.app.close("the app was deleted from the flows");
                    runtime.mentraApps.delete(node.id);
                } else {
                    // A deploy: the next node of this id takes the sessions back; if none comes, they end.
                    held.detached = setTimeout(() => {
                        if (runtime.mentraApps.get(node.id) !== held) return;
                        held.app.close("the app is no longer deployed");
                        runtime.mentraApps.delete(node.id);
                    }, ADOPT_WITHIN_MS);
                    held.detached.unref?.();
                }
            }
            done();
        });
    }
    RED.nodes.registerType("mentra-app", MentraAppConfigNode as never, { credentials: { apiKey: { type: "password" } } } as never);
};
