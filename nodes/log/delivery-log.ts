/**
 * The delivery log: every delivery a receiver node answered (accepted, duplicate or
 * rejected) and, for an accepted one, the events it emitted, so that they can be replayed;
 * and what the flow did with each of them (handled, failed, pending). Bounded per node by a
 * number of deliveries, an age and bytes of kept events, the oldest dropped first. Pure:
 * no Node-RED, no timers; the node shell feeds it and the admin routes read it.
 *
 * Never a secret or a signature header: a rejected delivery keeps its one-line reason, never
 * its body; an accepted one keeps its record (the bytes as verified, and which elements of a
 * batch it emitted), from which its events are derived when read or replayed.
 */
import { nonNegativeNumber, positiveNumber } from "../receive/options.js";
import type { KeptDelivery } from "../keep/kept-events.js";
import { recordBytes, type BodyRecord } from "../receive/record.js";
import { flowStateOf, outcomeOf, type DeliveryReport, type LogEntry, type LoggedEvent, type StatusFilter } from "./log-entry.js";

export * from "./log-entry.js";

export interface LogLimits {
    /** Deliveries kept per node (0: the node logs nothing). */
    readonly maxDeliveries: number;
    /** How long a delivery is kept. */
    readonly maxAgeMs: number;
    /** Bytes of events kept per node: past it, the oldest deliveries go first. */
    readonly maxBytes: number;
}

/**
 * The fixed bound on what a node's accepted deliveries hold (entries, events' states and the
 * bytes of their records, as costOf counts them); the rejected and duplicate ones have their own, so a
 * node's log stays under 18 MiB.
 */
export const LOG_MAX_EVENT_BYTES = 16 * 1024 * 1024;
/** Rejected and duplicate deliveries: 1,000 of about 1 KiB each at most, bounded apart. */
const OTHERS_MAX_BYTES = 2 * 1024 * 1024;
export const DEFAULT_LOG_LIMITS: LogLimits = { maxDeliveries: 1000, maxAgeMs: 24 * 3600 * 1000, maxBytes: LOG_MAX_EVENT_BYTES };

/** The node options that bound its log: deliveries kept (0 turns the log off) and hours. */
export function logLimitsOf(raw: { readonly logDeliveries?: unknown; readonly logHours?: unknown }): LogLimits {
    const deliveries = nonNegativeNumber(raw.logDeliveries) ?? DEFAULT_LOG_LIMITS.maxDeliveries;
    const hours = positiveNumber(raw.logHours, DEFAULT_LOG_LIMITS.maxAgeMs / 3_600_000);
    return { maxDeliveries: Math.floor(deliveries), maxAgeMs: Math.floor(hours * 3_600_000), maxBytes: LOG_MAX_EVENT_BYTES };
}

export interface LogQuery {
    node?: string | undefined;
    status?: StatusFilter | undefined;
    /**
     * What the Webhooks tab's search box holds: deliveries with an event whose name or key
     * starts with it, in any case; a trailing "*" is allowed ("room.*", "MEASUREMENT_*").
     */
    event?: string | undefined;
    /** Only deliveries received at or after this time (ms since the epoch). */
    since?: number | undefined;
    /** Only deliveries received before this time. */
    until?: number | undefined;
    /** Paging: only deliveries older than this one (as listed: newest first). */
    after?: { readonly deliveryId: string; readonly time: number } | undefined;
    limit?: number | undefined;
}

/** The search as entries are compared with it: lower case, without a trailing "*". */
function searchPrefix(search: string): string {
    return search.replace(/\*+$/, "").toLowerCase();
}

/** Whether an event's name or key starts with `prefix` (searchPrefix), in any case. */
function eventMatches(event: LoggedEvent, prefix: string): boolean {
    return event.name.toLowerCase().startsWith(prefix) || (event.key !== undefined && event.key.toLowerCase().startsWith(prefix));
}

/**
 * What a logged delivery holds in memory, as the bytes bound counts it: the entry and its
 * report, each emitted event's state, and the bytes of its record. The constants were measured
 * (heap after 1,000 batches of 432 small events: ~170 bytes an event beyond its payload).
 */
