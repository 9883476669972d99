/**
 * Emitting logged deliveries again by hand, and the log's queries, as the admin API takes them:
 * checked here, without Node-RED, so that each rule has one home and a unit test.
 */
import { Rejection } from "../receive/provider.js";
import { oneLine } from "./completion.js";
import { notReplayable, replayableEvents, STATUS_FILTERS, summaryOf, type DeliveryLogs, type LogEntry, type LogQuery, type StatusFilter } from "./delivery-log.js";

/** What a deployed receiver offers a replay: emits events of a logged delivery again (their places in it and JSON as recorded), returns the replay's delivery id. */
export type Replayer = (entry: LogEntry, events: readonly { index: number; payload: unknown }[]) => string;

/** What a replay needs of the runtime: the logs, the node that would emit again, and who to tell. */
export interface ReplayTarget {
    readonly logs: DeliveryLogs;
    /** The deployed receiver node `nodeId`'s replayer, if it is deployed. */
    replayerOf(nodeId: string): Replayer | undefined;
    /** A delivery changed: the editor hears of it. */
    changed(deliveryId: string): void;
}

export interface ReplayResult {
    replayOf: string;
    deliveryId: string;
    events: number;
}

/** A time in a query: ISO 8601 or milliseconds since the epoch. */
function timeIn(value: unknown, name: string): number | undefined {
    if (value === undefined || value === "") return undefined;
    const text = String(value);
    const time = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
    if (!Number.isFinite(time)) throw new Rejection(400, `${name} must be an ISO 8601 time or milliseconds since 1970`);
    return time;
}

function stringIn(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}

/** The query of GET /verified-webhooks/deliveries (and of replay-failed), checked. */
export function logQueryOf(query: Record<string, unknown>): LogQuery {
    const status = stringIn(query.status);
    if (status !== undefined && !STATUS_FILTERS.includes(status as StatusFilter)) {
        throw new Rejection(400, `status must be one of ${STATUS_FILTERS.join(", ")}`);
    }
    const limit = query.limit === undefined || query.limit === "" ? undefined : Number(query.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) throw new Rejection(400, "limit must be a whole number from 1 to 1000");
    // The paging cursor: the last delivery listed, as "<ms>:<deliveryId>".
    const after = stringIn(query.after);
    const cursor = after === undefined ? undefined : /^(\d+):(.{1,100})$/.exec(after);
    if (after !== undefined && !cursor) throw new Rejection(400, "after must be <ms since 1970>:<deliveryId>, as the previous page's last delivery");
    return {
        node: stringIn(query.node),
        status: status as StatusFilter | undefined,
        event: stringIn(query.event)?.slice(0, 200),
        since: timeIn(query.since, "since"),
        until: timeIn(query.until, "until"),
        after: cursor ? { time: Number(cursor[1]), deliveryId: cursor[2]! } : undefined,
        limit,
    };
}

/** One page of the log, with the total matching and the cursor of the next page if there may be one. */
export function logPage(logs: DeliveryLogs, query: LogQuery): { deliveries: ReturnType<typeof summaryOf>[]; total: number; next: string | undefined } {
    const found = logs.query(query);
    const last = found[found.length - 1];
    return { deliveries: found.map(summaryOf), total: logs.count(query), next: last && found.length === (query.limit ?? 100) ? `${last.time}:${last.report.deliveryId}` : undefined };
}

/** Emits `entry`'s events again through its node (all of them, or the failed ones not replayed yet). */
export function replay(target: ReplayTarget, entry: LogEntry, onlyFailed: boolean): ReplayResult {
    const summary = summaryOf(entry);
    const why = notReplayable(entry);
    if (why) throw new Rejection(409, `not replayable: ${why}`);
    const replayer = target.replayerOf(summary.node);
    if (!replayer) throw new Rejection(409, "not replayable: its node is not deployed");
    const events = replayableEvents(entry, onlyFailed);
    if (events.length === 0) throw new Rejection(409, "not replayable: no failed event left to replay");
    const deliveryId = replayer(entry, events);
    for (const { index } of events) (entry.report.events[index]!.replays ??= []).push(deliveryId);
    target.changed(summary.deliveryId);
    return { replayOf: summary.deliveryId, deliveryId, events: events.length };
}

/** Events one Replay failed emits at most; past it the answer says `more` (the rest stay failed, for the next). */
export const MAX_REPLAYED_EVENTS = 10_000;

/** The failed events of `entry` not replayed yet. */
function waitingIn(entry: LogEntry): number {
    return entry.report.events.filter((event) => event.state === "failed" && !event.replays?.length).length;
}

/**
 * Replay failed: each failed event not replayed yet, oldest first, one delivery per turn of
 * the event loop (a delivery emits up to its batch bound at once), so the deliveries arriving
 * meanwhile are answered; at most MAX_REPLAYED_EVENTS per call.
 */
export async function replayFailed(target: ReplayTarget, query: LogQuery): Promise<{ replayed: ReplayResult[]; skipped: { deliveryId: string; reason: string }[]; more: boolean }> {
    const replayed: ReplayResult[] = [];
    const skipped: { deliveryId: string; reason: string }[] = [];
    let events = 0;
    let more = false;
    for (const entry of target.logs.query(query).reverse()) {
        const waiting = waitingIn(entry);
        if (waiting === 0) continue; // replayed meanwhile
        if (events > 0 && events + waiting > MAX_REPLAYED_EVENTS) {
            more = true;
            break;
        }
        try {
            const result = replay(target, entry, true);
            replayed.push(result);
            events += result.events;
        } catch (error) {
            skipped.push({ deliveryId: entry.report.deliveryId, reason: error instanceof Rejection ? error.reason : oneLine(error) });
        }
        await new Promise((resolve) => setImmediate(resolve));
    }
    return { replayed, skipped, more };
}

/** What Replay failed would emit now (the tab's confirmation): deliveries and events, and whether it would stop short. */
export function replayFailedPreview(target: ReplayTarget, query: LogQuery): { deliveries: number; events: number; more: boolean } {
    let deliveries = 0;
    let events = 0;
    for (const entry of target.logs.query(query)) {
        const waiting = waitingIn(entry);
        if (waiting > 0 && !notReplayable(entry) && target.replayerOf(entry.report.nodeId)) {
            deliveries++;
            events += waiting;
        }
    }
    return { deliveries, events: Math.min(events, MAX_REPLAYED_EVENTS), more: events > MAX_REPLAYED_EVENTS };
}
