/**
 * "Keep deliveries until handled": the events a node acknowledged and the flow has not
 * handled yet, on disk in Node-RED's user directory, so that a crash, a kill -9 or a power
 * cut loses none of them. LMDB (the `lmdb` package: a memory-mapped B+tree with prebuilt
 * binaries for Linux, macOS and Windows): a commit is atomic, and a write cut off by a crash
 * is never seen, so there is no torn record to recover. The writes of one event-loop turn
 * share one transaction and one sync (lmdb-js batches them): concurrent deliveries share a
 * sync (group commit). See bench/stores.js for how it compares.
 */
import { open, type RootDatabase } from "lmdb";

/** One acknowledged event, as kept until the flow has handled it. */
export interface StoredEvent {
    readonly nodeId: string;
    readonly deliveryId: string;
    /** Its place in its delivery (a batch's element). */
    readonly index: number;
    readonly receivedAt: string;
    readonly verified: boolean;
    readonly test: boolean;
    readonly remoteAddress: string | undefined;
    /** The validated event as emitted, JSON. */
    readonly payload: string;
    /** How many times it was emitted. */
    readonly attempts: number;
    /** Given up on after the node's max. attempts: kept, and emitted again only by a replay. */
    readonly parked: boolean;
}

type Key = [string, string, number];

export function keyOf(event: Pick<StoredEvent, "nodeId" | "deliveryId" | "index">): Key {
    return [event.nodeId, event.deliveryId, event.index];
}

/** Handled events are forgotten in batches, this often: their writes then share commits and syncs with the next puts. */
const REMOVE_INTERVAL_MS = 100;

export class DurableStore {
    private removals: Key[] = [];
    private removalTimer: NodeJS.Timeout | undefined;

    private constructor(private readonly db: RootDatabase<StoredEvent, Key>) {}

    /** Opens (creating it if need be) the store in directory `path`. */
    static open(path: string): DurableStore {
        // Synced commits (no noSync, no noMetaSync): a resolved write is on disk.
        return new DurableStore(open<StoredEvent, Key>({ path, encoding: "msgpack", compression: false }));
    }

    /** Writes `events`; resolves once they are synced to disk (with whatever else this turn wrote). */
    async put(events: readonly StoredEvent[]): Promise<void> {
        let last: Promise<boolean> | undefined;
        for (const event of events) last = this.db.put(keyOf(event), event);
        // The flush of the batch these writes joined, taken now: asked for after the commit,
        // `flushed` would be the next batch's, one commit and one sync later.
        const flushed = this.db.flushed;
        await last;
        await flushed;
    }

    /** Forgets an event the flow has handled. Not awaited: a crash before it only means one more redelivery. */
    remove(key: Key): void {
        this.removals.push(key);
        if (!this.removalTimer) {
            this.removalTimer = setTimeout(() => this.flushRemovals(), REMOVE_INTERVAL_MS);
            this.removalTimer.unref?.();
        }
    }

    private flushRemovals(): void {
        this.removalTimer = undefined;
        const keys = this.removals;
        this.removals = [];
        for (const key of keys) this.db.remove(key).catch(() => {});
    }

    /** Forgets every event of a delivery that was refused after all (answered 503: the sender retries). */
    removeDelivery(nodeId: string, deliveryId: string, count: number): void {
        for (let index = 0; index < count; index++) this.remove([nodeId, deliveryId, index]);
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

    close(): Promise<void> {
        clearTimeout(this.removalTimer);
        this.flushRemovals();
        return this.db.close();
    }
}
