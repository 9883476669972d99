/**
 * What the flow did with each emitted event, followed along the whole way its message takes:
 * an event is handled once every node that received it, or a copy of it, has completed it;
 * failed once one of them reported an error for it (done(err), node.error(err, msg), a
 * thrown handler); pending while one of them still holds it. Messages are followed by their
 * _msgid, which Node-RED keeps on the copies it makes (a second wire, split, function nodes'
 * results); a node that sends a brand-new message object starts a message of its own, which
 * is not followed.
 *
 * A node holds a message from the moment Node-RED routes it there (or hands it over
 * directly, as link nodes do) until it completes it. A node whose input handler cannot call
 * done() (fewer than three parameters: switch, filter, nodes written before Node-RED 1.0)
 * completes a message when it sends it on, or when its handler has returned and it has
 * nothing of ours still queued: such nodes handle their input in order, so a send releases
 * what it received before, and each turn of the event loop in which it sent nothing releases
 * the oldest message it still holds (switch works through its queue one message a turn).
 *
 * Pure: the Node-RED shell (completion-hooks.ts) feeds it what its message hooks see.
 */
import type { LoggedEvent } from "./delivery-log.js";

/** The holder that emitted the message: released once the emitter's sends are routed. */
const EMITTER = "";

/**
 * A followed message: its event, and who holds it with how many copies. One node at a time on
 * most flows, so that one is kept in two fields and a Map made only for a second; one object a
 * message (a Map, or an object more, per message costs on every delivery).
 */
class Followed {
    private node: string | undefined = undefined;
    private count = 0;
    private others: Map<string, number> | undefined = undefined;
    /** Messages made from it under a _msgid of their own (split's parts), followed as it. */
    derived: string[] | undefined = undefined;

    constructor(
        readonly event: LoggedEvent,
        readonly deliveryId: string,
        /** Told once the event is handled (a kept event is then forgotten). */
        readonly onHandled: (() => void) | undefined,
    ) {}

    add(nodeId: string): void {
        if (this.node === nodeId || this.node === undefined) {
            this.node = nodeId;
            this.count++;
            return;
        }
        (this.others ??= new Map()).set(nodeId, (this.others.get(nodeId) ?? 0) + 1);
    }

    has(nodeId: string): boolean {
        return this.node === nodeId || (this.others?.has(nodeId) ?? false);
    }

    /** Takes one hold of `nodeId` away; false when it held none. */
    remove(nodeId: string): boolean {
        if (this.node === nodeId) {
            if (--this.count === 0) this.node = undefined;
            return true;
        }
        const count = this.others?.get(nodeId);
        if (count === undefined) return false;
        if (count > 1) this.others!.set(nodeId, count - 1);
        else this.others!.delete(nodeId);
        return true;
    }

    get empty(): boolean {
        return this.node === undefined && (this.others === undefined || this.others.size === 0);
    }
}

/** The messages of ours a node that cannot call done() has received and not sent on, oldest first. */
interface QuietNode {
    readonly queue: string[];
    /** It sent one of ours since the last turn's check. */
    sent: boolean;
    checking: boolean;
}

/** The most messages one quiet node is taken to hold: past it, the oldest are released. */
const MAX_QUIET_QUEUE = 10_000;

/** Why an event failed when a deploy stopped the node holding it. */
export const STOPPED_BY_DEPLOY = "stopped by a deploy before it completed";

/** One line, short: what a failing node said, never more. */
export function oneLine(error: unknown): string {
    const text = error instanceof Error ? error.message : typeof error === "string" ? error : String(error);
    return text.replace(/\s+/g, " ").trim().slice(0, 200) || "error";
}

export interface TrackerScheduling {
    /** Runs `task` once the current synchronous routing is over (a microtask). */
    soon(task: () => void): void;
    /** Runs `task` on the next turn of the event loop (setImmediate). */
    nextTurn(task: () => void): void;
}

const DEFAULT_SCHEDULING: TrackerScheduling = { soon: queueMicrotask, nextTurn: (task) => void setImmediate(task) };

export class CompletionTracker {
    private readonly followed = new Map<string, Followed>();
    private readonly quiet = new Map<string, QuietNode>();
    /**
     * Whether routing is followed (Node-RED's message hooks are installed): holders are then
     * added as messages are routed; otherwise only the nodes wired to the receiver are known.
     */
    routing = false;

    /**
     * @param changed called with a delivery's id when one of its events changed state
     * @param maxFollowed messages followed at once: a node that never completes would
     *   otherwise hold its messages' entries forever (the oldest are let go; they stay pending)
     */
    constructor(
        private readonly changed: (deliveryId: string) => void,
        private readonly maxFollowed = 100_000,
        private readonly scheduling: TrackerScheduling = DEFAULT_SCHEDULING,
    ) {}

    get size(): number {
        return this.followed.size;
    }

    /** Whether message `msgid` is followed (cheap: every hook asks it first). */
    follows(msgid: unknown): msgid is string {
        return typeof msgid === "string" && this.followed.has(msgid);
    }

