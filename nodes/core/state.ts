/**
 * De-duplication state kept in memory, bounded in time (the window) and in entries
 * (oldest dropped first), whatever the traffic.
 */

export interface StateLimits {
    /** How long a delivery's identity (or an idle stream) is remembered, in ms. */
    readonly windowMs: number;
    /** The most identities (or streams) remembered at once. */
    readonly maxEntries: number;
}

/**
 * Identities seen within the window. A Map iterates in insertion order, and every entry
 * lives the same time, so the oldest entries are always at the front.
 */
export class SeenWindow {
    private readonly expiries = new Map<string, number>();

    constructor(private readonly limits: StateLimits, private readonly now: () => number = Date.now) {}

    get size(): number {
        return this.expiries.size;
    }

    /** Records `key`; false when it was already seen within the window. */
    claim(key: string): boolean {
        const now = this.now();
        this.evict(now);
        const expiry = this.expiries.get(key);
        if (expiry !== undefined && expiry > now) return false;
        this.expiries.delete(key);
        this.expiries.set(key, now + this.limits.windowMs);
        return true;
    }

    private evict(now: number): void {
        for (const [key, expiry] of this.expiries) {
            if (expiry > now && this.expiries.size < this.limits.maxEntries) break;
            this.expiries.delete(key);
        }
    }
}

export type StreamObservation =
    | { readonly duplicate: true }
    | { readonly duplicate: false; readonly missing: number[]; readonly missingCount: number };

interface StreamState {
    highest: number;
    /** Positions skipped so far and not yet seen; capped, so a huge jump cannot exhaust memory. */
    missing: Set<number>;
    expiry: number;
}

/** The most skipped positions listed per message and remembered per stream. */
export const MAX_MISSING_LISTED = 1000;

/**
 * Positions seen per stream (WMS: sequence numbers per session). A position seen before
 * is a duplicate; a jump reports the skipped positions; a late one fills its gap.
 */
export class SequenceTracker {
    private readonly streams = new Map<string, StreamState>();

    constructor(private readonly limits: StateLimits, private readonly now: () => number = Date.now) {}

    get size(): number {
        return this.streams.size;
    }

    observe(stream: string, position: number): StreamObservation {
        const now = this.now();
        const state = this.streams.get(stream);
        if (state) this.streams.delete(stream); // re-inserted below: most recently used last
        this.evict(now);
        const current = state && state.expiry > now ? state : { highest: -1, missing: new Set<number>(), expiry: 0 };
        current.expiry = now + this.limits.windowMs;
        this.streams.set(stream, current);

        if (position > current.highest) {
            const missingCount = position - current.highest - 1;
            const missing: number[] = [];
            for (let skipped = current.highest + 1; skipped < position && missing.length < MAX_MISSING_LISTED; skipped++) {
                missing.push(skipped);
                if (current.missing.size < MAX_MISSING_LISTED) current.missing.add(skipped);
            }
            current.highest = position;
            return { duplicate: false, missing, missingCount };
        }
        if (current.missing.delete(position)) return { duplicate: false, missing: [], missingCount: 0 };
        return { duplicate: true };
    }

    private evict(now: number): void {
        for (const [stream, state] of this.streams) {
            if (state.expiry > now && this.streams.size < this.limits.maxEntries) break;
            this.streams.delete(stream);
        }
    }
}
