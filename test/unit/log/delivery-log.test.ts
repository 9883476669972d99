// The delivery log and the completion tracker alone: bounds, order, filters, what the flow
// did with each event, and what a replay takes.
import assert = require("node:assert/strict");
import {
    DEFAULT_LOG_LIMITS,
    DeliveryLogs,
    NodeDeliveryLog,
    detailsOf,
    eventMovesOn,
    logLimitsOf,
    notReplayable,
    replayableEvents,
    summaryOf,
    type DeliveryReport,
    type LoggedEvent,
} from "../../../nodes/log/delivery-log.js";
import { CompletionTracker, oneLine } from "../../../nodes/log/completion.js";
import { logQueryOf, MAX_REPLAYED_EVENTS, replayFailed, type ReplayTarget } from "../../../nodes/log/replay.js";
import { canComplete } from "../../../nodes/node-red/completion-hooks.js";
import type { BodyRecord } from "../../../nodes/receive/record.js";

let sequence = 0;
/** A report as the node shell makes it: `names` emitted events (pending), or a refusal. */
function report(fields: Partial<DeliveryReport> & { names?: string[] } = {}): DeliveryReport {
    const names = fields.names ?? ["room.started"];
    const refused = (fields.status ?? 200) >= 300;
    const events: LoggedEvent[] = refused ? [] : names.map((name) => ({ name, state: "pending" }));
    return {
        deliveryId: `d-${++sequence}`,
        receivedAt: new Date().toISOString(),
        nodeId: "n1",
        nodeName: "hooks",
        provider: "meshagent",
        remoteAddress: "203.0.113.7",
        status: 200,
        verified: true,
        test: false,
        accepted: events.length,
        duplicates: 0,
        rejected: 0,
        // As received: a batch's body, every element emitted.
        record: { body: Buffer.from(JSON.stringify(events.map((event) => ({ event: event.name, data: { n: sequence } })))), elements: events.map((_event, index) => index) },
        reader: undefined,
        ...fields,
        events: fields.events ?? events,
    };
}

/** The record of events read back from a store: one JSON text each. */
const texts = (...each: string[]): BodyRecord => ({ texts: each });

function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
    let time = start;
    return { now: () => time, advance: (ms) => (time += ms) };
}

