/**
 * De-duplication state. A delivery reserves the identities of its events at once: each is
 * new (reserved for this delivery), busy (another delivery, maybe on another Node-RED,
 * holds it right now) or seen (delivered before, within the window). After the answer the
 * reservation is committed; if the delivery is not acknowledged after all, it is released,
 * so the sender's retry is not mistaken for a duplicate.
 *
 * The in-memory store is bounded in time (the window) and in entries (oldest dropped first),
 * whatever the traffic. A shared store (Redis) implements the same contract.
 */
import type { KeptEvents } from "../keep/kept-events.js";
import { ExpiringKeys } from "./expiring-keys.js";

export interface StateLimits {
    /** How long a delivery's identity (or a stream's highest position) is remembered, in ms. */
    readonly windowMs: number;
    /** The most identities (and streams) remembered at once. */
    readonly maxEntries: number;
}

export interface Identity {
    /** Identifies the event within the receiver's scope. */
    readonly key: string;
    /** For an ordered stream (WMS sequences): the stream and the event's position in it. */
    readonly stream?: { readonly name: string; readonly position: number };
    /** Remembered at least until then (ms since 1970): a copy could pass the time check until then. */
    readonly until?: number;
}

export type IdentityStatus = "new" | "busy" | "seen";

export interface Reservation {
    readonly statuses: readonly IdentityStatus[];
    /** Per identity with a stream: the highest position seen before this delivery (-1: none). */
    readonly previousHighest: readonly (number | undefined)[];
    /** The delivery was acknowledged: keep its identities for the window. */
    commit(): void;
    /** The delivery was not acknowledged: forget what it reserved. */
    release(): void | Promise<void>;
}

/** The de-duplication state of a node: reserves identities, remembers them for the window (in memory, or shared in Redis). */
export interface DedupState {
    reserve(scope: string, identities: readonly Identity[]): Reservation | Promise<Reservation>;
}

/** What a receiver node asks of the shared-state config node it selects. */
export interface SharedStateNode {
    stateFor(limits: StateLimits): DedupState;
    /** Where the receiver of endpoint `scope` keeps deliveries until handled, shared by the instances. */
    keptEventsFor(scope: string): KeptEvents<string>;
}

/**
 * Where an endpoint's committed identities are also written, so that they outlive the
 * process (a restart): read back when the endpoint's state is made, each until its expiry.
 */
export interface IdentityJournal {
    seen(key: string, expiry: number): void;
    highest(stream: string, position: number, expiry: number): void;
    /** Writes what it holds back; resolves once it is on disk. */
    flush(): Promise<unknown>;
}

export type JournalEntry = { readonly expiry: number } & ({ readonly key: string } | { readonly stream: string; readonly position: number });

/**
 * State of one endpoint in one Node-RED process. Synchronous: a reservation is made and
 * decided within one turn of the event loop, so no other delivery can interleave. It belongs
 * to the endpoint, not to a node object (EndpointStates), so a redeploy keeps it.
 */
export class MemoryState implements DedupState {
    /** Identities remembered (their value: 1). */
    private readonly seen: ExpiringKeys;
    /** Each stream's highest position. */
    private readonly highest: ExpiringKeys;

    constructor(
        limits: StateLimits,
        private readonly now: () => number = Date.now,
        private readonly journal?: IdentityJournal,
    ) {
        this.seen = new ExpiringKeys(limits);
        this.highest = new ExpiringKeys(limits);
    }

    get size(): number {
        return this.seen.size + this.highest.size;
    }

    /** A redeployed node's window and bound apply from now on (what is remembered keeps its expiry). */
    set limits(limits: StateLimits) {
        this.seen.limits = limits;
        this.highest.limits = limits;
    }

    /** Takes back what a journal kept (oldest first), each until its own expiry. */
    restore(entries: Iterable<JournalEntry>): void {
        const now = this.now();
        for (const entry of entries) {
            if (entry.expiry <= now) continue;
            if ("key" in entry) this.seen.set(entry.key, 1, now, entry.expiry);
            else this.highest.set(entry.stream, Math.max(this.highest.get(entry.stream, now) ?? -1, entry.position), now, entry.expiry);
        }
    }

