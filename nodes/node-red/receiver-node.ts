/**
 * The Node-RED side of a receiver: reads the node's configuration, claims its path in the
 * route table and turns pipeline results into node output and status. Each node file
 * calls registerReceiverNode with its provider and nothing else.
 */
import type { Node, NodeAPI, NodeDef } from "node-red";
import { join } from "node:path";
import { DEFAULT_SETTINGS, Receiver } from "../receive/pipeline.js";
import { deliveryLogRuntime, type Replayer } from "./delivery-log-routes.js";
import { DeliveryOutlet, keptEventsOf } from "./outlet.js";
import { keepsByDefault, logLimits, receiverSettings, type ReceiverOptions } from "./node-options.js";
import type { Provider, SomeProvider } from "../receive/provider.js";
import { isSafePath, normalisePath, routeTableFor, type HttpSettings } from "../http/route-table.js";
import { extraPathRule, parseSecrets } from "../receive/secrets.js";
import { EndpointStates, type DedupState, type SharedStateNode } from "../dedup/state.js";
import { IdentityJournals } from "../dedup/identity-journal.js";
import { packageFolder } from "../keep/lmdb-store.js";
import { attachStats, attachTestEventSender, registerTestEventRoutes, TEST_EVENT_NONCE, testEventSender } from "./test-events.js";

export interface ReceiverNodeDef extends NodeDef, ReceiverOptions {
    path?: string;
    /** The id of a webhook-state config node: de-duplication state shared through Redis. */
    state?: string;
    [option: string]: unknown;
}

interface Credentials {
    secret?: string;
}

const endpointStates = new WeakMap<object, EndpointStates>();

/**
 * The de-duplication state of this runtime's endpoints: it outlives the nodes (a deploy keeps
 * it) and, with a user directory, the process (a journal in LMDB beside the kept deliveries).
 */
function endpointStatesOf(RED: NodeAPI, onJournalError: (error: unknown) => void): EndpointStates {
    let states = endpointStates.get(RED.httpAdmin);
    if (!states) {
        const userDir = (RED.settings as unknown as { userDir?: unknown }).userDir;
        let journals: IdentityJournals | undefined;
        let failed = typeof userDir !== "string";
        states = new EndpointStates((scope) => {
            if (failed) return undefined;
            try {
                journals ??= IdentityJournals.open(join(packageFolder(userDir as string), "identities"));
                return journals.for(scope, DEFAULT_SETTINGS.maxEntries);
            } catch (error) {
                failed = true; // memory only: deploys keep identities, a restart does not
                onJournalError(error);
                return undefined;
            }
        });
        endpointStates.set(RED.httpAdmin, states);
    }
    return states;
}

/** Status redraws are throttled: under load, one per interval instead of one per request. */
const STATUS_INTERVAL_MS = 500;

/** The providers whose nodes the editor may ask about, per runtime; the route is registered once. */
const checkedProviders = new WeakMap<object, Map<string, SomeProvider>>();

/** What the editor asks of a node's configuration before a deploy, and the answer: a one-line reason per field, or null. */
interface NodeCheck {
    path: string | null;
    secret: string | null;
}

/**
 * POST /verified-webhooks/check {type, id, path, secret?}: what would keep a node from
 * listening, checked by the runtime as the node would check it at start (the provider's own
 * rules), so the editor marks it invalid and says why before a deploy. `secret` is what the
 * dialog holds when the user typed one; without it, the deployed node's own is checked.
 */
