/**
 * Following a delivery's emitted events through the flow: each gets a _msgid of ours, and the
 * completion tracker tells when every node on its way has completed it (handled) or one
 * reported an error (failed); a handled event that is kept is forgotten by the store, and a
 * replay that is handled ends its original's event too.
 */
import type { Node } from "node-red";
import { randomBytes } from "node:crypto";
import type { KeptDelivery } from "../keep/kept-events.js";
import type { CompletionTracker } from "../log/completion.js";
import { eventMovesOn, type EmittedEvents, type LoggedEvent } from "../log/delivery-log.js";
import type { AcceptedDelivery } from "../receive/messages.js";
import { reportErrorsOf } from "./completion-hooks.js";

/**
 * _msgid of the events a receiver emits: this process's random prefix and a counter, 16 hex
 * digits as Node-RED's own; ~50 ns where RED.util.generateId() takes ~600.
 */
const MSGID_PREFIX = randomBytes(4).toString("hex");
let msgCounter = 0;
const nextMsgid = () => MSGID_PREFIX + (msgCounter = (msgCounter + 1) >>> 0).toString(16).padStart(8, "0");

/** What following needs of the outlet. */
export interface Follower<Event> {
    readonly tracker: CompletionTracker;
    /** Whether the node logs its deliveries (a re-emission then updates or marks its entry). */
    readonly logging: boolean;
    /** Whether the node has a store (kept events are forgotten once handled). */
    readonly keeps: boolean;
    /** What tells an event apart from others of its name, for the log's rows. */
    readonly eventKey: ((event: Event) => string | undefined) | undefined;
    /** A kept event was handled: the store forgets it. */
    forget(kept: KeptDelivery, position: number): void;
    /** A log entry changed (the editor hears of it). */
    changed(deliveryId: string): void;
}

/**
 * Follows each emitted event through the flow (by a _msgid of ours). `wiredTo`: the nodes on
 * output 1, for a runtime whose routing cannot be followed.
 */
export function followEvents<Event>(delivery: AcceptedDelivery<Event>, wiredTo: readonly string[], targets: readonly (Node | null)[], outlet: Follower<Event>): void {
    const { tracker } = outlet;
    if (!tracker.routing) {
        for (const target of targets) if (target) reportErrorsOf(target, tracker);
    }
    const { events, replayOf, places } = delivery;
    const deliveryId = delivery.info.deliveryId;
    // Kept events: this delivery's (just kept, or emitted again), or the original's for a replay.
    const entry = outlet.logging ? delivery.entry : undefined;
    const kept = !outlet.keeps ? undefined : replayOf === undefined ? delivery.kept : delivery.entry?.kept;
    const attempt = delivery.attempt;
    // A redelivery updates its delivery's entry; a replay is a delivery of its own, and marks the original's events it handles.
    const updates = replayOf === undefined && attempt !== undefined ? entry : undefined;
    // Arrays of the events' length (pushing onto [] reserves 17 slots: bytes on every delivery).
    const emitted: EmittedEvents = { events: new Array<LoggedEvent>(events.length), msgids: new Array<string>(events.length) };
    events.forEach((message, position) => {
        const msgid = nextMsgid();
        (message as typeof message & { _msgid?: string })._msgid = msgid;
        const at = places ? places[position] : position;
        const earlier = entry && at !== undefined ? entry.report.events[at] : undefined;
        let logged: LoggedEvent;
        if (updates && earlier) {
            logged = earlier;
            eventMovesOn(logged, { state: "pending", attempt });
        } else {
            logged = { name: message.topic, key: outlet.eventKey?.(message.payload), state: "pending" };
        }
        emitted.events[position] = logged;
        emitted.msgids[position] = msgid;
        // A delivery's own kept events are in the order emitted; a replay's are found by their place.
        const keptAt = !kept || at === undefined ? -1 : replayOf === undefined ? position : kept.places ? kept.places.indexOf(at) : at;
        const forget = kept && keptAt >= 0 && kept.handles[keptAt] !== undefined ? () => outlet.forget(kept, keptAt) : undefined;
        // A replay that is handled ends its original's event too (it stays failed otherwise, with the replay listed).
        const original = replayOf !== undefined ? earlier : undefined;
        const onHandled = original
            ? () => {
                  forget?.();
                  eventMovesOn(original, { state: "handled" });
                  original.handledBy = deliveryId;
                  outlet.changed(replayOf!);
              }
            : forget;
        tracker.follow(msgid, logged, deliveryId, onHandled, wiredTo);
    });
    delivery.emitted = emitted;
}
