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
import type { KeptEvent, KeptEvents, NewKeptEvent } from "./kept-events.js";
import { privateDirectory } from "./package-files.js";

/** One acknowledged event, as kept on disk until the flow has handled it. */
export interface StoredEvent extends NewKeptEvent {
    readonly endpoint: string;
    /** How many times it was emitted. */
    readonly attempts: number;
    /** Given up on after the node's max. attempts: kept, and emitted again only by a replay. */
    readonly parked: boolean;
    /** When it was parked (parked events age out from then). */
    readonly parkedAt?: string;
}

/**
 * [node, receivedAt, deliveryId, index, payload length]: a node's events in the order received
 * (recovered in pages by range), each key saying what its event weighs (bounds counted from
 * the keys alone, never by loading payloads).
 */
export type Key = [string, string, string, number, number];

export function keyOf(event: Pick<StoredEvent, "endpoint" | "receivedAt" | "deliveryId" | "index" | "payload">): Key {
    return [event.endpoint, event.receivedAt, event.deliveryId, event.index, event.payload.length];
}

/** How much one node may keep: past it a delivery is refused (503), so the sender retries later. */
export interface KeptLimits {
    readonly maxEvents: number;
    /** Bytes of the events' JSON as received (characters, in a store an earlier version wrote). */
    readonly maxBytes: number;
}

export const DEFAULT_KEPT_LIMITS: KeptLimits = { maxEvents: 50_000, maxBytes: 64 * 1024 * 1024 };

/** Parked events are dropped this long after they were received (LMDB) or parked (Redis). */
export const PARKED_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** Events read per page of pending() (a delivery is never split across pages). */
export const PENDING_PAGE_EVENTS = 500;

/** Thrown by a put past the node's bounds. */
export class KeptFull extends Error {}