describe("delivery log", () => {
    it("links a duplicate to the logged delivery that brought its event first, while that one is logged", () => {
        const log = new NodeDeliveryLog({ ...DEFAULT_LOG_LIMITS, maxDeliveries: 2 });
        const first = report({ firstNewKey: "session-a#0" });
        log.add(first);
        const repeat = report({ names: [], accepted: 0, duplicates: 1, firstRepeatedKey: "session-a#0" });
        log.add(repeat);
        assert.equal(summaryOf(log.find(repeat.deliveryId)!).outcome, "duplicate");
        assert.equal(summaryOf(log.find(repeat.deliveryId)!).duplicateOf, first.deliveryId);
        // Once the first is dropped from the log, a later repeat links to nothing.
        log.add(report());
        log.add(report());
        const late = report({ names: [], accepted: 0, duplicates: 1, firstRepeatedKey: "session-a#0" });
        log.add(late);
        assert.equal(log.find(first.deliveryId), undefined);
        assert.equal(summaryOf(log.find(late.deliveryId)!).duplicateOf, undefined);
    });

    it("lists each emitted event's key beside its name", () => {
        const log = new NodeDeliveryLog(DEFAULT_LOG_LIMITS);
        const added = report({ events: [{ name: "MEASUREMENT_CREATED", key: "s1 #0", state: "pending" }, { name: "MEASUREMENT_CREATED", state: "pending" }] });
        log.add(added);
        assert.deepEqual(summaryOf(log.find(added.deliveryId)!).keys, ["s1 #0", undefined]);
    });

    it("keeps a node's deliveries newest first, and drops the oldest past the count", () => {
        const log = new NodeDeliveryLog({ ...DEFAULT_LOG_LIMITS, maxDeliveries: 3 });
        const ids = Array.from({ length: 5 }, () => {
            const added = report();
            log.add(added);
            return added.deliveryId;
        });
        assert.equal(log.size, 3);
        assert.deepEqual([...log.newestFirst({})].map((entry) => entry.report.deliveryId), ids.slice(2).reverse());
        assert.equal(log.find(ids[0]!), undefined);
    });

    it("stays right across many compactions: the newest kept, the dropped ones gone", () => {
        const log = new NodeDeliveryLog({ ...DEFAULT_LOG_LIMITS, maxDeliveries: 10 });
        const ids = Array.from({ length: 5000 }, () => {
            const added = report();
            log.add(added);
            return added.deliveryId;
        });
        assert.equal(log.size, 10);
        assert.deepEqual([...log.newestFirst({})].map((entry) => entry.report.deliveryId), ids.slice(-10).reverse());
        assert.equal(log.find(ids[4989]!), undefined);
        assert.equal(log.find(ids[4990]!)?.report.deliveryId, ids[4990]);
        const one = new NodeDeliveryLog(DEFAULT_LOG_LIMITS);
        one.add(report());
        assert.equal(log.keptBytes, 10 * one.keptBytes);
    });

    it("finds a delivery logged again under its id (a redelivery) after its first entry is dropped", () => {
        const log = new NodeDeliveryLog({ ...DEFAULT_LOG_LIMITS, maxDeliveries: 2 });
        const first = report();
        log.add(first);
        const again = report({ deliveryId: first.deliveryId, attempt: 2 });
        log.add(again);
        log.add(report()); // the first entry goes
        assert.equal(log.find(first.deliveryId)?.report, again);
    });

    it("drops deliveries older than the age bound, and the oldest past the bytes bound (what they hold in memory)", () => {
        const time = clock();
        const measure = new NodeDeliveryLog(DEFAULT_LOG_LIMITS);
        measure.add(report({ record: texts("x".repeat(4000)) }));
        const cost = measure.keptBytes;
        assert.ok(cost > 4000 + 1000, "the entry and its event's record count, not only the payload");
        const log = new NodeDeliveryLog({ maxDeliveries: 100, maxAgeMs: 60_000, maxBytes: 2.5 * cost }, time.now);
        log.add(report({ record: texts("x".repeat(4000)) }));
        time.advance(30_000);
        log.add(report({ record: texts("y".repeat(4000)) }));
        assert.equal(log.size, 2);
        assert.equal(log.keptBytes, 2 * cost);
        time.advance(10_000);
        log.add(report({ record: texts("z".repeat(4000)) })); // three would pass the bound: the oldest goes
        assert.equal(log.size, 2);
        assert.equal(log.keptBytes, 2 * cost);
        time.advance(55_000); // the second is now 65 s old, the third 55 s
        log.trim();
        assert.equal(log.size, 1);
    });

    it("logs a delivery larger than the whole bound without its events: listed, not replayable", () => {
        const log = new NodeDeliveryLog({ maxDeliveries: 10, maxAgeMs: 60_000, maxBytes: 5000 });
        const big = report({ record: texts("x".repeat(5000)) });
        log.add(big);
        const entry = log.find(big.deliveryId)!;
        assert.equal(summaryOf(entry).replayable, false);
        assert.match(String(notReplayable(entry)), /too large/);
        assert.ok(log.keptBytes < 5000);
    });

    it("holds a node's log to its stated bound in real heap: 1,000 batches of 432 small events stay under 18 MiB", () => {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (!gc) return assert.fail("run with --expose-gc (the suite's .mocharc does)");
        // The records are Buffers, outside the JavaScript heap: both are counted (a Buffer's memory
        // is released by the collection after the one that found it unreachable: two each time).
        const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
        gc();
        gc();
        const before = used();
        const log = new NodeDeliveryLog(DEFAULT_LOG_LIMITS);
        for (let delivery = 0; delivery < 1000; delivery++) {
            const events = Array.from({ length: 432 }, (_, index) => ({ uuid: `u-${delivery}-${index}`, action: "create", location: "Kamen", stations: 1, customerid: index }));
            const record = { body: Buffer.from(JSON.stringify(events)), elements: events.map((_event, index) => index) };
            log.add(report({ names: events.map(() => "create"), record }));
        }
        gc();
        gc();
        const grown = (used() - before) / 1024 / 1024;
        assert.ok(log.keptBytes <= DEFAULT_LOG_LIMITS.maxBytes, "within the bytes bound as counted");
        assert.ok(grown < 18, `the heap grew ${grown.toFixed(1)} MiB`);
    });

    it("rejected and duplicate deliveries, however many, never push out an accepted one the flow failed", () => {
        const log = new NodeDeliveryLog({ ...DEFAULT_LOG_LIMITS, maxDeliveries: 100 });
        const failed = report({ names: ["delete"] });
        log.add(failed);
        failed.events[0]!.state = "failed";
        for (let n = 0; n < 1100; n++) log.add(report({ status: n % 2 ? 401 : 405, reason: "no", names: [] }));
        for (let n = 0; n < 1100; n++) log.add(report({ accepted: 0, duplicates: 1, names: [] }));
        assert.equal(log.find(failed.deliveryId)?.report, failed);
        assert.deepEqual([...log.newestFirst({ status: "failed" })].map((entry) => entry.report.deliveryId), [failed.deliveryId]);
        assert.equal(log.size, 101, "the accepted one and the newest 100 of the others");
        assert.equal([...log.newestFirst({})][0]!.outcome, "duplicate", "newest first across both");
    });

    it("logs nothing when its count is 0 (the log turned off)", () => {
        const log = new NodeDeliveryLog({ ...DEFAULT_LOG_LIMITS, maxDeliveries: 0 });
        log.add(report());
        assert.equal(log.size, 0);
        assert.deepEqual(logLimitsOf({ logDeliveries: "0" }).maxDeliveries, 0);
        assert.deepEqual(logLimitsOf({}), DEFAULT_LOG_LIMITS);
        assert.equal(logLimitsOf({ logDeliveries: "", logHours: "2" }).maxAgeMs, 2 * 3_600_000);
    });

    it("names each delivery's outcome and the flow's state, and filters on them", () => {
        const log = new NodeDeliveryLog(DEFAULT_LOG_LIMITS);
        const accepted = report({ names: ["room.started", "room.ended"] });
        const duplicate = report({ accepted: 0, duplicates: 1, names: [] });
        const rejected = report({ status: 401, reason: "signature does not verify", names: [] });
        for (const added of [accepted, duplicate, rejected]) log.add(added);
        const outcomes = [...log.newestFirst({})].map((entry) => summaryOf(entry).outcome);
        assert.deepEqual(outcomes, ["rejected", "duplicate", "accepted"]);

        const entry = log.find(accepted.deliveryId)!;
        assert.equal(summaryOf(entry).flow, "pending");
        accepted.events[0]!.state = "handled";
        assert.equal(summaryOf(entry).flow, "pending", "one event still pending");
        accepted.events[1]!.state = "failed";
        assert.equal(summaryOf(entry).flow, "failed");
        assert.deepEqual([...log.newestFirst({ status: "failed" })].map((found) => found.report.deliveryId), [accepted.deliveryId]);
        assert.deepEqual([...log.newestFirst({ status: "rejected" })].map((found) => found.report.deliveryId), [rejected.deliveryId]);
        assert.deepEqual([...log.newestFirst({ event: "room.*" })].map((found) => found.report.deliveryId), [accepted.deliveryId]);
        assert.deepEqual([...log.newestFirst({ event: "room.ended" })].length, 1);
        // What one types in the tab's search box: a prefix, in any case, a trailing "*" or not; the key too.
        assert.deepEqual([...log.newestFirst({ event: "ROOM" })].length, 1);
        assert.deepEqual([...log.newestFirst({ event: "room.e*" })].length, 1);
        assert.deepEqual([...log.newestFirst({ event: "oom" })].length, 0, "a prefix, not anywhere in the name");

        const rejectedSummary = summaryOf(log.find(rejected.deliveryId)!);
        assert.equal(rejectedSummary.reason, "signature does not verify");
        assert.equal(rejectedSummary.flow, undefined);
        assert.equal(rejectedSummary.replayable, false);
        assert.ok(!JSON.stringify(detailsOf(log.find(rejected.deliveryId)!)).includes("payload\":{"), "a refusal keeps no body");
    });

    it("merges the nodes' logs newest first, by node, since and until, up to the limit", () => {
        const time = clock();
        const logs = new DeliveryLogs(time.now);
        const added: string[] = [];
        for (let n = 0; n < 6; n++) {
            const nodeId = n % 2 ? "odd" : "even";
            const each = report({ nodeId });
            logs.forNode(nodeId, DEFAULT_LOG_LIMITS).add(each);
            added.push(each.deliveryId);
            time.advance(1000);
        }
        assert.deepEqual(logs.query({}).map((entry) => entry.report.deliveryId), [...added].reverse());
        assert.deepEqual(logs.query({ node: "odd" }).map((entry) => entry.report.deliveryId), [added[5], added[3], added[1]]);
        assert.deepEqual(logs.query({ limit: 2 }).map((entry) => entry.report.deliveryId), [added[5], added[4]]);
        assert.deepEqual(logs.query({ since: 1_000_000 + 4000 }).map((entry) => entry.report.deliveryId), [added[5], added[4]]);
        assert.deepEqual(logs.query({ until: 1_000_000 + 1000 }).map((entry) => entry.report.deliveryId), [added[0]]);
        assert.equal(logs.find(added[2]!)?.report.deliveryId, added[2]);
        logs.forget("even");
        assert.equal(logs.find(added[2]!), undefined);
        assert.deepEqual(logs.query({ node: "nobody" }), []);
    });

    it("pages after the last delivery listed, deliveries of the same millisecond included, and counts every match", () => {
        const time = clock();
        const logs = new DeliveryLogs(time.now);
        const added: string[] = [];
        for (let n = 0; n < 7; n++) {
            const nodeId = n % 2 ? "odd" : "even";
            const each = report({ nodeId });
            logs.forNode(nodeId, DEFAULT_LOG_LIMITS).add(each);
            added.push(each.deliveryId);
            if (n % 3 === 2) time.advance(1000); // three at a time share a millisecond
        }
        const newestFirst = [...added].reverse();
        const pages: string[] = [];
        let after: { time: number; deliveryId: string } | undefined;
        for (;;) {
            const page = logs.query({ limit: 2, after });
            if (page.length === 0) break;
            pages.push(...page.map((entry) => entry.report.deliveryId));
            const last = page[page.length - 1]!;
            after = { time: last.time, deliveryId: last.report.deliveryId };
        }
        assert.deepEqual([...pages].sort(), [...newestFirst].sort(), "every delivery once, none twice");
        assert.equal(new Set(pages).size, added.length);
        assert.equal(logs.count({}), 7);
        assert.equal(logs.count({ node: "odd" }), 3);
    });

    it("gives a replay the recorded events, each element of the body as received: all of them, or the failed ones not replayed yet", () => {
        const log = new NodeDeliveryLog(DEFAULT_LOG_LIMITS);
        const delivery = report({ names: ["a", "b", "c"] });
        log.add(delivery);
        const entry = log.find(delivery.deliveryId)!;
        assert.equal(notReplayable(entry), undefined);
        assert.deepEqual(replayableEvents(entry, false).map((event) => event.index), [0, 1, 2]);
        delivery.events[1]!.state = "failed";
        delivery.events[2]!.state = "failed";
        delivery.events[2]!.replays = ["d-replay"];
        const recorded = JSON.parse(delivery.record!.body!.toString()) as unknown[];
        assert.deepEqual(replayableEvents(entry, true), [{ index: 1, name: "b", payload: recorded[1] }]);
        const details = detailsOf(entry);
        assert.deepEqual(details.emitted[1]!.payload, recorded[1]);
    });

    it("checks the admin API's query", () => {
        assert.deepEqual(logQueryOf({ status: "failed", limit: "50", since: "2026-11-24T10:00:00.000Z", node: "", event: "room.*" }), {
            node: undefined,
            status: "failed",
            event: "room.*",
            since: Date.parse("2026-11-24T10:00:00.000Z"),
            until: undefined,
            after: undefined,
            limit: 50,
        });
        assert.deepEqual(logQueryOf({ after: "1700000000000:d-1" }).after, { time: 1_700_000_000_000, deliveryId: "d-1" });
        assert.throws(() => logQueryOf({ after: "d-1" }), /after must be/);
        assert.equal(logQueryOf({ since: "1700000000000" }).since, 1_700_000_000_000);
        assert.throws(() => logQueryOf({ status: "lost" }), /status must be one of/);
        assert.throws(() => logQueryOf({ limit: "0" }), /limit/);
        assert.throws(() => logQueryOf({ since: "yesterday" }), /since must be/);
    });
});

