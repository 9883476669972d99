/**
 * The delivery log: every delivery a receiver node answered (accepted, duplicate or
 * rejected) and, for an accepted one, the events it emitted, so that they can be replayed;
 * and what the flow did with each of them (handled, failed, pending). Bounded per node by a
 * number of deliveries, an age and bytes of kept events, the oldest dropped first. Pure:
 * no Node-RED, no timers; the node shell feeds it and the admin routes read it.
 *
 * Never a secret, a signature header or a body: a rejected delivery keeps its one-line
 * reason; an accepted one keeps its validated events (what was emitted), not its bytes.
 */
import type { KeptDelivery } from "../keep/kept-events.js";
import { nonNegativeNumber, positiveNumber } from "../receive/options.js";

/** What the flow did with an emitted event (Node-RED's message completion). */
export type EventState = "pending" | "handled" | "failed";

/** How a delivery was answered. */
export type DeliveryOutcomeKind = "accepted" | "duplicate" | "rejected";

/** A status filter: an outcome, or "failed" (accepted, and an event failed in the flow). */
export type StatusFilter = DeliveryOutcomeKind | "failed";
export const STATUS_FILTERS: readonly StatusFilter[] = ["accepted", "duplicate", "rejected", "failed"];

export interface LoggedEvent {
    /** msg.topic as emitted. */
    readonly name: string;
    /** What tells it apart from others of its name, for people (a WMS session and sequence, an id). */
    readonly key?: string | undefined;
    state: EventState;
    /** Why it failed, one line, as the failing node reported it. */
    error?: string;
    /** The node that reported the failure. */
    failedAt?: string;
    /** The replay deliveries that emitted this event again. */
    replays?: string[];
    /** The replay that handled it, when a replay is how it ended. */
    handledBy?: string;
    /** How many times it was emitted (set from the second on: a redelivery after a deploy or a restart). */
    attempt?: number;
    /** What happened to it before, oldest first: a failure that a redelivery or a replay later handled. */
    history?: EventOutcome[];
}

/** One earlier outcome of an event. */
export interface EventOutcome {
    readonly state: EventState;
    readonly error?: string;
    readonly failedAt?: string;
    readonly attempt?: number;
}

/** The most earlier outcomes kept per event. */
const MAX_HISTORY = 10;

/**
 * Event `event` is emitted again (a redelivery) or ends otherwise (a replay handled it, it was
 * parked): what it was is kept in its history, unless that is what it stays.
 */
export function eventMovesOn(event: LoggedEvent, next: { state: EventState; error?: string; attempt?: number }): void {
    if (event.state === next.state && event.error === next.error && event.attempt === next.attempt) return;
    if (event.state !== "pending" || event.error !== undefined) {
        const before: EventOutcome = { state: event.state, ...(event.error !== undefined ? { error: event.error } : {}), ...(event.failedAt !== undefined ? { failedAt: event.failedAt } : {}), ...(event.attempt !== undefined ? { attempt: event.attempt } : {}) };
        const history = (event.history ??= []);
        history.push(before);
        if (history.length > MAX_HISTORY) history.shift();
    }
    event.state = next.state;
    if (next.error === undefined) delete event.error;
    else event.error = next.error;
    delete event.failedAt;
    if (next.attempt !== undefined) event.attempt = next.attempt;
}

/** A delivery's emitted events as followed through the flow, from emit() until it is answered and logged. */
export interface EmittedEvents {
    readonly events: LoggedEvent[];
    /** Their payloads as JSON, taken before the next nodes could change them. */
    readonly payloads: string[];
    /** The _msgid each left with. */
    readonly msgids: string[];
}