function storedEvent(endpoint: string, event: NewKeptEvent, attempts: number, parked: boolean, parkedAt?: string): StoredEvent {
    return {
        endpoint,
        deliveryId: event.deliveryId,
        index: event.index,
        receivedAt: event.receivedAt,
        verified: event.verified,
        test: event.test,
        remoteAddress: event.remoteAddress,
        payload: event.payload,
        attempts,
        parked,
        ...(parkedAt ? { parkedAt } : {}),
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

function sameKey(a: readonly unknown[], b: readonly unknown[]): boolean {
    return a.length === b.length && a.every((part, index) => part === b[index]);
}

/** A value read back from disk, checked like input before it is emitted again. */
function isStoredEvent(value: unknown): value is StoredEvent {
    if (!value || typeof value !== "object") return false;
    const event = value as Record<string, unknown>;
    return (
        typeof event.endpoint === "string" &&
        typeof event.deliveryId === "string" &&
        Number.isSafeInteger(event.index) &&
        typeof event.receivedAt === "string" &&
        (typeof event.payload === "string" || event.payload instanceof Uint8Array) &&
        typeof event.verified === "boolean" &&
        typeof event.test === "boolean" &&
        Number.isSafeInteger(event.attempts) &&
        typeof event.parked === "boolean"
    );
}

/** Handled events are forgotten in batches, this often: their writes then share commits and syncs with the next puts. */
const REMOVE_INTERVAL_MS = 100;

export class LmdbStore {
    private removals: Key[] = [];
    private removalTimer: NodeJS.Timeout | undefined;
    private removing: Promise<unknown> = Promise.resolve();

    private constructor(private readonly db: RootDatabase<StoredEvent, Key>) {}

    /** Opens (creating it if need be) the store in directory `path`. */
    static open(path: string): LmdbStore {
        // Synced commits (no noSync, no noMetaSync), the sync overlapping the next commit (lmdb's
        // overlappingSync, its default on Linux): a write is on disk once `flushed` resolves.
        privateDirectory(path);
        return new LmdbStore(open<StoredEvent, Key>({ path, encoding: "msgpack", compression: false }));
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

    /** Every event of endpoint `endpoint` still kept, in the order received (per delivery, by index). For tests and tools: a node reads pages. */
    eventsOf(endpoint: string): StoredEvent[] {
        return this.page(endpoint, undefined, "\uffff", Number.MAX_SAFE_INTEGER).map(({ value }) => value);
    }

    /**
     * The next events of endpoint `endpoint` after `after`, received before `before`, about `limit`
     * of them (the last delivery completed); what does not read back as an event is skipped.
     */
    private page(endpoint: string, after: Key | undefined, before: string, limit: number): { key: Key; value: StoredEvent }[] {
        const found: { key: Key; value: StoredEvent }[] = [];
        for (const { key, value } of this.db.getRange({ start: after ?? [endpoint], end: [endpoint, before] })) {
            if (after && found.length === 0 && sameKey(key, after)) continue;
            if (found.length >= limit && found[found.length - 1]!.key[2] !== key[2]) break;
            if (isStoredEvent(value)) found.push({ key, value });
        }
        return found;
    }

    /** How many events endpoint `endpoint` keeps, and their payloads' length, from its keys alone. */
    private weigh(endpoint: string): { events: number; bytes: number } {
        let events = 0;
        let bytes = 0;
        for (const key of this.db.getKeys({ start: [endpoint], end: [endpoint, "\uffff"] })) {
            events++;
            if (Array.isArray(key) && typeof key[4] === "number") bytes += key[4];
        }
        return { events, bytes };
    }

    /** How many events are kept (every node). */
    get count(): number {
        return this.db.getCount();
    }

    /** What endpoint `endpoint` sees of the store, bounded by `limits`. */
    forEndpoint(endpoint: string, limits: KeptLimits = DEFAULT_KEPT_LIMITS): KeptEvents<Key> {
        // What it receives from now on is on its way already when it recovers the rest.
        const startedAt = new Date().toISOString();
        // What it holds, counted once from the keys, then kept up to date by its puts and forgets.
        let held: { events: number; bytes: number } | undefined;
        const weight = () => (held ??= this.weigh(endpoint));
        return {
            put: (events: readonly NewKeptEvent[]) => {
                const now = weight();
                let bytes = 0;
                for (const event of events) bytes += event.payload.length;
                if (now.events + events.length > limits.maxEvents || now.bytes + bytes > limits.maxBytes) {
                    return Promise.reject(new KeptFull(`kept deliveries full (${limits.maxEvents} events or ${limits.maxBytes} bytes)`));
                }
                now.events += events.length;
                now.bytes += bytes;
                return this.put(events.map((event) => storedEvent(endpoint, event, 1, false))).catch((error: unknown) => {
                    now.events -= events.length;
                    now.bytes -= bytes;
                    throw error;
                });
            },
            forget: (key: Key) => {
                if (held) {
                    held.events--;
                    held.bytes -= key[4];
                }
                this.remove(key);
            },
            pending: async (cursor?: unknown) => {
                await this.flushRemovals(); // what a node before this one (a redeploy) handled
                const page = this.page(endpoint, cursor as Key | undefined, startedAt, PENDING_PAGE_EVENTS);
                // Parked events age out: the bound is for what may still be handled.
                const agedOut = new Date(Date.now() - PARKED_MAX_AGE_MS).toISOString();
                const events: KeptEvent<Key>[] = [];
                for (const { key, value } of page) {
                    if (value.parked && (value.parkedAt ?? value.receivedAt) < agedOut) {
                        this.remove(key);
                        if (held) {
                            held.events--;
                            held.bytes -= key[4];
                        }
                    } else events.push(keptEvent(value));
                }
                return { events, cursor: page.length > 0 ? page[page.length - 1]!.key : undefined };
            },
            attempted: async (events: readonly KeptEvent<Key>[], attempt: number) => {
                await this.put(events.map((event) => storedEvent(endpoint, event, attempt, false)));
            },
            park: async (events: readonly KeptEvent<Key>[]) => {
                const parkedAt = new Date().toISOString();
                await this.put(events.map((event) => storedEvent(endpoint, event, event.attempts, true, parkedAt)));
                return events.map((event) => event.handle);
            },
            // The store closes with the runtime, which Node-RED does not wait for at shutdown: what
            // the node was told to forget is written now, while Node-RED waits for it.
            close: () => this.flushRemovals().then(() => undefined),
        };
    }

    async close(): Promise<void> {
        await this.flushRemovals();
        return this.db.close();
    }
}