function registerCheckRoute(RED: NodeAPI, settings: HttpSettings, provider: SomeProvider): void {
    const known = checkedProviders.get(RED.httpAdmin);
    if (known) return void known.set(provider.nodeType, provider);
    const providers = new Map([[provider.nodeType, provider]]);
    checkedProviders.set(RED.httpAdmin, providers);
    // The token of a node whose provider signs nothing, for the URL the dialog shows (masked
    // until revealed): the token a user with write permission could set anyway. A token read
    // from an environment variable is named, not read out.
    RED.httpAdmin.get("/verified-webhooks/nodes/:id/token", RED.auth.needsPermission("verified-webhooks.write"), (req, res) => {
        const id = String(req.params.id ?? "");
        const node = RED.nodes.getNode(id) as (Node & { type?: string }) | null;
        const owner = node?.type ? providers.get(node.type) : undefined;
        if (!owner?.pathToken) return void res.status(404).json({ error: "no deployed webhook node with a token in its URL" });
        const first = String((RED.nodes.getCredentials(id) as Credentials | undefined)?.secret ?? "")
            .split(/\r?\n/)
            .map((line) => line.trim())
            .find(Boolean);
        const env = first ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(first)?.[1] : undefined;
        res.json({ token: env ? null : (first ?? null), env: env ?? null });
    });

    RED.httpAdmin.post("/verified-webhooks/check", RED.auth.needsPermission("verified-webhooks.write"), (req, res) => {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const checked = providers.get(String(body.type));
        if (!checked) return void res.status(400).json({ error: "not a webhook node type" });
        const answer: NodeCheck = { path: null, secret: null };
        const rawPath = typeof body.path === "string" ? body.path.slice(0, 2000) : "";
        const typed = typeof body.secret === "string" ? body.secret.slice(0, 100_000) : undefined;
        const stored = typeof body.id === "string" ? (RED.nodes.getCredentials(body.id) as Credentials | undefined)?.secret : undefined;
        const secrets = parseSecrets(typed ?? stored, (name) => {
            const value = process.env[name];
            return typeof value === "string" ? value : undefined;
        });
        if (checked.secretRequired && secrets.length === 0) answer.secret = RED._("webhook.errors.no-secret-short");
        else if (secrets.length) {
            const problem = checked.secretProblem?.(secrets);
            if (problem) answer.secret = problem;
        }
        if (!isSafePath(rawPath) || !normalisePath(rawPath)) return void res.json(answer);
        routeTableFor(RED.httpNode, settings, RED.events as never)
            .editorRouteOwning(rawPath)
            .then(
                (route) => {
                    if (route) answer.path = RED._("webhook.errors.path-owned-short", { route });
                    res.json(answer);
                },
                () => res.json(answer),
            );
    });
}

