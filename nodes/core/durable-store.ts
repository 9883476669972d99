/**
 * "Keep deliveries until handled": the events a node acknowledged and the flow has not
 * handled yet, on disk in Node-RED's user directory, so that a crash, a kill -9 or a power
 * cut loses none of them. LMDB (the `lmdb` package: a memory-mapped B+tree with prebuilt
 * binaries for Linux, macOS and Windows): a commit is atomic, and a write cut off by a crash
 * is never seen, so there is no torn record to recover. The writes of one event-loop turn
 * share one transaction and one sync (lmdb-js batches them): concurrent deliveries share a
 * sync (group commit). See bench/stores.js for how it compares.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { open, type RootDatabase } from "lmdb";
import type { KeptEvent, KeptEvents, NewKeptEvent } from "./kept-events.js";

/** Creates `path` (and its parent, the package's folder in the user directory) readable by this user only: they hold payloads. */
export function privateDirectory(path: string): void {
    for (const directory of [dirname(path), path]) {
        mkdirSync(directory, { recursive: true, mode: 0o700 });
        chmodSync(directory, 0o700); // made by an earlier version, or another part of the package, with the umask's mode
    }
}

/** One acknowledged event, as kept on disk until the flow has handled it. */
export interface StoredEvent extends NewKeptEvent {
    readonly nodeId: string;
    /** How many times it was emitted. */
    readonly attempts: number;
    /** Given up on after the node's max. attempts: kept, and emitted again only by a replay. */
    readonly parked: boolean;
}

export type Key = [string, string, number];

export function keyOf(event: Pick<StoredEvent, "nodeId" | "deliveryId" | "index">): Key {
    return [event.nodeId, event.deliveryId, event.index];
}

function storedEvent(nodeId: string, event: NewKeptEvent, attempts: number, parked: boolean): StoredEvent {
    return {
        nodeId,
        deliveryId: event.deliveryId,
        index: event.index,
        receivedAt: event.receivedAt,
        verified: event.verified,
        test: event.test,
        remoteAddress: event.remoteAddress,
        payload: event.payload,
        attempts,
        parked,
    };
}

function keptEvent(stored: StoredEvent): KeptEvent<Key> {
    return {
        deliveryId: stored.deliveryId,
        index: stored.index,
        receivedAt: stored.receivedAt,
        verified: stored.verified,
        test: stored.test,
        remoteAddress: stored.remoteAddress,
        payload: stored.payload,
        handle: keyOf(stored),
        attempts: stored.attempts,
        parked: stored.parked,
    };
}

/** Handled events are forgotten in batches, this often: their writes then share commits and syncs with the next puts. */
const REMOVE_INTERVAL_MS = 100;

export class DurableStore {
    private removals: Key[] = [];
    private removalTimer: NodeJS.Timeout | undefined;
    private removing: Promise<unknown> = Promise.resolve();

    private constructor(private readonly db: RootDatabase<StoredEvent, Key>) {}

    /** Opens (creating it if need be) the store in directory `path`. */
    static open(path: string): DurableStore {
        // Synced commits (no noSync, no noMetaSync), the sync overlapping the next commit (lmdb's
        // overlappingSync, its default on Linux): a write is on disk once `flushed` resolves.
        privateDirectory(path);
        return new DurableStore(open<StoredEvent, Key>({ path, encoding: "msgpack", compression: false }));
    }

    /** Writes `events`; resolves with their keys once they are synced to disk (in one commit with whatever else this turn wrote). */
    async put(events: readonly StoredEvent[]): Promise<Key[]> {
        let last: Promise<boolean> | undefined;
        const keys = events.map(keyOf);
        for (let index = 0; index < events.length; index++) last = this.db.put(keys[index]!, events[index]!);
        await last;
        // db.flushed is a thenable read when awaited: after this commit it may be a later batch's
        // flush, which covers this one. Waiting for it answers deliveries in larger waves, which
        // measured faster through Node-RED (16 connections, 4 rounds) than waiting for this
        // write's own flush (separateFlushed: ~7.1k persisted deliveries/s against ~8.5k) or
        // syncing inside each commit (no overlappingSync: ~8.3k).
        await this.db.flushed;
        return keys;
    }

    /** Forgets an event the flow has handled. Not awaited: a crash before it only means one more redelivery. */
    remove(key: Key): void {
        this.removals.push(key);
        if (!this.removalTimer) {
            this.removalTimer = setTimeout(() => this.flushRemovals(), REMOVE_INTERVAL_MS);
            this.removalTimer.unref?.();
        }
    }

    /**
     * Writes the removals asked for so far; resolves once they, and every removal written
     * before, are committed (several nodes recover at once after a deploy: each must see
     * what any node before it handled, not only what its own call wrote).
     */
    private flushRemovals(): Promise<unknown> {
        clearTimeout(this.removalTimer);
        this.removalTimer = undefined;
        const keys = this.removals;
        this.removals = [];
        if (keys.length > 0) this.removing = Promise.all([this.removing, ...keys.map((key) => this.db.remove(key).catch(() => false))]);
        return this.removing;
    }

    /** Every event of node `nodeId` still kept, in the order received (per delivery, by index). */
    eventsOf(nodeId: string): StoredEvent[] {
        const found: StoredEvent[] = [];
        for (const { key, value } of this.db.getRange({ start: [nodeId] })) {
            if (key[0] !== nodeId) break;
            found.push(value);
        }
        const order = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
        return found.sort((a, b) => order(a.receivedAt, b.receivedAt) || order(a.deliveryId, b.deliveryId) || a.index - b.index);
    }

    /** How many events are kept (every node). */
    get count(): number {
        return this.db.getCount();
    }

    /** What node `nodeId` sees of the store. */
    forNode(nodeId: string): KeptEvents<Key> {
        // What it receives from now on is on its way already when it recovers the rest.
        const startedAt = new Date().toISOString();
        return {
            put: (events: readonly NewKeptEvent[]) => this.put(events.map((event) => storedEvent(nodeId, event, 1, false))),
            forget: (key: Key) => this.remove(key),
            recover: async () => {
                await this.flushRemovals(); // what a node before this one (a redeploy) handled
                return this.eventsOf(nodeId)
                    .filter((event) => event.receivedAt < startedAt)
                    .map(keptEvent);
            },
            attempted: async (events: readonly KeptEvent<Key>[], attempt: number) => {
                await this.put(events.map((event) => storedEvent(nodeId, event, attempt, false)));
            },
            park: async (events: readonly KeptEvent<Key>[]) => {
                await this.put(events.map((event) => storedEvent(nodeId, event, event.attempts, true)));
                return events.map((event) => event.handle);
            },
            // The store is the runtime's, shared by its nodes: it closes with the runtime.
            close: () => Promise.resolve(),
        };
    }

    async close(): Promise<void> {
        await this.flushRemovals();
        return this.db.close();
    }
}
