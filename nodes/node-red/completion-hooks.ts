/**
 * Feeds the completion tracker from Node-RED's message hooks, once per runtime: who a message
 * of ours is routed to and by whom (preDeliver), handed to directly (onReceive), whose
 * handler returned (postReceive), who completed it (onComplete); and node.error(err, msg),
 * which Node-RED routes to catch nodes rather than to a hook, from every node that holds one.
 * Every other message costs each hook a Map lookup.
 */
import type { Node, NodeAPI } from "node-red";
import type { CompletionTracker } from "../log/completion.js";

/**
 * Marks Node-RED's message objects carry while one of ours is followed: the _msgid a held
 * message arrived with (split deletes it before it completes the message), and that it was
 * routed to its node (its onReceive is then the same hold, not another). Properties, not a
 * WeakMap and a WeakSet: those cost ~0.9 µs a message, mostly in the garbage collector.
 */
const ARRIVED_AS = Symbol("verified-webhooks.arrived-as");
const ROUTED = Symbol("verified-webhooks.routed");
type Marks = { [ARRIVED_AS]?: string; [ROUTED]?: boolean };
type Msg = ({ _msgid?: unknown } & Marks) | null | undefined;

/** The _msgid a held message arrived with. */
const arrivedAs = (msg: Marks): string | undefined => msg[ARRIVED_AS];
interface NodeRef {
    id?: string;
    node?: Node;
}
interface SendEvent {
    msg: Msg;
    source?: NodeRef;
    destination?: NodeRef;
}
interface ReceiveEvent {
    msg: Msg;
    destination?: NodeRef;
}
interface CompleteEvent {
    msg?: Msg;
    node?: NodeRef;
    error?: unknown;
}

/** The slice of Node-RED's Node this module reads: how its input handlers were registered. */
interface InputHandlers {
    _inputCallback?: ((...args: unknown[]) => unknown) | null;
    _inputCallbacks?: ((...args: unknown[]) => unknown)[] | null;
    _expectedDoneCount?: number;
}

const HOOK_LABEL = "verified-webhooks";
/** Input handlers running inside one another (synchronous delivery, link nodes): more is a leak. */
const MAX_NESTED_HANDLERS = 64;

interface StopEvent {
    type?: string;
    diff?: { changed?: string[]; removed?: string[] };
}

/**
 * Which nodes a deploy may stop: on a "nodes" deploy the changed and removed ones; on any
 * other (full, flows, a restart) every node is taken as stopped, which at worst fails an
 * event that a running node completed meanwhile (kept ones are then emitted again).
 */
function stoppedBy(event: StopEvent): (nodeId: string) => boolean {
    const { type, diff } = event;
    if (type !== "nodes" || !diff) return () => true;
    const stopped = new Set([...(diff.changed ?? []), ...(diff.removed ?? [])]);
    return (nodeId) => stopped.has(nodeId);
}
const ERROR_REPORTING = Symbol("verified-webhooks.error-reporting");
/** Whether a node instance completes its messages, read once (its handlers do not change while it runs): a property, not a WeakMap lookup per message. */
const COMPLETES = Symbol("verified-webhooks.completes");
type CompletesMark = { [COMPLETES]?: boolean };

function completesItself(node: Node): boolean {
    const marked = node as Node & CompletesMark;
    return (marked[COMPLETES] ??= canComplete(node));
}

/**
 * Whether `node` completes its messages itself: Node-RED passes done() as the third argument
 * and completes a message only when it is called (by every handler that takes it).
 */
export function canComplete(node: object): boolean {
    const handlers = node as InputHandlers;
    if (handlers._inputCallback) return handlers._inputCallback.length >= 3;
    // Several handlers: Node-RED completes once every handler that takes done() has called it.
    if (handlers._inputCallbacks) return (handlers._expectedDoneCount ?? 0) > 0;
    return false; // no input handler: nothing will complete it
}

/**
 * Makes `target` report node.error(err, msg) for the messages the tracker follows: Node-RED
 * routes such an error to catch nodes, not to the onComplete hook. Done once per node instance.
 */
export function reportErrorsOf(target: Node, tracker: CompletionTracker): void {
    const instance = target as Node & { [ERROR_REPORTING]?: true };
    if (instance[ERROR_REPORTING]) return;
    const original = instance.error;
    instance.error = function (this: Node, logMessage: unknown, msg?: Msg) {
        if (msg && typeof msg === "object") tracker.failed(arrivedAs(msg) ?? msg._msgid, this.id, logMessage);
        return original.call(this, logMessage, msg as never);
    } as Node["error"];
    instance[ERROR_REPORTING] = true;
}