/** What the node shell reports of one delivery; the log adds the rest. */
export interface DeliveryReport {
    readonly deliveryId: string;
    readonly receivedAt: string;
    readonly nodeId: string;
    readonly nodeName: string;
    readonly provider: string;
    readonly remoteAddress: string | undefined;
    /** The HTTP status it was answered with (a replay: 200). */
    readonly status: number;
    readonly reason?: string;
    readonly verified: boolean;
    readonly test: boolean;
    readonly accepted: number;
    readonly duplicates: number;
    readonly rejected: number;
    /** The emitted events, as the flow completes them (the same objects the completion tracker updates). */
    readonly events: readonly LoggedEvent[];
    /** Their payloads as JSON, taken before the flow saw them: what a replay emits. */
    readonly payloads: readonly string[];
    /** Set on a replay: the delivery whose events it emitted again. */
    readonly replayOf?: string | undefined;
    /** Set on events emitted again after a restart or a deploy (kept): how many times they were emitted; updated by each redelivery. */
    attempt?: number | undefined;
    /** The identity of its first new event, and of its first repeated one: a duplicate links to the delivery it repeats. */
    readonly firstNewKey?: string | undefined;
    readonly firstRepeatedKey?: string | undefined;
}

/** A delivery as the admin API lists it: everything but the events' payloads. */
export interface DeliverySummary {
    deliveryId: string;
    receivedAt: string;
    node: string;
    nodeName: string;
    provider: string;
    remoteAddress: string | undefined;
    status: number;
    outcome: DeliveryOutcomeKind;
    reason: string | undefined;
    verified: boolean;
    test: boolean;
    counts: { accepted: number; duplicates: number; rejected: number };
    /** Names of the emitted events. */
    events: string[];
    /** Per emitted event: pending, handled or failed. */
    states: EventState[];
    /** Of the delivery as a whole: failed if any event failed, pending if any is, else handled. */
    flow: EventState | undefined;
    replayOf: string | undefined;
    /** On a delivery that repeated events: the logged delivery that brought them first, if still logged. */
    duplicateOf: string | undefined;
    /** Where its first failed event failed (a node id), and why, one line. */
    failedAt: string | undefined;
    error: string | undefined;
    /** Whether any of its events was replayed by hand, and whether a replay is how one ended (handled). */
    replayed: boolean;
    handledByReplay: boolean;
    /** What tells each emitted event apart from others of its name (a session and sequence, an id). */
    keys: (string | undefined)[];
    /** On events emitted again after a restart: how many times they were emitted (1: the first time). */
    attempt: number | undefined;
    /** Whether its events are kept and can be emitted again. */
    replayable: boolean;
}

/** A delivery with its events, payloads included. */
export interface DeliveryDetails extends DeliverySummary {
    emitted: (LoggedEvent & { payload: unknown })[];
}

/** A logged delivery. */
export interface LogEntry {
    readonly report: DeliveryReport;
    readonly time: number;
    /** Its place in the node's log: the order deliveries were logged in. */
    readonly order: number;
    readonly outcome: DeliveryOutcomeKind;
    /** The report's payloads while kept (undefined when too large to keep). */
    readonly payloads: readonly string[] | undefined;
    readonly bytes: number;
    /** The logged delivery it repeats (a duplicate), when that one is still logged. */
    readonly duplicateOf?: string | undefined;
    /** Its events in the store, while kept (Keep deliveries until handled): a replay that handles one forgets it. */
    kept?: KeptDelivery | undefined;
}

export interface LogLimits {
    /** Deliveries kept per node (0: the node logs nothing). */
    readonly maxDeliveries: number;
    /** How long a delivery is kept. */
    readonly maxAgeMs: number;
    /** Bytes of events kept per node: past it, the oldest deliveries go first. */
    readonly maxBytes: number;
}

/**
 * The fixed bound on what a node's accepted deliveries hold (entries, events' records and
 * payloads, as costOf counts them); the rejected and duplicate ones have their own, so a
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

function outcomeOf(report: DeliveryReport): DeliveryOutcomeKind {
    if (report.status >= 300) return "rejected";
    return report.accepted === 0 && report.duplicates > 0 ? "duplicate" : "accepted";
}

function flowStateOf(events: readonly LoggedEvent[]): EventState | undefined {
    if (events.length === 0) return undefined;
    if (events.some((event) => event.state === "failed")) return "failed";
    return events.some((event) => event.state === "pending") ? "pending" : "handled";
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
 * report, each emitted event's record, and its payload as kept. The constants were measured
 * (heap after 1,000 batches of 432 small events: ~170 bytes an event beyond its payload).
 */