const DELIVERY_COST = 1024;
const EVENT_COST = 200;
function costOf(report: DeliveryReport, record: BodyRecord | undefined): number {
    return DELIVERY_COST + EVENT_COST * report.events.length + (record ? recordBytes(record) : 0);
}

/** Entries in the order logged, the oldest dropped first; compacted now and then, not shifted per delivery. */
class EntryQueue {
    entries: LogEntry[] = [];
    start = 0;
    bytes = 0;

    get size(): number {
        return this.entries.length - this.start;
    }

    push(entry: LogEntry): void {
        this.entries.push(entry);
        this.bytes += entry.bytes;
    }

    /** Drops the oldest past `maxCount`, older than `oldest`, or past `maxBytes`; tells `dropped` of each. */
    trim(maxCount: number, oldest: number, maxBytes: number, dropped: (entry: LogEntry) => void): void {
        const { entries } = this;
        while (this.start < entries.length) {
            const first = entries[this.start]!;
            if (entries.length - this.start <= maxCount && first.time >= oldest && this.bytes <= maxBytes) break;
            this.bytes -= first.bytes;
            dropped(first);
            entries[this.start++] = undefined as never; // let it go now, not at the next compaction
        }
        if (this.start > 1024 && this.start * 2 > entries.length) {
            this.entries = entries.slice(this.start);
            this.start = 0;
        }
    }
}

/**
 * One node's deliveries. Accepted deliveries and the others (rejected, duplicates) are bounded
 * apart: unauthenticated or repeated requests can only push out each other, never a delivery
 * whose events the flow failed or still holds.
 */
export class NodeDeliveryLog {
    private readonly accepted = new EntryQueue();
    private readonly others = new EntryQueue();
    private readonly byId = new Map<string, LogEntry>();
    /** The delivery that brought each identity first (one per delivery: its first new event's). */
    private readonly byFirstKey = new Map<string, LogEntry>();
    private added = 0;

    constructor(
        public limits: LogLimits,
        private readonly now: () => number = Date.now,
    ) {}

    get size(): number {
        return this.accepted.size + this.others.size;
    }

    /** What the bytes bound counts, over both kinds of delivery. */
    get keptBytes(): number {
        return this.accepted.bytes + this.others.bytes;
    }

    /** Records a delivery; its events and record are kept as given (the tracker updates the events). Returns its entry. */
    add(report: DeliveryReport, kept?: KeptDelivery): LogEntry | undefined {
        if (this.limits.maxDeliveries <= 0) return undefined;
        let record = report.record;
        let bytes = costOf(report, record);
        // A delivery larger than the whole bound is logged without its record (not replayable).
        if (bytes > this.limits.maxBytes) {
            record = undefined;
            bytes = costOf(report, undefined);
        }
        const repeated = report.firstRepeatedKey === undefined ? undefined : this.byFirstKey.get(report.firstRepeatedKey);
        const entry: LogEntry = { report, time: this.now(), order: ++this.added, outcome: outcomeOf(report), record, bytes, duplicateOf: repeated?.report.deliveryId, kept };
        (entry.outcome === "accepted" ? this.accepted : this.others).push(entry);
        this.byId.set(report.deliveryId, entry);
        if (report.firstNewKey !== undefined && entry.outcome === "accepted") this.byFirstKey.set(report.firstNewKey, entry);
        this.trim();
        return entry;
    }

    /** Drops the oldest deliveries of each kind past the count, the age or the bytes bound. */
    trim(): void {
        const oldest = this.now() - this.limits.maxAgeMs;
        const unlist = (entry: LogEntry) => {
            if (this.byId.get(entry.report.deliveryId) === entry) this.byId.delete(entry.report.deliveryId);
            const key = entry.report.firstNewKey;
            if (key !== undefined && this.byFirstKey.get(key) === entry) this.byFirstKey.delete(key);
        };
        this.accepted.trim(this.limits.maxDeliveries, oldest, this.limits.maxBytes, unlist);
        this.others.trim(this.limits.maxDeliveries, oldest, OTHERS_MAX_BYTES, unlist);
    }

    find(deliveryId: string): LogEntry | undefined {
        return this.byId.get(deliveryId);
    }

