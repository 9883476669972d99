/**
 * The Node-RED side of a receiver, its composition root: reads the node's configuration, puts
 * together its collaborators (de-duplication state, outlet, receiver, route claim, status) and
 * takes them apart on close. Each node file calls registerReceiverNode with its provider and
 * nothing else; what lives once per runtime is the runtime object's (runtime.ts).
 */
import type { Node, NodeAPI, NodeDef } from "node-red";
import { Receiver } from "../receive/pipeline.js";
import type { ReceiverCounts } from "../receive/messages.js";
import { DeliveryOutlet } from "./outlet.js";
import { keptEventsOf } from "./stores.js";
import { keepsByDefault, logLimits, receiverSettings, type ReceiverOptions } from "./node-options.js";
import type { Provider, SomeProvider } from "../receive/provider.js";
import { isSafePath, normalisePath } from "../http/paths.js";
import type { RouteClaim, RouteOwner } from "../http/route-table.js";
import { extraPathRule, parseSecrets } from "../receive/secrets.js";
import type { DedupState, SharedStateNode } from "../dedup/state.js";
import { TEST_EVENT_NONCE, testEventSender } from "./test-events.js";
import { WebhooksRuntime } from "./runtime.js";
import { sessionJoiner } from "./mentra-shared.js";
import type { MentraAppNode } from "./mentra-shared.js";
import type { MentraOptions } from "../providers/mentra.js";

export interface ReceiverNodeDef extends NodeDef, ReceiverOptions {
    path?: string;
    /** The id of a webhook-state config node: de-duplication state shared through Redis. */
    state?: string;
    /** mentra-webhook: the id of a mentra-app config node whose sessions the node joins. */
    app?: string;
    [option: string]: unknown;
}

interface Credentials {
    secret?: string;
}

/** Status redraws are throttled: under load, one per interval instead of one per request. */
const STATUS_INTERVAL_MS = 500;

/** Why a node does not listen: a status and an error, both from the catalogue. */
class NodeProblem {
    constructor(
        readonly key: string,
        readonly values?: Record<string, string>,
    ) {}
}

