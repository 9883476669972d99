/**
 * Feeds the completion tracker from Node-RED's message hooks, once per runtime: who a message
 * of ours is routed to and by whom (preDeliver), handed to directly (onReceive), whose
 * handler returned (postReceive), who completed it (onComplete); and node.error(err, msg),
 * which Node-RED routes to catch nodes rather than to a hook, from every node that holds one.
 * Every other message costs each hook a Map lookup.
 */
import type { Node, NodeAPI } from "node-red";
import type { CompletionTracker } from "../log/completion.js";

type Msg = { _msgid?: unknown } | null | undefined;
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
export function reportErrorsOf(target: Node, tracker: CompletionTracker, arrivedAs?: WeakMap<object, string>): void {
    const instance = target as Node & { [ERROR_REPORTING]?: true };
    if (instance[ERROR_REPORTING]) return;
    const original = instance.error;
    instance.error = function (this: Node, logMessage: unknown, msg?: Msg) {
        if (msg && typeof msg === "object") tracker.failed(arrivedAs?.get(msg) ?? msg._msgid, this.id, logMessage);
        return original.call(this, logMessage, msg as never);
    } as Node["error"];
    instance[ERROR_REPORTING] = true;
}

/**
 * Installs the hooks that follow messages of ours through the flows. Returns false where the
 * runtime has no hooks (a test harness): the tracker then knows only the receivers' wires.
 */
export function followMessages(RED: NodeAPI, tracker: CompletionTracker): boolean {
    const hooks = RED.hooks as NodeAPI["hooks"] | undefined;
    if (!hooks?.add) return false;
    /** Messages routed to a node (preDeliver): their onReceive is the same hold, not another. */
    const routed = new WeakSet<object>();
    /** The _msgid each held message arrived with: split deletes it before it completes the message. */
    const arrivedAs = new WeakMap<object, string>();
    /** The followed messages whose input handlers are running, innermost last: what a node sends meanwhile derives from them. */
    const handling: { readonly node: string; readonly msgid: string }[] = [];
    /** Per node instance, whether it completes its messages (its handlers do not change while it runs). */
    const completes = new WeakMap<object, boolean>();
    const hold = (msg: { _msgid?: unknown }, node: Node) => {
        let itCompletes = completes.get(node);
        if (itCompletes === undefined) completes.set(node, (itCompletes = canComplete(node)));
        reportErrorsOf(node, tracker, arrivedAs);
        arrivedAs.set(msg, msg._msgid as string);
        tracker.held(msg._msgid as string, node.id, itCompletes);
    };
    const add = (hook: string, listener: (event: never) => void) => {
        hooks.remove(`${hook}.${HOOK_LABEL}`);
        hooks.add(`${hook}.${HOOK_LABEL}` as "onComplete", listener as never);
    };
    // preDeliver sees each message as it is routed to a node: sent on by a node that cannot call
    // done(), made from one of ours (split's parts), held by its destination. (No onSend hook:
    // every hook costs each message of the runtime a turn through Node-RED's hook machinery.)
    add("preDeliver", (event: SendEvent) => {
        const { msg } = event;
        const node = event.destination?.node;
        if (!msg || !node || typeof msg._msgid !== "string") return;
        const source = event.source?.id;
        const current = handling[handling.length - 1];
        if (current !== undefined && current.node === source && msg._msgid !== current.msgid) tracker.derive(msg._msgid, current.msgid);
        if (!tracker.follows(msg._msgid)) return;
        if (source !== undefined) tracker.sentBy(msg._msgid, source);
        routed.add(msg);
        hold(msg, node);
    });
    add("onReceive", (event: ReceiveEvent) => {
        const { msg } = event;
        const node = event.destination?.node;
        if (!msg || !node || !tracker.follows(msg._msgid)) return;
        if (routed.has(msg)) routed.delete(msg);
        else hold(msg, node); // handed over directly: link in, link call's target
        // Popped by postReceive; bounded in case a hook of another package halts a delivery in between.
        if (handling.length >= MAX_NESTED_HANDLERS) handling.shift();
        handling.push({ node: node.id, msgid: msg._msgid as string });
    });
    add("postReceive", (event: ReceiveEvent) => {
        const node = event.destination?.node;
        const msg = event.msg;
        if (!node || !msg) return;
        const msgid = arrivedAs.get(msg);
        if (msgid === undefined) return;
        const top = handling[handling.length - 1];
        if (top?.node === node.id && top.msgid === msgid) handling.pop();
        if (completes.get(node) === false) tracker.returned(node.id);
    });
    add("onComplete", (event: { msg?: Msg; node?: NodeRef; error?: unknown }) => {
        const msg = event.msg;
        if (!msg) return;
        const nodeId = event.node?.id ?? "";
        tracker.completed(arrivedAs.get(msg) ?? msg._msgid, nodeId, event.error, stopping?.(nodeId) ?? false);
    });
    // Between a deploy's flows:stopping and its flows:started, the nodes it stops complete what
    // they hold without having handled it.
    let stopping: ((nodeId: string) => boolean) | undefined;
    const events = RED.events as unknown as { on(name: string, listener: (event: StopEvent) => void): void };
    events.on("flows:stopping", (event) => {
        stopping = stoppedBy(event);
    });
    events.on("flows:started", () => {
        stopping = undefined;
    });
    tracker.routing = true;
    return true;
}