describe("Replay failed", () => {
    it("emits one delivery per turn of the event loop, oldest first, at most MAX_REPLAYED_EVENTS a call, the rest for the next", async () => {
        const logs = new DeliveryLogs();
        const log = logs.forNode("n1", DEFAULT_LOG_LIMITS);
        const perDelivery = 1000;
        const deliveries = Array.from({ length: 12 }, () => {
            const added = report({ names: Array.from({ length: perDelivery }, () => "delete"), record: texts(...Array.from({ length: perDelivery }, () => "{}")) });
            for (const event of added.events) event.state = "failed";
            log.add(added);
            return added.deliveryId;
        });
        const emitted: string[] = [];
        let turns = 0;
        const runtime: ReplayTarget = {
            logs,
            replayerOf: (nodeId) => (nodeId === "n1" ? (entry) => (emitted.push(entry.report.deliveryId), `replay-${emitted.length}`) : undefined),
            changed: () => {},
        };
        const ticking = setInterval(() => turns++, 0);
        const first = await replayFailed(runtime, { node: "n1" });
        clearInterval(ticking);
        assert.equal(first.replayed.length, MAX_REPLAYED_EVENTS / perDelivery);
        assert.equal(first.more, true);
        assert.deepEqual(emitted, deliveries.slice(0, 10), "oldest first");
        assert.ok(turns > 0, "other work ran between deliveries");
        const second = await replayFailed(runtime, { node: "n1" });
        assert.deepEqual(second.replayed.map((replayed) => replayed.replayOf), deliveries.slice(10));
        assert.equal(second.more, false);
        assert.deepEqual((await replayFailed(runtime, { node: "n1" })).replayed, [], "nothing failed is left unreplayed");
    });
});