    /**
     * Follows message `msgid` of delivery `deliveryId`. With routing followed, its emitter
     * holds it until emitted() (its send routes it to the next nodes meanwhile); without,
     * the nodes `wiredTo` hold it.
     */
    follow(msgid: string, event: LoggedEvent, deliveryId: string, onHandled: (() => void) | undefined, wiredTo: readonly string[]): void {
        if (!this.routing && wiredTo.length === 0) {
            event.state = "handled"; // nothing is wired: nothing left to do with it
            onHandled?.();
            return;
        }
        if (this.followed.size >= this.maxFollowed) {
            const oldest = this.followed.keys().next();
            if (!oldest.done) this.followed.delete(oldest.value);
        }
        const followed = new Followed(event, deliveryId, onHandled);
        if (this.routing) followed.add(EMITTER);
        else for (const holder of wiredTo) followed.add(holder);
        this.followed.set(msgid, followed);
    }

    /** The emitter has sent message `msgid` (Node-RED routed it to the next nodes meanwhile). */
    emitted(msgid: string): void {
        if (this.routing) this.release(msgid, EMITTER);
    }

    /**
     * Message `msgid`, new, was made from followed message `from` while a node handled it (split
     * gives its parts a _msgid of their own): it is followed as part of the same event.
     */
    derive(msgid: string, from: string): void {
        const followed = this.followed.get(from);
        // Bounded as what is followed is: past it, a part is not followed (its event is handled when the node that made it completes).
        if (!followed || this.followed.has(msgid) || this.followed.size >= this.maxFollowed) return;
        (followed.derived ??= []).push(msgid);
        this.followed.set(msgid, followed);
    }

    /** Stops following messages that will not reach the flow (their delivery was refused after all). */
    forget(msgids: readonly string[]): void {
        for (const msgid of msgids) this.followed.delete(msgid);
    }

    /** Message `msgid` was routed, or handed over, to node `nodeId`: it holds it until it completes it. */
    held(msgid: string, nodeId: string, canComplete: boolean): void {
        const followed = this.followed.get(msgid);
        if (!followed) return;
        followed.add(nodeId);
        if (canComplete) return;
        let quiet = this.quiet.get(nodeId);
        if (!quiet) this.quiet.set(nodeId, (quiet = { queue: [], sent: false, checking: false }));
        quiet.queue.push(msgid);
        if (quiet.queue.length > MAX_QUIET_QUEUE) this.release(quiet.queue.shift()!, nodeId);
    }

    /** Node `nodeId`, which cannot call done(), sent message `msgid` on: once routed, it no longer holds it, nor what it received before. */
    sentBy(msgid: string, nodeId: string): void {
        const quiet = this.quiet.get(nodeId);
        if (!quiet) return;
        const position = quiet.queue.indexOf(msgid);
        if (position < 0) return;
        quiet.sent = true;
        const done = quiet.queue.splice(0, position + 1);
        this.scheduling.soon(() => {
            for (const released of done) this.release(released, nodeId);
            this.forgetQuiet(nodeId, quiet);
        });
    }

    /** The input handler of node `nodeId`, which cannot call done(), returned: what it did not send on, it releases turn by turn. */
    returned(nodeId: string): void {
        const quiet = this.quiet.get(nodeId);
        if (!quiet || quiet.checking || quiet.queue.length === 0) return;
        quiet.checking = true;
        quiet.sent = false;
        const check = () => {
            if (quiet.sent) quiet.sent = false;
            else {
                const oldest = quiet.queue.shift();
                if (oldest !== undefined) this.release(oldest, nodeId);
            }
            if (quiet.queue.length > 0) return this.scheduling.nextTurn(check);
            quiet.checking = false;
            this.forgetQuiet(nodeId, quiet);
        };
        this.scheduling.nextTurn(check);
    }

    private forgetQuiet(nodeId: string, quiet: QuietNode): void {
        if (quiet.queue.length === 0 && !quiet.checking && this.quiet.get(nodeId) === quiet) this.quiet.delete(nodeId);
    }

    /**
     * Node `nodeId` completed message `msgid` (Node-RED's onComplete), with or without an
     * error. `stopping`: it did so while a deploy stopped it (delay and join let go of what
     * they hold that way): the message did not get through, so the event failed there.
     */
    completed(msgid: unknown, nodeId: string, error?: unknown, stopping = false): void {
        if (typeof msgid !== "string") return;
        if (error !== undefined && error !== null) return this.failed(msgid, nodeId, error);
        if (stopping) return this.failed(msgid, nodeId, STOPPED_BY_DEPLOY);
        this.release(msgid, nodeId);
    }

    /** Node `nodeId` reported an error for message `msgid` (node.error(err, msg), done(err), a thrown handler). */
    failed(msgid: unknown, nodeId: string, error: unknown): void {
        if (typeof msgid !== "string") return;
        const followed = this.followed.get(msgid);
        if (!followed || !followed.has(nodeId)) return;
        this.unfollow(msgid, followed);
        followed.event.state = "failed";
        followed.event.error = oneLine(error);
        followed.event.failedAt = nodeId;
        this.changed(followed.deliveryId);
    }

    private unfollow(msgid: string, followed: Followed): void {
        this.followed.delete(msgid);
        if (followed.derived) for (const derived of followed.derived) this.followed.delete(derived);
    }

    private release(msgid: string, nodeId: string): void {
        const followed = this.followed.get(msgid);
        if (!followed) return;
        // Not one of its holders: a node further on, or a second completion.
        if (!followed.remove(nodeId) || !followed.empty) return;
        this.unfollow(msgid, followed);
        followed.event.state = "handled";
        followed.onHandled?.();
        this.changed(followed.deliveryId);
    }
}
