/**
 * The delivery log inside Node-RED, once per runtime: the logs of every receiver node, the
 * completion tracking (Node-RED's message hooks, completion-hooks.ts), live updates to the editor's "Webhooks"
 * sidebar tab (RED.comms), and the admin API under httpAdminRoot:
 *
 *   GET  /verified-webhooks/deliveries                  ?node&status&event&since&until&limit&after, newest first, and the total
 *   GET  /verified-webhooks/deliveries/<deliveryId>     with the emitted events
 *   POST /verified-webhooks/deliveries/<deliveryId>/replay
 *   POST /verified-webhooks/deliveries/replay-failed    ?since&until&node[&dryRun]: the failed events not replayed yet
 *
 * Reading needs verified-webhooks.read, replaying verified-webhooks.write.
 */
import type { NodeAPI } from "node-red";
import type { Request, Response } from "express";
import { CompletionTracker, oneLine } from "../log/completion.js";
import { followMessages } from "./completion-hooks.js";
import {
    DeliveryLogs,
    STATUS_FILTERS,
    detailsOf,
    notReplayable,
    replayableEvents,
    summaryOf,
    type LogEntry,
    type LogQuery,
    type StatusFilter,
} from "../log/delivery-log.js";
import { Rejection } from "../receive/provider.js";

/** What a deployed receiver offers the replay routes: emits events of a logged delivery again (their places in it and payloads), returns the replay's delivery id. */
export type Replayer = (entry: LogEntry, events: readonly { index: number; payload: unknown }[]) => string;

export const LIVE_TOPIC = "verified-webhooks/deliveries";
/** Live updates are sent at most this often, each with the deliveries that changed. */
const PUBLISH_INTERVAL_MS = 500;

export interface LogRuntime {
    readonly logs: DeliveryLogs;
    readonly tracker: CompletionTracker;
    /** Deployed receivers, by node id. */
    readonly replayers: Map<string, Replayer>;
    /** A delivery was added or changed: the editor hears of it within PUBLISH_INTERVAL_MS. */
    changed(deliveryId: string): void;
}

const runtimes = new WeakMap<object, LogRuntime>();

