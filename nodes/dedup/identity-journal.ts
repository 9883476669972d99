/**
 * De-duplication across restarts: every identity an endpoint committed (and every WMS stream's
 * highest position) is also written to LMDB in the user directory, until its expiry, and
 * read back when the endpoint's state is made after a restart.
 *
 * Written in batches, one LMDB record per endpoint every FLUSH_INTERVAL_MS (each identity
 * encoded into the endpoint's pending bytes as it is committed, so nothing of it stays on the
 * JavaScript heap until the flush; one write per record measured ~20% of WMS's throughput), and when
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
import { privateDirectory } from "../keep/package-files.js";
import type { IdentityJournal, JournalEntry } from "./state.js";

/**
 * [endpoint, the newest expiry in the record (ms), unique id, entries in it]: an endpoint's
 * records in the order they expire (a record written by 0.2 has no count).
 */
type Key = [string, number, string] | [string, number, string, number];

export const FLUSH_INTERVAL_MS = 100;
const PRUNE_INTERVAL_MS = 60_000;
const PROCESS_PREFIX = randomBytes(6).toString("hex");

/** An entry of a record written by 0.2 (msgpack): [expiry, identity] or [expiry, stream, highest position]. */
function entryOf(raw: unknown): JournalEntry | undefined {
    if (!Array.isArray(raw) || !Number.isFinite(raw[0]) || typeof raw[1] !== "string") return undefined;
    const expiry = raw[0] as number;
    if (raw.length === 2) return { expiry, key: raw[1] };
    if (raw.length === 3 && Number.isSafeInteger(raw[2])) return { expiry, stream: raw[1], position: raw[2] as number };
    return undefined;
}

/** An entry's first byte: a stream's highest position (else an identity), its text in UTF-16 (else Latin-1). */
const STREAM = 1;
const WIDE = 2;
const NOT_LATIN1 = /[^\u0000-\u00ff]/;
const FIRST_PENDING_BYTES = 16 * 1024;

/**
 * An endpoint's entries not written yet, as bytes: per entry its kind, its expiry (float64),
 * for a stream its position (float64), the text's length in bytes (uint32) and the text, in
 * Latin-1 or, when it has wider characters, UTF-16 (either gives back exactly the string
 * written, unpaired surrogates included).
 */
class PendingEntries {
    private bytes: Buffer | undefined;
    length = 0;
    count = 0;

    add(expiry: number, text: string, position?: number): void {
        const wide = NOT_LATIN1.test(text);
        const size = 1 + 8 + (position === undefined ? 0 : 8) + 4 + text.length * (wide ? 2 : 1);
        let bytes = this.bytes;
        if (!bytes || this.length + size > bytes.length) bytes = this.grow(size);
        let at = this.length;
        bytes[at++] = (position === undefined ? 0 : STREAM) | (wide ? WIDE : 0);
        at = bytes.writeDoubleLE(expiry, at);
        if (position !== undefined) at = bytes.writeDoubleLE(position, at);
        const written = bytes.write(text, at + 4, wide ? "utf16le" : "latin1");
        bytes.writeUInt32LE(written, at);
        this.length = at + 4 + written;
        this.count++;
    }

    /** The bytes so far, handed over (a new buffer takes the next ones). */
    take(): Buffer {
        const taken = this.bytes ? this.bytes.subarray(0, this.length) : Buffer.alloc(0);
        this.bytes = undefined;
        this.length = 0;
        this.count = 0;
        return taken;
    }

    private grow(size: number): Buffer {
        const grown = Buffer.allocUnsafeSlow(Math.max(FIRST_PENDING_BYTES, (this.bytes?.length ?? 0) * 2, this.length + size));
        this.bytes?.copy(grown, 0, 0, this.length);
        return (this.bytes = grown);
    }
}