    /** Newest first, as filtered (the two kinds merged by time). */
    *newestFirst(query: LogQuery): Generator<LogEntry> {
        const { accepted, others } = this;
        const prefix = query.event === undefined ? undefined : searchPrefix(query.event);
        let a = accepted.entries.length - 1;
        let o = others.entries.length - 1;
        for (;;) {
            const fromAccepted = a >= accepted.start ? accepted.entries[a]! : undefined;
            const fromOthers = o >= others.start ? others.entries[o]! : undefined;
            if (!fromAccepted && !fromOthers) return;
            let entry: LogEntry;
            if (fromAccepted && (!fromOthers || fromAccepted.order > fromOthers.order)) {
                entry = fromAccepted;
                a--;
            } else {
                entry = fromOthers!;
                o--;
            }
            if (query.since !== undefined && entry.time < query.since) {
                // Older ones follow on this side; the other side may still hold newer ones.
                if (entry === fromAccepted) a = accepted.start - 1;
                else o = others.start - 1;
                continue;
            }
            if (query.until !== undefined && entry.time >= query.until) continue;
            if (query.status === "failed" ? flowStateOf(entry.report.events) !== "failed" : query.status !== undefined && entry.outcome !== query.status) continue;
            if (prefix !== undefined && !entry.report.events.some((event) => eventMatches(event, prefix))) continue;
            yield entry;
        }
    }
}

/** Every node's log in one runtime: the admin API's view across nodes. */
export class DeliveryLogs {
    private readonly logs = new Map<string, NodeDeliveryLog>();

    constructor(private readonly now: () => number = Date.now) {}

    /** The log of node `nodeId`, created on first use; its limits follow the node's latest options. */
    forNode(nodeId: string, limits: LogLimits): NodeDeliveryLog {
        let log = this.logs.get(nodeId);
        if (!log) this.logs.set(nodeId, (log = new NodeDeliveryLog(limits, this.now)));
        log.limits = limits;
        log.trim();
        return log;
    }

    /** Forgets a node's log (the node was removed from the flows). */
    forget(nodeId: string): void {
        this.logs.delete(nodeId);
    }

    find(deliveryId: string): LogEntry | undefined {
        for (const log of this.logs.values()) {
            const entry = log.find(deliveryId);
            if (entry) return entry;
        }
        return undefined;
    }

    /** Newest first across nodes, as filtered (the paging cursor aside). */
    private *matching(query: LogQuery): Generator<LogEntry> {
        const logs = query.node !== undefined ? [this.logs.get(query.node)].filter((log) => log !== undefined) : [...this.logs.values()];
        for (const log of logs) log.trim();
        // Each node's entries are newest first already: merge them.
        const cursors = logs.map((log) => log.newestFirst(query)).map((iterator) => ({ iterator, next: iterator.next() }));
        for (;;) {
            let newest: (typeof cursors)[number] | undefined;
            for (const cursor of cursors) {
                if (cursor.next.done) continue;
                if (!newest || cursor.next.value.time > (newest.next.value as LogEntry).time) newest = cursor;
            }
            if (!newest) return;
            yield newest.next.value as LogEntry;
            newest.next = newest.iterator.next();
        }
    }

    /** Newest first across nodes, as filtered, at most `limit`, after the cursor if any. */
    query(query: LogQuery): LogEntry[] {
        const limit = Math.max(1, Math.min(query.limit ?? 100, 1000));
        const { after } = query;
        let passed = after === undefined;
        const found: LogEntry[] = [];
        for (const entry of this.matching(query)) {
            if (!passed) {
                // Those listed before the cursor (newer, or as new and before it) were on the previous page.
                if (entry.time > after!.time) continue;
                if (entry.time === after!.time) {
                    if (entry.report.deliveryId === after!.deliveryId) passed = true;
                    continue;
                }
                passed = true;
            }
            found.push(entry);
            if (found.length >= limit) break;
        }
        return found;
    }

    /** How many deliveries match (the cursor and the limit aside): the total the tab shows. */
    count(query: LogQuery): number {
        let total = 0;
        for (const _entry of this.matching(query)) total++;
        return total;
    }
}