/** Follows messages of ours through the flows from Node-RED's message hooks, into one tracker. */
export class MessageFollower {
    /**
     * The followed messages whose input handlers are running, innermost last (node ids and
     * _msgids side by side: no object per message): what a node sends meanwhile derives from them.
     */
    private readonly handlingNodes: string[] = [];
    private readonly handlingMsgids: string[] = [];
    /** Between a deploy's flows:stopping and its flows:started: the nodes it stops complete what they hold without having handled it. */
    private stopping: ((nodeId: string) => boolean) | undefined;

    constructor(private readonly tracker: CompletionTracker) {}

    /**
     * Installs the hooks. Returns false where the runtime has no hooks (a test harness): the
     * tracker then knows only the receivers' wires.
     */
    install(RED: NodeAPI): boolean {
        const hooks = RED.hooks as NodeAPI["hooks"] | undefined;
        if (!hooks?.add) return false;
        const add = (hook: string, listener: (event: never) => void) => {
            hooks.remove(`${hook}.${HOOK_LABEL}`);
            hooks.add(`${hook}.${HOOK_LABEL}` as "onComplete", listener as never);
        };
        // preDeliver sees each message as it is routed to a node: sent on by a node that cannot call
        // done(), made from one of ours (split's parts), held by its destination. (No onSend hook:
        // every hook costs each message of the runtime a turn through Node-RED's hook machinery.)
        add("preDeliver", this.routedTo);
        add("onReceive", this.received);
        add("postReceive", this.returned);
        add("onComplete", this.completed);
        const events = RED.events as unknown as { on(name: string, listener: (event: StopEvent) => void): void };
        events.on("flows:stopping", (event) => {
            this.stopping = stoppedBy(event);
        });
        events.on("flows:started", () => {
            this.stopping = undefined;
        });
        this.tracker.routing = true;
        return true;
    }

    private hold(msg: { _msgid?: unknown } & Marks, node: Node): void {
        reportErrorsOf(node, this.tracker);
        msg[ARRIVED_AS] = msg._msgid as string;
        this.tracker.held(msg._msgid as string, node.id, completesItself(node));
    }

    // Hooks as bound fields: every message of the runtime passes each, so no wrapper call per hook.
    private readonly routedTo = (event: SendEvent): void => {
        const { msg } = event;
        const node = event.destination?.node;
        if (!msg || !node || typeof msg._msgid !== "string") return;
        const source = event.source?.id;
        const top = this.handlingNodes.length - 1;
        if (top >= 0 && this.handlingNodes[top] === source && msg._msgid !== this.handlingMsgids[top]) this.tracker.derive(msg._msgid, this.handlingMsgids[top]!);
        if (!this.tracker.follows(msg._msgid)) return;
        if (source !== undefined) this.tracker.sentBy(msg._msgid, source);
        msg[ROUTED] = true;
        this.hold(msg, node);
    };

    private readonly received = (event: ReceiveEvent): void => {
        const { msg } = event;
        const node = event.destination?.node;
        if (!msg || !node || !this.tracker.follows(msg._msgid)) return;
        if (msg[ROUTED]) msg[ROUTED] = false;
        else this.hold(msg, node); // handed over directly: link in, link call's target
        // Popped by postReceive; bounded in case a hook of another package halts a delivery in between.
        if (this.handlingNodes.length >= MAX_NESTED_HANDLERS) {
            this.handlingNodes.shift();
            this.handlingMsgids.shift();
        }
        this.handlingNodes.push(node.id);
        this.handlingMsgids.push(msg._msgid as string);
    };

    private readonly returned = (event: ReceiveEvent): void => {
        const node = event.destination?.node;
        const msg = event.msg;
        if (!node || !msg) return;
        const msgid = arrivedAs(msg);
        if (msgid === undefined) return;
        const top = this.handlingNodes.length - 1;
        if (top >= 0 && this.handlingNodes[top] === node.id && this.handlingMsgids[top] === msgid) {
            this.handlingNodes.pop();
            this.handlingMsgids.pop();
        }
        if ((node as Node & CompletesMark)[COMPLETES] === false) this.tracker.returned(node.id);
    };

    private readonly completed = (event: CompleteEvent): void => {
        const msg = event.msg;
        if (!msg) return;
        const nodeId = event.node?.id ?? "";
        this.tracker.completed(arrivedAs(msg) ?? msg._msgid, nodeId, event.error, this.stopping?.(nodeId) ?? false);
    };
}
