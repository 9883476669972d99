/**
 * Everything this package holds once per Node-RED runtime, in one object: the route table of
 * its HTTP server, the endpoints' de-duplication state (with its journal on disk), the LMDB
 * store of kept deliveries, the delivery log with its completion tracking and live updates,
 * the providers whose nodes are registered and the receivers deployed. Made on first use (a
 * node type registering), found through the runtime's admin app. The stores on disk close when
 * the runtime stops its flows other than for a deploy (shutdown, "stop flows"), once every node
 * has closed, and open again on next use.
 */
import type { NodeAPI } from "node-red";
import { existsSync } from "node:fs";
import { RouteTable, type HttpSettings } from "../http/route-table.js";
import { EndpointStates } from "../dedup/state.js";
import { IdentityJournals } from "../dedup/identity-journal.js";
import { LmdbStore } from "../keep/lmdb-store.js";
import { packageFiles, privatePackageFiles } from "../keep/package-files.js";
import { CompletionTracker } from "../log/completion.js";
import { DeliveryLogs } from "../log/delivery-log.js";
import type { Replayer, ReplayTarget } from "../log/replay.js";
import { DEFAULT_SETTINGS } from "../receive/settings.js";
import type { SomeProvider } from "../receive/provider.js";
import type { MentraApp } from "../mentra/app.js";
import { MessageFollower } from "./completion-hooks.js";
import { registerAdminRoutes } from "./admin-routes.js";
import type { TestEventSender } from "./test-events.js";

/** What a deployed receiver node offers the admin API. */
export interface DeployedReceiver {
    readonly provider: SomeProvider;
    /** Counts and load, for GET /verified-webhooks/nodes/<id>/stats. */
    stats(): object;
    readonly sendTestEvent: TestEventSender;
    readonly replay: Replayer;
}

export const LIVE_TOPIC = "verified-webhooks/deliveries";
/** Live updates are sent at most this often, each with the number of deliveries that changed. */
const PUBLISH_INTERVAL_MS = 500;

interface RuntimeStateEvent {
    id?: string;
    payload?: { state?: string; deploy?: boolean };
}

export class WebhooksRuntime implements ReplayTarget {
    private static readonly runtimes = new WeakMap<object, WebhooksRuntime>();

    /** The providers of the node types registered, by node type. */
    readonly providers = new Map<string, SomeProvider>();
    /** Receiver nodes deployed, by node id. */
    readonly receivers = new Map<string, DeployedReceiver>();
    readonly logs = new DeliveryLogs();
    /** The Mentra apps of the mentra-app nodes, by node id: they outlive a deploy, so a user's session goes on through it. */
    readonly mentraApps = new Map<string, { app: MentraApp; detached?: NodeJS.Timeout }>();
    readonly tracker: CompletionTracker;
    private routeTable: RouteTable | undefined;
    private lmdb: LmdbStore | undefined;
    private journals: IdentityJournals | undefined;
    private states: EndpointStates | undefined;
    private changes = 0;
    private watchingStop = false;
    private publishTimer: NodeJS.Timeout | undefined;
    private follower: MessageFollower | undefined;
    /** What the receivers a deploy starts do once every node of the flows runs, by node id. */
    private readonly afterStart = new Map<string, () => void>();
    private listeningForStart = false;

    /** This Node-RED's runtime object: made, with its admin routes, on first use. */
    static of(RED: NodeAPI): WebhooksRuntime {
        let runtime = WebhooksRuntime.runtimes.get(RED.httpAdmin);
        if (!runtime) {
            runtime = new WebhooksRuntime(RED);
            WebhooksRuntime.runtimes.set(RED.httpAdmin, runtime);
            registerAdminRoutes(RED, runtime);
        }
        return runtime;
    }

    private constructor(private readonly RED: NodeAPI) {
        this.tracker = new CompletionTracker(this.changed);
    }

    /**
     * Installs Node-RED's message hooks that feed the tracker, once, when the first receiver
     * that follows its messages (its log or keeping on) starts: Node-RED runs every hook for
     * every message of every flow, so a runtime whose receivers follow nothing pays none.
     */
    followMessages(): void {
        if (this.follower) return;
        this.follower = new MessageFollower(this.tracker);
        this.follower.install(this.RED);
    }

    /**
     * Runs `task` once the flows being started all run (a receiver then redelivers what it kept:
     * the next nodes are there to receive it); a node started again before then replaces its
     * task. One listener for the runtime, not one per node: Node-RED's event emitter warns of a
     * leak from the eleventh listener of one event on, and a deploy may start many receivers.
     */
    whenFlowsStarted(nodeId: string, task: () => void): void {
        this.afterStart.set(nodeId, task);
        if (this.listeningForStart) return;
        this.listeningForStart = true;
        (this.RED.events as unknown as { on(name: string, listener: () => void): void }).on("flows:started", this.flowsStarted);
    }