/** The log runtime of this Node-RED: created, with its routes and hook, on first use. */
export function deliveryLogRuntime(RED: NodeAPI): LogRuntime {
    let runtime = runtimes.get(RED.httpAdmin);
    if (runtime) return runtime;

    const logs = new DeliveryLogs();
    let changes = 0;
    let timer: NodeJS.Timeout | undefined;
    // Live updates say only how many deliveries changed, never what they hold: Node-RED's comms
    // reach every editor connection, whatever its permissions, so the tab reads what changed
    // through the admin API, which needs verified-webhooks.read.
    const publish = () => {
        timer = undefined;
        if (changes > 0) RED.comms.publish(LIVE_TOPIC, { changed: changes }, false);
        changes = 0;
    };
    const changed = (_deliveryId: string) => {
        changes++;
        if (!timer) {
            timer = setTimeout(publish, PUBLISH_INTERVAL_MS);
            timer.unref?.();
        }
    };
    const tracker = new CompletionTracker(changed);
    runtime = { logs, tracker, replayers: new Map(), changed };
    runtimes.set(RED.httpAdmin, runtime);

    followMessages(RED, tracker);
    registerRoutes(RED, runtime);
    return runtime;
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

/** Emits `entry`'s events again through its node (all of them, or the failed ones not replayed yet). */
export function replay(runtime: LogRuntime, entry: LogEntry, onlyFailed: boolean): { replayOf: string; deliveryId: string; events: number } {
    const summary = summaryOf(entry);
    const why = notReplayable(entry);
    if (why) throw new Rejection(409, `not replayable: ${why}`);
    const replayer = runtime.replayers.get(summary.node);
    if (!replayer) throw new Rejection(409, "not replayable: its node is not deployed");
    const events = replayableEvents(entry, onlyFailed);
    if (events.length === 0) throw new Rejection(409, "not replayable: no failed event left to replay");
    const deliveryId = replayer(entry, events);
    for (const { index } of events) (entry.report.events[index]!.replays ??= []).push(deliveryId);
    runtime.changed(summary.deliveryId);
    return { replayOf: summary.deliveryId, deliveryId, events: events.length };
}

function answerError(res: Response, error: unknown): void {
    if (error instanceof Rejection) {
        res.status(error.status).json({ error: error.reason });
        return;
    }
    res.status(500).json({ error: oneLine(error) });
}

/** Events one Replay failed emits at most; past it the answer says `more` (the rest stay failed, for the next). */
export const MAX_REPLAYED_EVENTS = 10_000;

/**
 * Replay failed: each failed event not replayed yet, oldest first, one delivery per turn of
 * the event loop (a delivery emits up to its batch bound at once), so the deliveries arriving
 * meanwhile are answered; at most MAX_REPLAYED_EVENTS per call.
 */
export async function replayFailed(runtime: LogRuntime, query: LogQuery): Promise<{ replayed: ReturnType<typeof replay>[]; skipped: { deliveryId: string; reason: string }[]; more: boolean }> {
    const replayed: ReturnType<typeof replay>[] = [];
    const skipped: { deliveryId: string; reason: string }[] = [];
    let events = 0;
    let more = false;
    for (const entry of runtime.logs.query(query).reverse()) {
        const waiting = entry.report.events.filter((event) => event.state === "failed" && !event.replays?.length).length;
        if (waiting === 0) continue; // replayed meanwhile
        if (events > 0 && events + waiting > MAX_REPLAYED_EVENTS) {
            more = true;
            break;
        }
        try {
            const result = replay(runtime, entry, true);
            replayed.push(result);
            events += result.events;
        } catch (error) {
            skipped.push({ deliveryId: entry.report.deliveryId, reason: error instanceof Rejection ? error.reason : oneLine(error) });
        }
        await new Promise((resolve) => setImmediate(resolve));
    }
    return { replayed, skipped, more };
}

function registerRoutes(RED: NodeAPI, runtime: LogRuntime): void {
    const read = RED.auth.needsPermission("verified-webhooks.read");
    const write = RED.auth.needsPermission("verified-webhooks.write");
    const { logs } = runtime;

    RED.httpAdmin.get("/verified-webhooks/deliveries", read, (req: Request, res: Response) => {
        try {
            const query = logQueryOf(req.query);
            const found = logs.query(query);
            const last = found[found.length - 1];
            // The total matching, and the cursor of the next page ("load more"), if there may be one.
            res.json({ deliveries: found.map(summaryOf), total: logs.count(query), next: last && found.length === (query.limit ?? 100) ? `${last.time}:${last.report.deliveryId}` : undefined });
        } catch (error) {
            answerError(res, error);
        }
    });

    // Declared before /:id/replay: Express matches in order, and "replay-failed" is no delivery id.
    RED.httpAdmin.post("/verified-webhooks/deliveries/replay-failed", write, (req: Request, res: Response) => {
        let query: LogQuery;
        try {
            const body = (req.body && typeof req.body === "object" ? req.body : {}) as Record<string, unknown>;
            query = logQueryOf({ ...req.query, ...body, status: "failed", limit: 1000 });
        } catch (error) {
            return answerError(res, error);
        }
        if (req.body?.dryRun === true || req.query.dryRun === "true") {
            // What it would replay, for the tab's confirmation: deliveries and events.
            let deliveries = 0;
            let events = 0;
            for (const entry of logs.query(query)) {
                const waiting = entry.report.events.filter((event) => event.state === "failed" && !event.replays?.length).length;
                if (waiting > 0 && !notReplayable(entry) && runtime.replayers.has(entry.report.nodeId)) {
                    deliveries++;
                    events += waiting;
                }
            }
            return void res.json({ deliveries, events: Math.min(events, MAX_REPLAYED_EVENTS), more: events > MAX_REPLAYED_EVENTS });
        }
        void replayFailed(runtime, query).then(
            (result) => res.json(result),
            (error: unknown) => answerError(res, error),
        );
    });

    RED.httpAdmin.get("/verified-webhooks/deliveries/:id", read, (req: Request, res: Response) => {
        const entry = logs.find(String(req.params.id));
        if (!entry) return void res.status(404).json({ error: "no such delivery in the log" });
        res.json(detailsOf(entry));
    });

    RED.httpAdmin.post("/verified-webhooks/deliveries/:id/replay", write, (req: Request, res: Response) => {
        const entry = logs.find(String(req.params.id));
        if (!entry) return void res.status(404).json({ error: "no such delivery in the log" });
        try {
            res.json(replay(runtime, entry, false));
        } catch (error) {
            answerError(res, error);
        }
    });
}