const DELIVERY_COST = 1024;
const EVENT_COST = 200;
function costOf(report: DeliveryReport, payloads: readonly string[] | undefined): number {
    let bytes = DELIVERY_COST + EVENT_COST * report.events.length;
    if (payloads) for (const payload of payloads) bytes += payload.length;
    return bytes;
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

    /** Records a delivery; its events and payloads are kept as given (the tracker updates the events). Returns its entry. */
    add(report: DeliveryReport): LogEntry | undefined {
        if (this.limits.maxDeliveries <= 0) return undefined;
        let payloads: readonly string[] | undefined = report.payloads;
        let bytes = costOf(report, payloads);
        // A delivery larger than the whole bound is logged without its events' payloads.
        if (bytes > this.limits.maxBytes) {
            payloads = undefined;
            bytes = costOf(report, undefined);
        }
        const repeated = report.firstRepeatedKey === undefined ? undefined : this.byFirstKey.get(report.firstRepeatedKey);
        const entry: LogEntry = { report, time: this.now(), order: ++this.added, outcome: outcomeOf(report), payloads, bytes, duplicateOf: repeated?.report.deliveryId };
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

export function summaryOf(entry: LogEntry): DeliverySummary {
    const { report } = entry;
    const failed = report.events.find((event) => event.state === "failed");
    return {
        deliveryId: report.deliveryId,
        receivedAt: report.receivedAt,
        node: report.nodeId,
        nodeName: report.nodeName,
        provider: report.provider,
        remoteAddress: report.remoteAddress,
        status: report.status,
        outcome: entry.outcome,
        reason: report.reason,
        verified: report.verified,
        test: report.test,
        counts: { accepted: report.accepted, duplicates: report.duplicates, rejected: report.rejected },
        events: entry.report.events.map((event) => event.name),
        states: entry.report.events.map((event) => event.state),
        flow: flowStateOf(entry.report.events),
        replayOf: report.replayOf,
        duplicateOf: entry.duplicateOf,
        failedAt: failed?.failedAt,
        error: failed?.error,
        replayed: entry.report.events.some((event) => event.replays !== undefined && event.replays.length > 0),
        handledByReplay: entry.report.events.some((event) => event.handledBy !== undefined),
        keys: entry.report.events.map((event) => event.key),
        attempt: report.attempt,
        replayable: entry.payloads !== undefined && entry.report.events.length > 0,
    };
}

export function detailsOf(entry: LogEntry): DeliveryDetails {
    return {
        ...summaryOf(entry),
        emitted: entry.report.events.map((event, index) => ({ ...event, payload: entry.payloads ? (JSON.parse(entry.payloads[index]!) as unknown) : undefined })),
    };
}

/** Why a delivery cannot be replayed, if it cannot. */
export function notReplayable(entry: LogEntry): string | undefined {
    if (entry.outcome !== "accepted") return `a${entry.outcome === "rejected" ? " rejected" : " duplicate"} delivery emitted nothing`;
    if (entry.report.events.length === 0) return "the delivery emitted no event (filtered out)";
    if (entry.payloads === undefined) return "its events were too large to keep";
    return undefined;
}

/** The events of `entry` to emit again: all, or (onlyFailed) the failed ones not replayed yet. */
export function replayableEvents(entry: LogEntry, onlyFailed: boolean): { index: number; name: string; payload: unknown }[] {
    if (!entry.payloads) return [];
    const payloads = entry.payloads;
    return entry.report.events
        .map((event, index) => ({ event, index }))
        .filter(({ event }) => !onlyFailed || (event.state === "failed" && !event.replays?.length))
        .map(({ event, index }) => ({ index, name: event.name, payload: JSON.parse(payloads[index]!) as unknown }));
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