describe("which nodes complete their messages themselves", () => {
    it("reads Node-RED's registration of input handlers: done() is the third parameter", () => {
        assert.equal(canComplete({ _inputCallback: (_msg: unknown, _send: unknown, _done: unknown) => {} }), true, "function, change, delay");
        assert.equal(canComplete({ _inputCallback: (_msg: unknown) => {} }), false, "switch, filter, nodes before 1.0");
        assert.equal(canComplete({ _inputCallback: (_msg: unknown, _send: unknown) => {} }), false);
        assert.equal(canComplete({ _inputCallbacks: [(_a: unknown, _b: unknown, _c: unknown) => {}, (_a: unknown, _b: unknown, _c: unknown) => {}], _expectedDoneCount: 2 }), true);
        assert.equal(canComplete({ _inputCallbacks: [(_a: unknown, _b: unknown, _c: unknown) => {}, (_a: unknown) => {}], _expectedDoneCount: 1 }), true, "Node-RED waits for the handlers that take done()");
        assert.equal(canComplete({ _inputCallbacks: [(_a: unknown) => {}, (_a: unknown) => {}], _expectedDoneCount: 0 }), false);
        assert.equal(canComplete({}), false, "no input handler: nothing completes it");
    });
});

describe("an event's fate across redeliveries", () => {
    it("keeps what it was before in its history, once per change, bounded", () => {
        const event: LoggedEvent = { name: "delete", state: "failed", error: "database down", failedAt: "fn" };
        eventMovesOn(event, { state: "pending", attempt: 2 });
        assert.deepEqual(event, { name: "delete", state: "pending", attempt: 2, history: [{ state: "failed", error: "database down", failedAt: "fn" }] });
        eventMovesOn(event, { state: "handled" });
        assert.equal(event.state, "handled");
        assert.equal(event.history!.length, 1, "pending, on its way, is no outcome of its own");
        const parked: LoggedEvent = { name: "delete", state: "failed", error: "parked after 5 attempts" };
        eventMovesOn(parked, { state: "failed", error: "parked after 5 attempts" });
        assert.equal(parked.history, undefined, "parked again at the next start: nothing changed");
        for (let attempt = 2; attempt < 30; attempt++) {
            eventMovesOn(parked, { state: "pending", attempt });
            eventMovesOn(parked, { state: "failed", error: "again", attempt });
        }
        assert.equal(parked.history!.length, 10);
    });
});