function reasonOf(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

/** Where a node listens and with which secrets, checked as the provider requires. */
function endpointOf(RED: NodeAPI, provider: SomeProvider, node: Node<Credentials>, config: ReceiverNodeDef): { path: string; secrets: string[] } {
    const settings = RED.settings as unknown as { httpNodeRoot?: string | false };
    if (settings.httpNodeRoot === false) throw new NodeProblem("http-disabled");
    if (typeof config.path === "string" && !isSafePath(config.path)) throw new NodeProblem("unsafe-path");
    const path = normalisePath(config.path);
    if (!path) throw new NodeProblem("no-path");
    const secrets = parseSecrets(node.credentials?.secret, (name) => {
        const value = RED.util.getSetting?.(node, name) ?? process.env[name];
        return typeof value === "string" ? value : undefined;
    });
    if (provider.secretRequired && secrets.length === 0) throw new NodeProblem("no-secret");
    const secretProblem = provider.secretProblem?.(secrets);
    if (secretProblem) throw new NodeProblem("bad-secret", { reason: secretProblem });
    return { path, secrets };
}

/** The shared-state node the node names, if it names one. */
function sharedStateOf(RED: NodeAPI, config: ReceiverNodeDef): SharedStateNode | undefined {
    if (!config.state) return undefined;
    const stateNode = RED.nodes.getNode(String(config.state)) as (Node & Partial<SharedStateNode>) | null;
    if (!stateNode?.stateFor || !stateNode.keptEventsFor) throw new NodeProblem("no-state");
    return stateNode as Node & SharedStateNode;
}

/** A node's status: listening with its counts (redrawn at most every STATUS_INTERVAL_MS), waiting for its path, or not listening. */
class ReceiverStatus {
    private timer: NodeJS.Timeout | undefined;
    /** The editor or admin route that owns the node's path, if one does: the node then does not listen. */
    ownedBy: string | undefined;

    constructor(
        private readonly RED: NodeAPI,
        readonly node: Node,
        private readonly path: string,
        private readonly listening: () => boolean,
        private readonly counts: () => { accepted: number; duplicates: number; rejected: number },
    ) {}

    readonly show = (): void => {
        this.timer = undefined;
        if (this.ownedBy !== undefined) return;
        const { RED, node, path } = this;
        if (!this.listening()) return void node.status({ fill: "red", shape: "ring", text: RED._("webhook.status.path-in-use", { path }) });
        const { accepted, duplicates, rejected } = this.counts();
        // Duplicates said apart: a repeat reached no flow, and "ok" would hide that.
        const key = duplicates > 0 ? "webhook.status.listening-duplicates" : "webhook.status.listening";
        const values = { path, accepted: String(accepted), duplicates: String(duplicates), rejected: String(rejected) };
        node.status({ fill: rejected > 0 ? "yellow" : "green", shape: "dot", text: RED._(key, values) });
    };

    readonly schedule = (): void => {
        this.timer ??= setTimeout(this.show, STATUS_INTERVAL_MS);
    };

    /** The node does not listen, and says why (its status, and an error in the log). */
    problem({ key, values }: NodeProblem): void {
        this.node.status({ fill: "red", shape: "ring", text: this.RED._(`webhook.status.${key}`, values) });
        this.node.error(this.RED._(`webhook.errors.${key}`, values));
    }

    clear(): void {
        clearTimeout(this.timer);
        this.node.status({});
    }
}

/**
 * A mentra-webhook node with an app selected joins the sessions it accepts; a node set to the
 * newer protocol cannot yet (the session protocol 2.x only is built).
 */
function sessionsJoinedBy(RED: NodeAPI, node: Node, provider: { name: string }, options: unknown, config: ReceiverNodeDef): ((messages: readonly { payload: unknown }[]) => void) | undefined {
    if (provider.name !== "mentra" || typeof config.app !== "string" || !config.app) return undefined;
    if ((options as MentraOptions).protocol !== "app-ws") throw new NodeProblem("mentra-protocol");
    const appNode = RED.nodes.getNode(config.app) as MentraAppNode | null;
    if (!appNode) throw new NodeProblem("mentra-no-app");
    if (appNode.app) return sessionJoiner(appNode.app);
    // An app not configured yet (no API key) shows on its nodes; the first session it cannot join
    // is said, once per start of the node: session_requests are unsigned, a flood must not fill the log.
    let said = false;
    return (messages) => {
        if (said || !messages.some((message) => (message.payload as { type?: unknown }).type === "session_request")) return;
        said = true;
        node.warn(RED._("webhook.errors.mentra-not-joined", { reason: appNode.problem ?? "" }));
    };
}

/** Registers the node type of `provider`; generic so that its options and keys meet their own provider's. */
export function registerReceiverNode<Event, Options, Keys>(RED: NodeAPI, provider: Provider<Event, Options, Keys>): void {
    const runtime = WebhooksRuntime.of(RED); // its admin routes answer before any node is deployed
    runtime.providers.set(provider.nodeType, provider as unknown as SomeProvider);
    function ReceiverNode(this: Node<Credentials>, config: ReceiverNodeDef) {
        RED.nodes.createNode(this, config);
        try {
            startReceiver(RED, runtime, provider as Provider<Event, unknown, unknown>, this, config);
        } catch (error) {
            if (!(error instanceof NodeProblem)) throw error;
            this.status({ fill: "red", shape: "ring", text: RED._(`webhook.status.${error.key}`, error.values) });
            this.error(RED._(`webhook.errors.${error.key}`, error.values));
        }
    }
    RED.nodes.registerType(provider.nodeType, ReceiverNode as never, { credentials: { secret: { type: "password" } } } as never);
}

/** Puts a receiver node together: state, outlet, receiver, its place in the runtime, its path; and takes it apart on close. */
function startReceiver<Event>(RED: NodeAPI, runtime: WebhooksRuntime, provider: Provider<Event, unknown, unknown>, node: Node<Credentials>, config: ReceiverNodeDef): void {
    const { path, secrets } = endpointOf(RED, provider as unknown as SomeProvider, node, config);
    const limits = receiverSettings(config);
    const scope = `${provider.name}:${path}`;
    const shared = sharedStateOf(RED, config);
    const options = provider.options(config);
    const joinSessions = sessionsJoinedBy(RED, node, provider, options, config);
    const storeError = (error: unknown) => node.error(RED._("webhook.errors.store", { reason: reasonOf(error) }));
    const endpointStates = shared ? undefined : runtime.endpointStates((error) => node.warn(RED._("webhook.errors.store", { reason: reasonOf(error) })));
    const state: DedupState = shared?.stateFor(limits) ?? endpointStates!.acquire(scope, limits);

    // Where each delivery goes once decided: the store ("Keep deliveries until handled": LMDB, or Redis with a shared-state node), the flow, the log.
    let outlet: DeliveryOutlet<Event>;
    try {
        outlet = new DeliveryOutlet<Event>(RED, node, provider, options, config, logLimits(config), keptEventsOf(RED, config, shared, scope, keepsByDefault(provider)));
    } catch (error) {
        void endpointStates?.release(scope, limits.windowMs);
        throw new NodeProblem("store", { reason: reasonOf(error) });
    }
    outlet.onAccepted = joinSessions;
    let claim: RouteClaim | undefined;
    const status: ReceiverStatus = new ReceiverStatus(RED, node, path, () => claim?.active === true, (): ReceiverCounts => receiver.counts);
    const receiver = new Receiver(provider, options, secrets, limits, outlet, {
        scope,
        testEventNonce: TEST_EVENT_NONCE,
        state,
        onCount: status.schedule,
        onInternalError: (where) => node.error(RED._("webhook.errors.internal", { where })),
    });
    const deployed = {
        provider: provider as unknown as SomeProvider,
        stats: () => receiver.stats(),
        sendTestEvent: testEventSender(RED, provider as unknown as SomeProvider, path, () => runtime.routes.mountPath(), secrets[0]),
        replay: outlet.replay.bind(outlet),
    };
    runtime.receivers.set(node.id, deployed);
    // Once every node of the flows runs, so that the next nodes are there to receive them; by
    // the node that listens on the path (kept events are the endpoint's: a second node waiting
    // for the path must not emit them too).
    if (outlet.store) runtime.whenFlowsStarted(node.id, () => claim?.active && outlet.startRedelivery(storeError));
    claim = claimPath(RED, runtime, provider, path, (request) => void receiver.handle(request), status);
    status.show();

    node.on("close", (removed: boolean, done: () => void) => {
        receiver.close();
        const journaled = endpointStates?.release(scope, limits.windowMs) ?? Promise.resolve();
        if (runtime.receivers.get(node.id) === deployed) runtime.receivers.delete(node.id);
        // Kept across redeploys (fix the flow, then replay); a deleted node's log goes with it.
        if (removed) runtime.logs.forget(node.id);
        claim?.release();
        status.clear();
        Promise.all([outlet.close(), journaled])
            .catch(() => {})
            .finally(done);
    });
}

/** Claims the node's path in the runtime's route table: it listens now, or once the node holding the path lets go. */
function claimPath(RED: NodeAPI, runtime: WebhooksRuntime, provider: Pick<SomeProvider, "pathToken" | "pathSuffixes">, path: string, handle: RouteOwner["handle"], status: ReceiverStatus): RouteClaim {
    const extraPath = extraPathRule(provider);
    const claim = runtime.routes.claim(path, {
        maxExtraSegments: extraPath.maxSegments,
        acceptsExtraPath: extraPath.accepts,
        handle,
        activated: status.show,
        conflict: (route) => {
            status.ownedBy = route;
            status.problem(new NodeProblem("path-owned", { path, route }));
        },
    });
    if (!claim.active) status.node.warn(RED._("webhook.errors.path-in-use", { path }));
    return claim;
}
