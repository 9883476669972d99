/**
 * De-duplication across restarts: every identity an endpoint committed (and every WMS stream's
 * highest position) is also written to LMDB in the user directory, until its expiry, and
 * read back when the endpoint's state is made after a restart.
 *
 * Written in batches, one LMDB record per endpoint every FLUSH_INTERVAL_MS (an array push per
 * identity on the hot path; one write per record measured ~20% of WMS's throughput), and when
 * a node of the endpoint stops (a deploy, a clean stop). So a crash (kill -9, out of memory)
 * forgets at most the identities of its last FLUSH_INTERVAL_MS, and a power cut what the OS
 * had not written; a retry of those is emitted again.
 *
 * Bounded as the memory state is: a record whose newest entry has expired is dropped when the
 * endpoint is read back and every minute; past the endpoint's bound (plus a quarter), the
 * oldest records go. What is read back is checked like input: an entry of the wrong shape is
 * skipped.
 */
import { randomBytes } from "node:crypto";
import { open, type RootDatabase } from "lmdb";
import { privateDirectory } from "../keep/lmdb-store.js";
import type { IdentityJournal, JournalEntry } from "./state.js";

/** [endpoint, the newest expiry in the record (ms), unique id]: an endpoint's records in the order they expire. */
type Key = [string, number, string];
/** [expiry, identity] or [expiry, stream, highest position]. */
type Entry = [number, string] | [number, string, number];

export const FLUSH_INTERVAL_MS = 100;
const PRUNE_INTERVAL_MS = 60_000;
const PROCESS_PREFIX = randomBytes(6).toString("hex");

function entryOf(raw: unknown): JournalEntry | undefined {
    if (!Array.isArray(raw) || !Number.isFinite(raw[0]) || typeof raw[1] !== "string") return undefined;
    const expiry = raw[0] as number;
    if (raw.length === 2) return { expiry, key: raw[1] };
    if (raw.length === 3 && Number.isSafeInteger(raw[2])) return { expiry, stream: raw[1], position: raw[2] as number };
    return undefined;
}

interface Endpoint {
    /** Entries on disk, as far as known. */
    count: number;
    readonly maxEntries: number;
    pending: Entry[];
    newest: number;
}

export class IdentityJournals {
    private sequence = 0;
    private readonly endpoints = new Map<string, Endpoint>();
    private flushTimer: NodeJS.Timeout | undefined;
    /** Closed with the runtime's flows: a state still holding a journal writes nothing more. */
    private closed = false;
    private readonly pruneTimer: NodeJS.Timeout;

    private constructor(private readonly db: RootDatabase<unknown[], Key>) {
        this.pruneTimer = setInterval(() => {
            for (const scope of this.endpoints.keys()) this.prune(scope);
        }, PRUNE_INTERVAL_MS);
        this.pruneTimer.unref?.();
    }

    static open(path: string): IdentityJournals {
        privateDirectory(path);
        return new IdentityJournals(open<unknown[], Key>({ path, encoding: "msgpack", compression: false }));
    }

    /** Endpoint `scope`'s journal, and what it kept (unexpired, oldest first), for at most `maxEntries` identities. */
    for(scope: string, maxEntries: number): { journal: IdentityJournal; entries: () => JournalEntry[] } {
        let endpoint = this.endpoints.get(scope);
        if (!endpoint) this.endpoints.set(scope, (endpoint = { count: 0, maxEntries: maxEntries * 2, pending: [], newest: 0 })); // identities and stream positions
        const add = (entry: Entry) => {
            if (this.closed) return;
            endpoint.pending.push(entry);
            if (entry[0] > endpoint.newest) endpoint.newest = entry[0];
            if (!this.flushTimer) {
                this.flushTimer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
                this.flushTimer.unref?.();
            }
        };
        return {
            journal: {
                seen: (key, expiry) => add([expiry, key]),
                highest: (stream, position, expiry) => add([expiry, stream, position]),
                flush: () => this.flush(),
            },
            entries: () => {
                this.prune(scope);
                const found: JournalEntry[] = [];
                let count = 0;
                const now = Date.now();
                for (const { value } of this.db.getRange({ start: [scope, now], end: [scope, Number.MAX_SAFE_INTEGER] })) {
                    if (!Array.isArray(value)) continue;
                    count += value.length;
                    for (const raw of value) {
                        const entry = entryOf(raw);
                        if (entry && entry.expiry > now) found.push(entry);
                    }
                }
                endpoint.count = count;
                // A record holds entries in the order committed; records overlap a little in time.
                return found.sort((a, b) => a.expiry - b.expiry);
            },
        };
    }

    /** Writes every endpoint's pending entries, one record each; resolves once they are committed. */
    flush(): Promise<unknown> {
        clearTimeout(this.flushTimer);
        this.flushTimer = undefined;
        const writes: Promise<unknown>[] = [];
        for (const [scope, endpoint] of this.endpoints) {
            if (endpoint.pending.length === 0) continue;
            const entries = endpoint.pending;
            endpoint.pending = [];
            writes.push(this.db.put([scope, endpoint.newest, `${PROCESS_PREFIX}${(this.sequence++).toString(36)}`], entries).catch(() => false));
            endpoint.count += entries.length;
            if (endpoint.count > endpoint.maxEntries * 1.25 + 1000) this.prune(scope);
        }
        return Promise.all(writes);
    }

    /** Drops `scope`'s records whose entries have all expired, and its oldest past its bound. */
    private prune(scope: string): void {
        if (this.closed) return;
        const endpoint = this.endpoints.get(scope);
        const now = Date.now();
        let excess = endpoint ? endpoint.count - endpoint.maxEntries : 0;
        for (const { key, value } of this.db.getRange({ start: [scope, 0], end: [scope, Number.MAX_SAFE_INTEGER] })) {
            const size = Array.isArray(value) ? value.length : 0;
            const expired = !Array.isArray(key) || typeof key[1] !== "number" || key[1] <= now;
            if (!expired && excess <= 0) break;
            excess -= size;
            if (endpoint) endpoint.count -= size;
            this.db.remove(key).catch(() => false);
        }
    }

    async close(): Promise<void> {
        clearInterval(this.pruneTimer);
        await this.flush();
        this.closed = true;
        await this.db.close();
    }
}