describe("completion tracker", () => {
    const pending = (): LoggedEvent => ({ name: "e", state: "pending" });
    /** Scheduling run by hand: microtasks and turns of the event loop, in order. */
    function manualScheduling() {
        const soon: (() => void)[] = [];
        let turns: (() => void)[] = [];
        return {
            scheduling: { soon: (task: () => void) => void soon.push(task), nextTurn: (task: () => void) => void turns.push(task) },
            microtasks: () => soon.splice(0).forEach((task) => task()),
            turn: () => {
                const now = turns;
                turns = [];
                now.forEach((task) => task());
            },
        };
    }
    /** A tracker that follows routing, as inside Node-RED. */
    function routingTracker(changed: (id: string) => void = () => {}) {
        const manual = manualScheduling();
        const tracker = new CompletionTracker(changed, 100, manual.scheduling);
        tracker.routing = true;
        return { tracker, ...manual };
    }

    it("without routing: handled once every node wired to output 1 completed it", () => {
        const changed: string[] = [];
        const tracker = new CompletionTracker((id) => changed.push(id));
        const event = pending();
        tracker.follow("m1", event, "d1", undefined, ["fn", "debug"]);
        tracker.completed("m1", "fn");
        assert.equal(event.state, "pending");
        tracker.completed("m1", "elsewhere"); // a node it was never routed to: not counted
        tracker.completed("m1", "fn"); // twice: not counted twice
        assert.equal(event.state, "pending");
        tracker.completed("m1", "debug");
        assert.equal(event.state, "handled");
        assert.deepEqual(changed, ["d1"]);
        assert.equal(tracker.size, 0);
    });

    it("with routing: handled only once every node on the way completed it, copies included", () => {
        let handled = 0;
        const { tracker } = routingTracker();
        const event = pending();
        tracker.follow("m1", event, "d1", () => handled++, ["ignored"]);
        tracker.held("m1", "change", true);
        tracker.held("m1", "debug", true); // a second wire: a copy
        tracker.emitted("m1");
        tracker.completed("m1", "debug");
        tracker.held("m1", "fn", true); // change sends it on before it completes
        tracker.completed("m1", "change");
        assert.equal(event.state, "pending", "fn holds it");
        tracker.held("m1", "delay", true);
        tracker.held("m1", "delay", true); // split: two parts with the same _msgid
        tracker.completed("m1", "fn");
        tracker.completed("m1", "delay");
        assert.equal(event.state, "pending", "one part still in the delay node");
        tracker.completed("m1", "delay");
        assert.equal(event.state, "handled");
        assert.equal(handled, 1);
        tracker.emitted("m1"); // after the fact: nothing
        assert.equal(handled, 1);
    });

    it("with routing: an event nobody was routed to is handled once emitted", () => {
        const { tracker } = routingTracker();
        const event = pending();
        tracker.follow("m1", event, "d1", undefined, []);
        assert.equal(event.state, "pending");
        tracker.emitted("m1");
        assert.equal(event.state, "handled");
    });

    it("a node that cannot call done() completes what it sends on once routed, and what it drops a turn after its handler returned", () => {
        const { tracker, microtasks, turn } = routingTracker();
        const sent = pending();
        tracker.follow("sent", sent, "d1", undefined, []);
        tracker.held("sent", "switch", false);
        tracker.emitted("sent");
        tracker.sentBy("sent", "switch"); // inside its handler
        tracker.held("sent", "fn", true); // routed on, in the same send
        tracker.returned("switch");
        microtasks();
        assert.equal(sent.state, "pending", "fn holds it");
        tracker.completed("sent", "fn");
        assert.equal(sent.state, "handled");

        const dropped = pending();
        tracker.follow("dropped", dropped, "d2", undefined, []);
        tracker.held("dropped", "switch", false);
        tracker.emitted("dropped");
        tracker.returned("switch");
        assert.equal(dropped.state, "pending");
        turn();
        assert.equal(dropped.state, "handled");
    });

    it("a node that cannot call done() and queues its input (switch) releases one message a turn, or all it received before one it sends", () => {
        const { tracker, microtasks, turn } = routingTracker();
        const events = ["a", "b", "c", "d"].map((msgid) => {
            const event = pending();
            tracker.follow(msgid, event, "d", undefined, []);
            tracker.held(msgid, "switch", false);
            tracker.emitted(msgid);
            tracker.returned("switch"); // queued: its handler returned without sending
            return event;
        });
        const states = () => events.map((event) => event.state).join(",");
        // Turn 1: the switch drops a, then the check releases the oldest it holds.
        turn();
        assert.equal(states(), "handled,pending,pending,pending");
        // Turn 2: it sends b on to a function; the check sees it sent and waits.
        tracker.sentBy("b", "switch");
        tracker.held("b", "fn", true);
        microtasks();
        turn();
        assert.equal(states(), "handled,pending,pending,pending");
        // Turn 3: it sends d on, so c (received before) was dropped.
        tracker.sentBy("d", "switch");
        tracker.held("d", "fn", true);
        microtasks();
        assert.equal(states(), "handled,pending,handled,pending");
        turn();
        tracker.completed("b", "fn");
        tracker.failed("d", "fn", new Error("no"));
        assert.equal(states(), "handled,handled,handled,failed");
    });

    it("marks it failed on done(err) or node.error(err, msg), once, with a one-line reason", () => {
        const tracker = new CompletionTracker(() => {});
        const thrown = pending();
        tracker.follow("m1", thrown, "d1", undefined, ["fn"]);
        tracker.completed("m1", "fn", new Error("database down\n  at line 3"));
        assert.deepEqual(thrown, { name: "e", state: "failed", error: "database down at line 3", failedAt: "fn" });

        const reported = pending();
        tracker.follow("m2", reported, "d2", undefined, ["fn", "debug"]);
        tracker.failed("m2", "fn", "no such user");
        tracker.completed("m2", "fn"); // the function returns after node.error: still failed
        tracker.completed("m2", "debug");
        assert.equal(reported.state, "failed");
        assert.equal(reported.error, "no such user");

        const elsewhere = pending();
        tracker.follow("m3", elsewhere, "d3", undefined, ["fn"]);
        tracker.failed("m3", "unrelated", "its own problem"); // a node that does not hold it
        assert.equal(elsewhere.state, "pending");
    });

    it("handles an event at once when nothing is wired, forgets refused ones, and bounds what it follows", () => {
        const tracker = new CompletionTracker(() => {}, 2);
        const unwired = pending();
        tracker.follow("m0", unwired, "d0", undefined, []);
        assert.equal(unwired.state, "handled");
        const [a, b, c] = [pending(), pending(), pending()];
        tracker.follow("a", a, "d", undefined, ["fn"]);
        tracker.follow("b", b, "d", undefined, ["fn"]);
        tracker.follow("c", c, "d", undefined, ["fn"]); // the oldest is let go: it stays pending
        assert.equal(tracker.size, 2);
        tracker.completed("a", "fn");
        assert.equal(a.state, "pending");
        tracker.forget(["b"]);
        tracker.completed("b", "fn");
        assert.equal(b.state, "pending");
        tracker.completed("c", "fn");
        assert.equal(c.state, "handled");
        tracker.completed(undefined, "fn");
        assert.equal(oneLine({ toString: () => "odd\nerror" }), "odd error");
    });
});
