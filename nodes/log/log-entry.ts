/**
 * One logged delivery: what the node shell reports of it, the log's entry for it, what the
 * flow did with each of its events (and before, across redeliveries and replays), and how
 * the admin API shows it. Pure.
 */
import type { KeptDelivery } from "../keep/kept-events.js";
import { recordedJson, type BodyRecord } from "../receive/record.js";

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
    /** The _msgid each left with. */
    readonly msgids: string[];
}

/**
 * An event as its node emitted it, derived from its recorded JSON: the provider's validation
 * with the node's options then (the JSON as recorded, if it no longer passes).
 */
export type EventReader = (json: unknown) => unknown;

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
    /** What its emitted events are derived from (the body as verified): what the tab shows and a replay emits. */
    readonly record: BodyRecord | undefined;
    /** Derives an event as the node emitted it from its recorded JSON (the provider's validation, with the node's options then). */
    readonly reader: EventReader | undefined;
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
    /** The report's record while kept (undefined when too large to keep). */
    readonly record: BodyRecord | undefined;
    readonly bytes: number;
    /** The logged delivery it repeats (a duplicate), when that one is still logged. */
    readonly duplicateOf?: string | undefined;
    /** Its events in the store, while kept (Keep deliveries until handled): a replay that handles one forgets it. */
    kept?: KeptDelivery | undefined;
}

export function outcomeOf(report: DeliveryReport): DeliveryOutcomeKind {
    if (report.status >= 300) return "rejected";
    return report.accepted === 0 && report.duplicates > 0 ? "duplicate" : "accepted";
}

export function flowStateOf(events: readonly LoggedEvent[]): EventState | undefined {
    if (events.length === 0) return undefined;
    if (events.some((event) => event.state === "failed")) return "failed";
    return events.some((event) => event.state === "pending") ? "pending" : "handled";
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
        replayable: entry.record !== undefined && entry.report.events.length > 0,
    };
}

/** Each of its events' JSON as recorded, parsed (none when not kept, or no longer readable). */
function jsonOfEntry(entry: LogEntry): unknown[] | undefined {
    if (!entry.record) return undefined;
    try {
        return recordedJson(entry.record);
    } catch {
        return undefined;
    }
}

export function detailsOf(entry: LogEntry): DeliveryDetails {
    const json = jsonOfEntry(entry);
    const read = entry.report.reader ?? ((value: unknown) => value);
    return {
        ...summaryOf(entry),
        emitted: entry.report.events.map((event, index) => ({ ...event, payload: json ? read(json[index]) : undefined })),
    };
}

/** Why a delivery cannot be replayed, if it cannot. */
export function notReplayable(entry: LogEntry): string | undefined {
    if (entry.outcome !== "accepted") return `a${entry.outcome === "rejected" ? " rejected" : " duplicate"} delivery emitted nothing`;
    if (entry.report.events.length === 0) return "the delivery emitted no event (filtered out)";
    if (entry.record === undefined) return "its events were too large to keep";
    return undefined;
}

/**
 * The events of `entry` to emit again (all, or with onlyFailed the failed ones not replayed
 * yet), by their places in it: each as recorded (its JSON, parsed), for the node to accept again.
 */
export function replayableEvents(entry: LogEntry, onlyFailed: boolean): { index: number; name: string; payload: unknown }[] {
    const json = jsonOfEntry(entry);
    if (!json) return [];
    return entry.report.events
        .map((event, index) => ({ event, index }))
        .filter(({ event }) => !onlyFailed || (event.state === "failed" && !event.replays?.length))
        .map(({ event, index }) => ({ index, name: event.name, payload: json[index] }));
}