/** The entries of a record's bytes, checked like input: reading stops at the first that is malformed or cut short. */
function entriesOfBytes(bytes: Uint8Array): JournalEntry[] {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const entries: JournalEntry[] = [];
    let at = 0;
    while (at < buffer.length) {
        const kind = buffer[at]!;
        const stream = (kind & STREAM) !== 0;
        const head = 1 + 8 + (stream ? 8 : 0) + 4;
        if (kind > (STREAM | WIDE) || at + head > buffer.length) break;
        const expiry = buffer.readDoubleLE(at + 1);
        const position = stream ? buffer.readDoubleLE(at + 9) : 0;
        const length = buffer.readUInt32LE(at + head - 4);
        const end = at + head + length;
        if (!Number.isFinite(expiry) || !Number.isSafeInteger(position) || end > buffer.length || ((kind & WIDE) !== 0 && length % 2 !== 0)) break;
        const text = buffer.toString((kind & WIDE) !== 0 ? "utf16le" : "latin1", at + head, end);
        entries.push(stream ? { expiry, stream: text, position } : { expiry, key: text });
        at = end;
    }
    return entries;
}

/**
 * A record's entries, whichever version wrote it; a value of another shape holds none. Read at
 * once: bytes read back may be a view of lmdb's read buffer, valid until the next read.
 */
function recordEntries(value: unknown): JournalEntry[] {
    if (value instanceof Uint8Array) return entriesOfBytes(value);
    if (!Array.isArray(value)) return [];
    const entries: JournalEntry[] = [];
    for (const raw of value) {
        const entry = entryOf(raw);
        if (entry) entries.push(entry);
    }
    return entries;
}

/** How many entries a record of 0.2 (an array) holds; a value of another shape, none. */
function countOf(value: unknown): number {
    return Array.isArray(value) ? value.length : 0;
}

interface Endpoint {
    /** Entries on disk, as far as known. */
    count: number;
    readonly maxEntries: number;
    readonly pending: PendingEntries;
    newest: number;
}

export class IdentityJournals {
    private sequence = 0;
    private readonly endpoints = new Map<string, Endpoint>();
    private flushTimer: NodeJS.Timeout | undefined;
    /** Closed with the runtime's flows: a state still holding a journal writes nothing more. */
    private closed = false;
    private readonly pruneTimer: NodeJS.Timeout;

    private constructor(private readonly db: RootDatabase<unknown, Key>) {
        this.pruneTimer = setInterval(() => {
            for (const scope of this.endpoints.keys()) this.prune(scope);
        }, PRUNE_INTERVAL_MS);
        this.pruneTimer.unref?.();
    }

    static open(path: string): IdentityJournals {
        privateDirectory(path);
        return new IdentityJournals(open<unknown, Key>({ path, encoding: "msgpack", compression: false }));
    }

    /** Endpoint `scope`'s journal, and what it kept (unexpired, oldest first), for at most `maxEntries` identities. */
    for(scope: string, maxEntries: number): { journal: IdentityJournal; entries: () => JournalEntry[] } {
        let endpoint = this.endpoints.get(scope);
        if (!endpoint) this.endpoints.set(scope, (endpoint = { count: 0, maxEntries: maxEntries * 2, pending: new PendingEntries(), newest: 0 })); // identities and stream positions
        const add = (expiry: number, text: string, position?: number) => {
            if (this.closed) return;
            endpoint.pending.add(expiry, text, position);
            if (expiry > endpoint.newest) endpoint.newest = expiry;
            if (!this.flushTimer) {
                this.flushTimer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
                this.flushTimer.unref?.();
            }
        };
        return {
            journal: {
                seen: (key, expiry) => add(expiry, key),
                highest: (stream, position, expiry) => add(expiry, stream, position),
                flush: () => this.flush(),
            },
            entries: () => {
                this.prune(scope);
                const found: JournalEntry[] = [];
                let count = 0;
                const now = Date.now();
                for (const { value } of this.db.getRange({ start: [scope, now], end: [scope, Number.MAX_SAFE_INTEGER] })) {
                    const entries = recordEntries(value);
                    count += entries.length;
                    for (const entry of entries) if (entry.expiry > now) found.push(entry);
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
            const count = endpoint.pending.count;
            if (count === 0) continue;
            const bytes = endpoint.pending.take();
            writes.push(this.db.put([scope, endpoint.newest, `${PROCESS_PREFIX}${(this.sequence++).toString(36)}`, count], bytes).catch(() => false));
            endpoint.count += count;
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
        // Keys only: a record's count is in its key (only a record of 0.2, without one, is read to count it).
        for (const key of this.db.getKeys({ start: [scope, 0], end: [scope, Number.MAX_SAFE_INTEGER] })) {
            const size = Array.isArray(key) && Number.isSafeInteger(key[3]) ? (key[3] as number) : countOf(this.db.get(key));
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
