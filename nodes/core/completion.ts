/**
 * What the flow did with each emitted event, from Node-RED's message completion: an event is
 * handled once every node wired to output 1 has completed it (called done()), failed once
 * one of them reported an error for it (done(err), or node.error(err, msg)), pending until
 * then. Messages are followed by their _msgid, which Node-RED keeps on the copies it makes
 * for a second wire. Pure: the node shell feeds it completions and errors.
 */
import type { LoggedEvent } from "./delivery-log.js";

interface Followed {
    readonly event: LoggedEvent;
    /** The nodes wired to output 1 that have not completed the message yet: one id (most flows), or a set. */
    waiting: string | Set<string>;
    readonly deliveryId: string;
    /** Told once the event is handled (a kept event is then forgotten). */
    readonly onHandled: (() => void) | undefined;
}

/** One line, short: what a failing node said, never more. */
export function oneLine(error: unknown): string {
    const text = error instanceof Error ? error.message : typeof error === "string" ? error : String(error);
    return text.replace(/\s+/g, " ").trim().slice(0, 200) || "error";
}

function waitsFor(followed: Followed, nodeId: string): boolean {
    return typeof followed.waiting === "string" ? followed.waiting === nodeId : followed.waiting.has(nodeId);
}

export class CompletionTracker {
    private readonly followed = new Map<string, Followed>();

    /**
     * @param maxFollowed messages followed at once: a node that never calls done() would
     *   otherwise hold its messages' entries forever (the oldest are let go; they stay pending)
     * @param changed called with a delivery's id when one of its events changed state
     */
    constructor(
        private readonly changed: (deliveryId: string) => void,
        private readonly maxFollowed = 100_000,
    ) {}

    get size(): number {
        return this.followed.size;
    }

    /** Follows message `msgid` of delivery `deliveryId` to the nodes `wiredTo`. */
    follow(msgid: string, wiredTo: readonly string[], event: LoggedEvent, deliveryId: string, onHandled?: () => void): void {
        if (wiredTo.length === 0) {
            event.state = "handled"; // nothing is wired: nothing left to do with it
            onHandled?.();
            return;
        }
        if (this.followed.size >= this.maxFollowed) {
            const oldest = this.followed.keys().next();
            if (!oldest.done) this.followed.delete(oldest.value);
        }
        this.followed.set(msgid, { event, waiting: wiredTo.length === 1 ? wiredTo[0]! : new Set(wiredTo), deliveryId, onHandled });
    }

    /** Stops following messages that will not reach the flow (their delivery was refused after all). */
    forget(msgids: readonly string[]): void {
        for (const msgid of msgids) this.followed.delete(msgid);
    }

    /** Node `nodeId` completed message `msgid` (Node-RED's onComplete), with or without an error. */
    completed(msgid: unknown, nodeId: string, error?: unknown): void {
        if (typeof msgid !== "string") return;
        const followed = this.followed.get(msgid);
        if (!followed || !waitsFor(followed, nodeId)) return;
        if (error !== undefined && error !== null) return this.failed(msgid, nodeId, error);
        if (typeof followed.waiting !== "string") {
            followed.waiting.delete(nodeId);
            if (followed.waiting.size > 0) return;
        }
        this.followed.delete(msgid);
        followed.event.state = "handled";
        followed.onHandled?.();
        this.changed(followed.deliveryId);
    }

    /** Node `nodeId` reported an error for message `msgid` (node.error(err, msg) or done(err)). */
    failed(msgid: unknown, nodeId: string, error: unknown): void {
        if (typeof msgid !== "string") return;
        const followed = this.followed.get(msgid);
        if (!followed || !waitsFor(followed, nodeId)) return;
        this.followed.delete(msgid);
        followed.event.state = "failed";
        followed.event.error = oneLine(error);
        followed.event.failedAt = nodeId;
        this.changed(followed.deliveryId);
    }
}