    private readonly flowsStarted = (): void => {
        const tasks = [...this.afterStart.values()];
        this.afterStart.clear();
        for (const task of tasks) task();
    };

    /** Told after every node closed when the runtime stops other than for a deploy (shutdown, "stop flows"). */
    private readonly onRuntimeEvent = (event: RuntimeStateEvent): void => {
        if (event?.id === "runtime-state" && event.payload?.state === "stop" && !event.payload.deploy) void this.close();
    };

    /** Listens for the runtime's stop while something is open that must close with it (a store on disk, a Mentra app), and only then. */
    watchStop(listen: boolean): void {
        if (listen === this.watchingStop) return;
        this.watchingStop = listen;
        const events = this.RED.events as unknown as { on?(name: string, listener: (event: RuntimeStateEvent) => void): void; off?(name: string, listener: (event: RuntimeStateEvent) => void): void };
        if (listen) events.on?.("runtime-event", this.onRuntimeEvent);
        else events.off?.("runtime-event", this.onRuntimeEvent);
    }

    /** A delivery was added to the log or changed: the editor hears of it within PUBLISH_INTERVAL_MS. */
    readonly changed = (_deliveryId: string): void => {
        this.changes++;
        if (this.publishTimer) return;
        this.publishTimer = setTimeout(() => {
            this.publishTimer = undefined;
            // Only how many changed, never what: Node-RED's comms reach every editor connection,
            // whatever its permissions; the tab reads the log through the admin API.
            if (this.changes > 0) this.RED.comms.publish(LIVE_TOPIC, { changed: this.changes }, false);
            this.changes = 0;
        }, PUBLISH_INTERVAL_MS);
        this.publishTimer.unref?.();
    };

    replayerOf(nodeId: string): Replayer | undefined {
        return this.receivers.get(nodeId)?.replay;
    }

    /** The route table of this runtime's HTTP server (httpNode). */
    get routes(): RouteTable {
        const settings = this.RED.settings as unknown as HttpSettings;
        return (this.routeTable ??= new RouteTable(this.RED.httpNode as never, settings, this.RED.events as never));
    }

    private get userDir(): string | undefined {
        const userDir = (this.RED.settings as unknown as { userDir?: unknown }).userDir;
        return typeof userDir === "string" ? userDir : undefined;
    }

    /**
     * The de-duplication state of this runtime's endpoints: it outlives the nodes (a deploy keeps
     * it) and, with a user directory, the process (a journal in LMDB beside the kept deliveries).
     */
    endpointStates(onJournalError: (error: unknown) => void): EndpointStates {
        if (this.states) return this.states;
        const userDir = this.userDir;
        let failed = userDir === undefined;
        return (this.states = new EndpointStates((scope) => {
            if (failed) return undefined;
            try {
                if (!this.journals) {
                    const journals = IdentityJournals.open(privatePackageFiles(userDir!).identities);
                    this.watchStop(true);
                    this.journals = journals;
                }
                return this.journals.for(scope, DEFAULT_SETTINGS.maxEntries);
            } catch (error) {
                failed = true; // memory only: deploys keep identities, a restart does not
                onJournalError(error);
                return undefined;
            }
        }));
    }

    /** The LMDB store of kept deliveries, in the user directory: opened on first use. */
    lmdbStore(): LmdbStore {
        if (this.lmdb) return this.lmdb;
        const store = LmdbStore.open(privatePackageFiles(this.userDir ?? process.cwd()).deliveries);
        this.watchStop(true);
        return (this.lmdb = store);
    }

    /** Whether anything may have been kept here before: a store open, or one on disk. */
    mayHoldKept(): boolean {
        const userDir = this.userDir;
        return this.lmdb !== undefined || (userDir !== undefined && existsSync(packageFiles(userDir).deliveries));
    }

    /**
     * Closes the stores on disk (what the journal holds is written first; the next use opens
     * them again) and ends the Mentra apps' sessions without releasing them (the cloud starts
     * the app again when Node-RED is back).
     */
    async close(): Promise<void> {
        for (const [id, { app, detached }] of this.mentraApps) {
            clearTimeout(detached);
            app.close("Node-RED stopped");
            this.mentraApps.delete(id);
        }
        const { lmdb, journals } = this;
        this.watchStop(false);
        this.lmdb = undefined;
        this.journals = undefined;
        this.states = undefined; // its journals are closed: read back on next use, as after a restart
        await Promise.allSettled([lmdb?.close(), journals?.close()]);
    }
}