    /**
     * A memory store belongs to one endpoint: the scope names nothing here. Arrays of the
     * identities' length, nothing per identity: a reservation is made for every delivery.
     */
    reserve(_scope: string, identities: readonly Identity[]): Reservation {
        const now = this.now();
        const count = identities.length;
        const statuses = new Array<IdentityStatus>(count);
        const previousHighest = new Array<number | undefined>(count);
        /** Per new identity: until when it is remembered, and its stream's highest position after it. */
        const expiries = new Array<number>(count);
        const highestAfter = new Array<number>(count);
        const windowEnd = now + this.seen.limits.windowMs;
        for (let index = 0; index < count; index++) {
            const { key, stream, until } = identities[index]!;
            const expiry = until !== undefined && until > windowEnd ? until : windowEnd;
            if (!this.seen.add(key, 1, now, expiry)) {
                statuses[index] = "seen";
                previousHighest[index] = undefined;
                continue;
            }
            statuses[index] = "new";
            expiries[index] = expiry;
            if (stream) {
                const previous = this.highest.raise(stream.name, stream.position, now) ?? -1;
                highestAfter[index] = Math.max(previous, stream.position);
                previousHighest[index] = previous;
            } else {
                previousHighest[index] = undefined;
            }
        }
        const journal = this.journal;
        return {
            statuses,
            previousHighest,
            commit: journal
                ? () => {
                      for (let index = 0; index < count; index++) {
                          if (statuses[index] !== "new") continue;
                          const { key, stream } = identities[index]!;
                          journal.seen(key, expiries[index]!);
                          if (stream) journal.highest(stream.name, highestAfter[index]!, windowEnd);
                      }
                  }
                : NOTHING_TO_COMMIT,
            release: () => {
                for (let index = 0; index < count; index++) if (statuses[index] === "new") this.seen.delete(identities[index]!.key);
            },
        };
    }
}

const NOTHING_TO_COMMIT = (): void => {};

/** How long an endpoint no node serves any more keeps its state (a node re-added in that time finds it). */
const ORPHAN_GRACE_MS = 10 * 60 * 1000;

/**
 * The de-duplication state of every endpoint (provider and path) of one runtime: what a node
 * saw outlives the node object, so a retry after a full deploy is still a duplicate. Each
 * endpoint's state is bounded as before; one no node uses is dropped after its window.
 */
export class EndpointStates {
    private readonly states = new Map<string, { state: MemoryState; users: number; timer?: NodeJS.Timeout; journal?: IdentityJournal }>();

    constructor(private readonly journalFor?: (scope: string) => { journal: IdentityJournal; entries: () => Iterable<JournalEntry> } | undefined) {}

    /** The state of endpoint `scope`, made (and read back from its journal) on first use. */
    acquire(scope: string, limits: StateLimits): MemoryState {
        let held = this.states.get(scope);
        if (held) {
            clearTimeout(held.timer);
            held.timer = undefined;
            held.state.limits = limits;
        } else {
            const journaled = this.journalFor?.(scope);
            const state = new MemoryState(limits, Date.now, journaled?.journal);
            if (journaled) state.restore(journaled.entries());
            this.states.set(scope, (held = { state, users: 0, journal: journaled?.journal }));
        }
        held.users++;
        return held.state;
    }

    /**
     * A node of endpoint `scope` stopped; the last one leaves the state for a node that may come
     * back. Resolves once what the journal held is on disk (a deploy or a clean stop loses none).
     */
    release(scope: string, windowMs: number): Promise<unknown> {
        const held = this.states.get(scope);
        if (!held) return Promise.resolve();
        if (--held.users <= 0) {
            held.timer = setTimeout(() => this.states.get(scope) === held && held.users === 0 && this.states.delete(scope), Math.min(windowMs, ORPHAN_GRACE_MS));
            held.timer.unref?.();
        }
        return held.journal?.flush() ?? Promise.resolve();
    }
}

/** The most skipped positions listed in one message. */
export const MAX_MISSING_LISTED = 1000;

/** Positions skipped between the highest seen before and this one (none for a late event). */
export function skippedPositions(previousHighest: number, position: number): { missing: number[]; missingCount: number } {
    if (position <= previousHighest + 1) return { missing: [], missingCount: 0 };
    const missingCount = position - previousHighest - 1;
    const missing: number[] = [];
    for (let skipped = previousHighest + 1; skipped < position && missing.length < MAX_MISSING_LISTED; skipped++) {
        missing.push(skipped);
    }
    return { missing, missingCount };
}
