/**
 * Where a receiver keeps its deliveries until handled: LMDB in the user directory (the
 * runtime's, opened on first use), or the endpoint's Redis Stream through a shared-state node.
 */
import type { NodeAPI } from "node-red";
import type { SharedStateNode } from "../dedup/state.js";
import type { KeptEvents } from "../keep/kept-events.js";
import { keepOption, type ReceiverOptions } from "./node-options.js";
import { WebhooksRuntime } from "./runtime.js";

/** Where a receiver's deliveries are kept, and whether it keeps new ones (or only drains what is there). */
export interface KeptStore {
    readonly store: KeptEvents<unknown>;
    /** False: "Keep deliveries until handled" is off, but events an earlier node of the endpoint kept are still emitted once. */
    readonly keeps: boolean;
}

/**
 * Where the receiver of endpoint `scope` keeps its deliveries until handled: with a
 * shared-state node, the endpoint's Redis Stream (several instances); otherwise LMDB in the
 * user directory, keyed by the endpoint (provider and path), so that a node replaced on the
 * same path (copied, imported, deleted and added again) finds what the one before kept, and
 * one that stopped keeping still emits it.
 */
export function keptEventsOf(RED: NodeAPI, config: ReceiverOptions, shared: SharedStateNode | undefined, scope: string, keepsByDefault = false): KeptStore | undefined {
    const runtime = WebhooksRuntime.of(RED);
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
    // A flow without the option (made before it existed, or through the admin API) gets the
    // provider's default, as the palette's nodes do; where a user directory holds the store
    // (a runtime without one, a test harness, keeps nothing unless asked).
    const keeps = keepOption(config) ?? (keepsByDefault && (shared !== undefined || typeof userDir === "string"));
    if (shared) return keeps ? { store: shared.keptEventsFor(scope), keeps } : undefined;
    // Never kept anything here: no store to open.
    if (!keeps && !runtime.mayHoldKept()) return undefined;
    return { store: runtime.lmdbStore().forEndpoint(scope), keeps };
}
