/**
 * "Keep deliveries until handled", as one receiver node sees it: where the events it
 * acknowledged and the flow has not handled yet are kept. Two stores implement it: LMDB in
 * Node-RED's user directory (lmdb-store.ts; one instance) and a Redis Stream per endpoint
 * with a consumer group (redis-store.ts; several instances behind one Redis, selected with a
 * webhook-state node). A handle names one kept event in its store.
 */
import type { EventText } from "../receive/record.js";

/** One accepted event, as handed to the store before it is emitted. */
export interface NewKeptEvent {
    readonly deliveryId: string;
    /** Its place in its delivery (a batch's element). */
    readonly index: number;
    readonly receivedAt: string;
    readonly verified: boolean;
    readonly test: boolean;
    readonly remoteAddress: string | undefined;
    /**
     * The event's JSON as received: the bytes of its delivery's body, or of its element of a
     * batch (text from Redis, and from a store an earlier version wrote: its validated event).
     * The event is derived from it again, through the provider's validation, when emitted again.
     */
    readonly payload: EventText;
}

/** A kept event read back: after a restart, or taken over from an instance that stopped. */
export interface KeptEvent<Handle> extends NewKeptEvent {
    readonly handle: Handle;
    /** How many times it was emitted before (this emission not counted). */
    readonly attempts: number;
    /** Given up on after the node's max. attempts: kept, and emitted again only by a replay. */
    readonly parked: boolean;
}

export interface KeptEvents<Handle> {
    /** Keeps `events`; resolves with a handle for each once they would survive a crash. */
    put(events: readonly NewKeptEvent[]): Promise<Handle[]>;
    /** Forgets an event: handled by the flow, or its delivery refused after all. Not awaited. */
    forget(handle: Handle): void;
    /**
     * What this node kept and the flow did not handle, in the order received (its own, after a
     * restart), a page at a time: from the start, then from the cursor each page returns, until
     * it returns none. A delivery is never split across pages.
     */
    pending(cursor?: unknown): Promise<{ events: KeptEvent<Handle>[]; cursor: unknown }>;
    /** Counts emission number `attempt` of `events` durably before they go out again (a crash loop then ends). */
    attempted(events: readonly KeptEvent<Handle>[], attempt: number): Promise<void>;
    /** Gives up on `events`: kept for a replay by hand, never redelivered, nor taken over. */
    park(events: readonly KeptEvent<Handle>[]): Promise<Handle[]>;
    /**
     * Where several instances share the store: `taken` is told of events another instance
     * kept and stopped handling (it died), now this instance's to emit.
     */
    watch?(taken: (events: KeptEvent<Handle>[]) => void): void;
    /** The node stops: pending forgets are written; nothing is read any more. */
    close(): Promise<void>;
}

/** Groups kept events by delivery, in the order received. */
export function byDelivery<Handle>(events: readonly KeptEvent<Handle>[]): KeptEvent<Handle>[][] {
    const groups = new Map<string, KeptEvent<Handle>[]>();
    for (const event of events) {
        const group = groups.get(event.deliveryId);
        if (group) group.push(event);
        else groups.set(event.deliveryId, [event]);
    }
    return [...groups.values()];
}

/** Every page of what `store` holds pending (tests and tools: a node goes page by page). */
export async function allPending<Handle>(store: KeptEvents<Handle>): Promise<KeptEvent<Handle>[]> {
    const all: KeptEvent<Handle>[] = [];
    for (let cursor: unknown = undefined; ; ) {
        const page = await store.pending(cursor);
        all.push(...page.events);
        if (page.cursor === undefined) return all;
        cursor = page.cursor;
    }
}

/**
 * A delivery's kept events, as the node that emitted them holds them: attached to the
 * delivery (and to its log entry, for a replay), by their position in the latest emission.
 */
export interface KeptDelivery {
    /** Per kept event, its place among the events of the delivery's log entry (undefined: in order). */
    readonly places: readonly number[] | undefined;
    /** Its handles in the store (none until the store has them; undefined: forgotten). */
    handles: unknown[];
    /** How many of them are not forgotten yet. */
    remaining: number;
}
