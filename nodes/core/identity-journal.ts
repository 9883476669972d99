/**
 * De-duplication across restarts: every identity an endpoint committed (and every WMS stream's
 * highest position) is also written to LMDB in the user directory, until its expiry, and
 * read back when the endpoint's state is made after a restart. Writes are not awaited (they
 * share lmdb-js's batched commits): a crash can lose the last few milliseconds' identities,
 * so a retry of those is emitted again; a clean stop or a deploy loses none.
 *
 * Bounded as the memory state is: expired entries are pruned when an endpoint is read back and
 * every minute; past the endpoint's bound (plus a quarter), the oldest go first. What is read
 * back is checked like input: an entry of the wrong shape is skipped.
 */
import { randomBytes } from "node:crypto";
import { open, type RootDatabase } from "lmdb";
import type { IdentityJournal, JournalEntry } from "./state.js";

/** [endpoint, expiry (ms), unique id]: an endpoint's entries in the order they expire. */
type Key = [string, number, string];
type Value = { k: string } | { s: string; p: number };

const PRUNE_INTERVAL_MS = 60_000;
const PROCESS_PREFIX = randomBytes(6).toString("hex");

function entryOf(key: unknown, value: unknown): JournalEntry | undefined {
    if (!Array.isArray(key) || typeof key[1] !== "number" || !value || typeof value !== "object") return undefined;
    const expiry = key[1];
    const fields = value as Record<string, unknown>;
    if (typeof fields.k === "string") return { expiry, key: fields.k };
    if (typeof fields.s === "string" && Number.isSafeInteger(fields.p)) return { expiry, stream: fields.s, position: fields.p as number };
    return undefined;
}

export class IdentityJournals {
    private sequence = 0;
    /** Per endpoint: entries on disk (as far as known) and its bound. */
    private readonly endpoints = new Map<string, { count: number; maxEntries: number }>();
    private readonly pruneTimer: NodeJS.Timeout;

    private constructor(private readonly db: RootDatabase<Value, Key>) {
        this.pruneTimer = setInterval(() => {
            for (const scope of this.endpoints.keys()) this.prune(scope);
        }, PRUNE_INTERVAL_MS);
        this.pruneTimer.unref?.();
    }

    static open(path: string): IdentityJournals {
        return new IdentityJournals(open<Value, Key>({ path, encoding: "msgpack", compression: false }));
    }

    /** Endpoint `scope`'s journal, and what it kept (unexpired, oldest first), for at most `maxEntries` identities. */
    for(scope: string, maxEntries: number): { journal: IdentityJournal; entries: () => JournalEntry[] } {
        const endpoint = { count: 0, maxEntries: maxEntries * 2 }; // identities and stream positions
        this.endpoints.set(scope, endpoint);
        const write = (expiry: number, value: Value) => {
            this.db.put([scope, expiry, `${PROCESS_PREFIX}${(this.sequence++).toString(36)}`], value).catch(() => false);
            if (++endpoint.count > endpoint.maxEntries * 1.25 + 1000) this.prune(scope);
        };
        return {
            journal: {
                seen: (key, expiry) => write(expiry, { k: key }),
                highest: (stream, position, expiry) => write(expiry, { s: stream, p: position }),
            },
            entries: () => {
                this.prune(scope);
                const found: JournalEntry[] = [];
                for (const { key, value } of this.db.getRange({ start: [scope, Date.now()], end: [scope, Number.MAX_SAFE_INTEGER] })) {
                    const entry = entryOf(key, value);
                    if (entry) found.push(entry);
                }
                return found;
            },
        };
    }

    /** Drops `scope`'s expired entries, and its oldest past its bound. */
    private prune(scope: string): void {
        const endpoint = this.endpoints.get(scope);
        const now = Date.now();
        let count = 0;
        for (const key of this.db.getKeys({ start: [scope, 0], end: [scope, Number.MAX_SAFE_INTEGER] })) {
            count++;
            void key;
        }
        let excess = endpoint ? Math.max(0, count - endpoint.maxEntries) : 0;
        let removed = 0;
        for (const key of this.db.getKeys({ start: [scope, 0], end: [scope, Number.MAX_SAFE_INTEGER] })) {
            if (!Array.isArray(key)) continue;
            const expired = typeof key[1] !== "number" || key[1] <= now;
            if (!expired && excess <= 0) break;
            if (!expired) excess--;
            this.db.remove(key as Key).catch(() => false);
            removed++;
        }
        if (endpoint) endpoint.count = count - removed;
    }

    async close(): Promise<void> {
        clearInterval(this.pruneTimer);
        await this.db.close();
    }
}