/** Registers the node type of `provider`; generic so that its options and keys meet their own provider's. */
export function registerReceiverNode<Event, Options, Keys>(RED: NodeAPI, provider: Provider<Event, Options, Keys>): void {
    const type = provider.nodeType;
    const settings = RED.settings as unknown as HttpSettings & { httpNodeRoot?: string | false };

    function ReceiverNode(this: Node<Credentials>, config: ReceiverNodeDef) {
        RED.nodes.createNode(this, config);
        const node = this;
        const fail = (key: string, values?: Record<string, string>) => {
            node.status({ fill: "red", shape: "ring", text: RED._(`webhook.status.${key}`, values) });
            node.error(RED._(`webhook.errors.${key}`, values));
        };

        if (settings.httpNodeRoot === false) return fail("http-disabled");
        if (typeof config.path === "string" && !isSafePath(config.path)) return fail("unsafe-path");
        const path = normalisePath(config.path);
        if (!path) return fail("no-path");
        const secrets = parseSecrets(node.credentials?.secret, (name) => {
            const value = RED.util.getSetting?.(node, name) ?? process.env[name];
            return typeof value === "string" ? value : undefined;
        });
        if (provider.secretRequired && secrets.length === 0) return fail("no-secret");
        const secretProblem = provider.secretProblem?.(secrets);
        if (secretProblem) return fail("bad-secret", { reason: secretProblem });

        let statusTimer: NodeJS.Timeout | undefined;
        /** The editor or admin route that owns this node's path, if one does: the node then does not listen. */
        let ownedBy: string | undefined;
        const showStatus = () => {
            statusTimer = undefined;
            if (ownedBy !== undefined) return;
            if (!claim.active) {
                node.status({ fill: "red", shape: "ring", text: RED._("webhook.status.path-in-use", { path }) });
                return;
            }
            const { accepted, duplicates, rejected } = receiver.counts;
            node.status({
                fill: rejected > 0 ? "yellow" : "green",
                shape: "dot",
                // Duplicates said apart: a repeat reached no flow, and "ok" would hide that.
                text: RED._(duplicates > 0 ? "webhook.status.listening-duplicates" : "webhook.status.listening", {
                    path,
                    accepted: String(accepted),
                    duplicates: String(duplicates),
                    rejected: String(rejected),
                }),
            });
        };
        const scheduleStatus = () => {
            statusTimer ??= setTimeout(showStatus, STATUS_INTERVAL_MS);
        };

        const limits = receiverSettings(config);
        const scope = `${provider.name}:${path}`;
        let shared: SharedStateNode | undefined;
        if (config.state) {
            const stateNode = RED.nodes.getNode(String(config.state)) as (Node & Partial<SharedStateNode>) | null;
            if (!stateNode?.stateFor || !stateNode.keptEventsFor) return fail("no-state");
            shared = stateNode as Node & SharedStateNode;
        }
        const state: DedupState =
            shared?.stateFor(limits) ??
            endpointStatesOf(RED, (error) => node.warn(RED._("webhook.errors.store", { reason: error instanceof Error ? error.message : String(error) }))).acquire(scope, limits);

        // Where each delivery goes once decided: the store ("Keep deliveries until handled": LMDB, or Redis with a shared-state node), the flow, the log.
        const options = provider.options(config);
        let outlet: DeliveryOutlet<Event>;
        try {
            outlet = new DeliveryOutlet<Event>(RED, node, provider as Provider<Event, unknown, unknown>, options, config, logLimits(config), keptEventsOf(RED, config, shared, scope, keepsByDefault(provider)));
        } catch (error) {
            return fail("store", { reason: error instanceof Error ? error.message : String(error) });
        }

        const receiver = new Receiver(provider, options, secrets, limits, outlet, {
            scope,
            testEventNonce: TEST_EVENT_NONCE,
            state,
            onCount: scheduleStatus,
            onInternalError: (where) => node.error(RED._("webhook.errors.internal", { where })),
        });
        const { logRuntime } = outlet;
        const replayer: Replayer = (entry, events) => outlet.replay(entry, events);
        logRuntime.replayers.set(node.id, replayer);
        if (outlet.store) {
            // Once every node of the flows runs, so that the next nodes are there to receive them;
            // by the node that listens on the path (kept events are the endpoint's: a second
            // node waiting for the path must not emit them too).
            RED.events.once("flows:started", () => {
                if (!claim.active) return;
                outlet.startRedelivery((error: unknown) => {
                    node.error(RED._("webhook.errors.store", { reason: error instanceof Error ? error.message : String(error) }));
                });
            });
        }
        const routes = routeTableFor(RED.httpNode, settings, RED.events as never);
        attachStats(node, () => receiver.stats());
        attachTestEventSender(node, testEventSender(RED, provider, path, () => routes.mountPath(), secrets[0]));
        const extraPath = extraPathRule(provider);
        const claim = routes.claim(path, {
            maxExtraSegments: extraPath.maxSegments,
            acceptsExtraPath: extraPath.accepts,
            handle: (request) => void receiver.handle(request),
            activated: showStatus,
            conflict: (route) => {
                ownedBy = route;
                fail("path-owned", { path, route });
            },
        });
        if (!claim.active) node.warn(RED._("webhook.errors.path-in-use", { path }));
        showStatus();

        node.on("close", (removed: boolean, done: () => void) => {
            receiver.close();
            const journaled = shared ? Promise.resolve() : endpointStatesOf(RED, () => {}).release(scope, limits.windowMs);
            if (logRuntime.replayers.get(node.id) === replayer) logRuntime.replayers.delete(node.id);
            // Kept across redeploys (fix the flow, then replay); a deleted node's log goes with it.
            if (removed) logRuntime.logs.forget(node.id);
            claim.release();
            clearTimeout(statusTimer);
            node.status({});
            Promise.all([outlet.close(), journaled])
                .catch(() => {})
                .finally(done);
        });
    }

    registerTestEventRoutes(RED, provider);
    registerCheckRoute(RED, settings, provider as unknown as SomeProvider);
    deliveryLogRuntime(RED); // its admin routes answer before any node is deployed
    RED.nodes.registerType(type, ReceiverNode as never, { credentials: { secret: { type: "password" } } } as never);
}
