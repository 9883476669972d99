/**
 * Where webhook requests enter Node-RED. One table per Node-RED runtime maps each node's
 * path to the node that owns it; two pieces of express middleware consult it:
 *
 * - a handler at the very top of the root app's stack. In a default Node-RED the editor's
 *   admin app is mounted at "/": every request would pass its whole stack first, and its
 *   JSON parser would consume the raw bytes a signature is computed over. Our requests are
 *   handled there, with httpNodeAuth (a function), httpNodeMiddleware and httpNodeCors
 *   applied as Node-RED applies them to an `http in` node.
 * - one dispatcher on RED.httpNode, for when that is not possible (httpNodeAuth as
 *   {user, pass}, checked inside Node-RED's stack; an app that does not mount httpNode):
 *   requests are then only marked as parsed at the top, so no body parser reads them.
 *
 * A Map lookup replaces a per-node express route: no linear scan of the router stack, and
 * nothing to splice out of it on redeploy.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import corsMiddleware from "cors";
import type { RoutedRequest } from "./pipeline.js";

type Next = (error?: unknown) => void;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The slice of an express application this module uses. */
interface ExpressApp {
    (req: IncomingMessage, res: ServerResponse, next?: Next): void;
    use(handler: Middleware): unknown;
    path(): string;
    parent?: ExpressApp;
    _router?: { stack: { handle: unknown; name?: string }[] };
    router?: { stack: { handle: unknown; name?: string }[] };
}

export interface RouteOwner {
    /** The most segments that may follow the owner's path. */
    readonly maxExtraSegments: number;
    acceptsExtraPath(segments: readonly string[]): boolean;
    handle(request: RoutedRequest): void;
    /** Called when a waiting owner takes the path over from one that closed. */
    activated(): void;
}

export interface RouteClaim {
    readonly active: boolean;
    release(): void;
}

interface Claim extends RouteClaim {
    owner: RouteOwner;
    /** The claimed path's segments, shared by every request to exactly that path. */
    readonly segments: readonly string[];
    closed: boolean;
    /** After release, requests are still routed here (and answered 503) until this time. */
    lingerUntil: number;
}

interface Match {
    claim: Claim;
    path: readonly string[];
    extraPath: readonly string[];
    query: string;
}

const MATCH = Symbol("verified-webhooks.match");
type MarkedRequest = IncomingMessage & { [MATCH]?: Match; _body?: boolean };

/**
 * A closed node's path answers 503 (retry) rather than 404 until the deploy that closed
 * it has started its flows, and at most this long.
 */
export const LINGER_MS = 10_000;

/**
 * Characters and segments a node path may not hold: a backslash (read as "/" by URL parsers),
 * white space and control characters (dropped by some, kept by others), "?" and "#", and
 * "." or ".." segments. Any of them could make a URL built from the path mean another place.
 */
const UNSAFE_PATH = /[\\?#\s\u0000-\u001f\u007f-\u009f\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]|(^|\/)\.{1,2}(\/|$)/;

/** Whether `path`, as typed, is one a node may listen on. */
export function isSafePath(path: string): boolean {
    return !UNSAFE_PATH.test(path);
}

/** "wms/" → "/wms"; "", or an unsafe path, → undefined. */
export function normalisePath(path: unknown): string | undefined {
    if (typeof path !== "string" || !isSafePath(path)) return undefined;
    const segments = path.split("/").filter(Boolean);
    if (segments.length === 0) return undefined;
    return `/${segments.join("/")}`;
}

function decodeSegments(pathname: string): string[] | undefined {
    try {
        return pathname.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
        return undefined; // malformed percent-encoding: not one of ours
    }
}

function rootOf(app: ExpressApp): ExpressApp {
    return app.parent ? rootOf(app.parent) : app;
}

/**
 * Moves `handler` to the top of the app's stack: above everything, or just below Express's
 * own `expressInit` when `afterExpressInit` (user middleware may use Express's req/res API).
 */
function moveToTop(app: ExpressApp, handler: Middleware, afterExpressInit: boolean): void {
    app.use(handler);
    const stack = (app._router ?? app.router)?.stack as { handle: unknown; name?: string }[] | undefined;
    if (!stack) return;
    const index = stack.findIndex((layer) => layer.handle === handler);
    if (index < 0) return;
    const [layer] = stack.splice(index, 1);
    const init = afterExpressInit ? stack.findIndex((candidate) => candidate.name === "expressInit") : -1;
    stack.splice(init + 1, 0, layer!);
}

function runChain(chain: readonly Middleware[], req: IncomingMessage, res: ServerResponse, done: Next): void {
    let position = 0;
    const next: Next = (error) => {
        if (error !== undefined || position === chain.length) return done(error);
        const middleware = chain[position++]!;
        try {
            middleware(req, res, next);
        } catch (thrown) {
            done(thrown);
        }
    };
    next();
}

export interface RuntimeEvents {
    on(event: "flows:started", listener: () => void): unknown;
}

export interface HttpSettings {
    httpNodeAuth?: unknown;
    httpNodeMiddleware?: unknown;
    httpNodeCors?: unknown;
}

function middlewareList(value: unknown): Middleware[] {
    if (typeof value === "function") return [value as Middleware];
    return Array.isArray(value) ? (value as Middleware[]) : [];
}

export class RouteTable {
    private readonly claims = new Map<string, Claim[]>();
    /** The most segments any owner accepts after its path: how far up a request path to look. */
    private maxExtraSegments = 0;
    private readonly chain: Middleware[] = [];
    /** Auth, user middleware and CORS, for requests handled at the top of the root app. */
    private readonly rootChain: Middleware[];
    /** Whether requests can be handled at the top of the root app, skipping the editor's stack. */
    private readonly shortcut: boolean;
    private mountPrefix: string | undefined;
    private markerInstalled = false;

    constructor(private readonly httpNode: ExpressApp, settings: HttpSettings, events?: RuntimeEvents) {
        // Same order as Node-RED's own `http in` node: user middleware, then CORS.
        this.chain.push(...middlewareList(settings.httpNodeMiddleware));
        if (settings.httpNodeCors) this.chain.push(corsMiddleware(settings.httpNodeCors as corsMiddleware.CorsOptions) as Middleware);
        // Node-RED mounts httpNodeAuth in front of httpNode. A function (or list) we can run
        // ourselves; its {user, pass} form is checked inside Node-RED's stack, so requests
        // then take the long way through it.
        const auth = settings.httpNodeAuth;
        this.shortcut = !auth || typeof auth === "function" || Array.isArray(auth);
        this.rootChain = [...middlewareList(auth), ...this.chain];

        httpNode.use(this.dispatch);
        events?.on("flows:started", () => this.dropClosed());
    }

    /** Once a deploy is done, a path nobody took over is gone (404), not restarting. */
    private dropClosed(): void {
        for (const [path, claims] of this.claims) {
            if (claims.every((claim) => claim.closed)) this.claims.delete(path);
        }
    }

    /** Installed on the first claim, when an embedding application has mounted httpNode. */
    private installMarker(): void {
        if (this.markerInstalled) return;
        const root = rootOf(this.httpNode);
        if (root === this.httpNode) return; // not mounted (yet): nothing parses bodies before us
        // Our own pipeline needs only Node's req/res: with no middleware to run, skip even Express's.
        moveToTop(root, this.mark, this.rootChain.length > 0 || !this.shortcut);
        this.markerInstalled = true;
    }

    /** Claims `path` for `owner`; a second claim waits until the first is released. */
    claim(path: string, owner: RouteOwner): RouteClaim {
        this.installMarker();
        const claims = (this.claims.get(path) ?? []).filter((claim) => !claim.closed);
        const table = this;
        const claim: Claim = {
            owner,
            segments: path.split("/").filter(Boolean),
            closed: false,
            lingerUntil: 0,
            get active() {
                return !this.closed && table.claims.get(path)?.[0] === this;
            },
            release() {
                if (claim.closed) return;
                claim.closed = true;
                claim.lingerUntil = Date.now() + LINGER_MS;
                const list = table.claims.get(path) ?? [];
                const waiting = list.filter((other) => !other.closed);
                // The closed claim stays at the front (answering 503) only if nobody takes over.
                table.claims.set(path, waiting.length ? waiting : [claim]);
                if (waiting.length && list[0] === claim) waiting[0]!.owner.activated();
            },
        };
        claims.push(claim);
        this.claims.set(path, claims);
        this.maxExtraSegments = Math.max(this.maxExtraSegments, owner.maxExtraSegments);
        return claim;
    }

    private find(pathname: string, query: string): Match | undefined {
        // The common case: exactly a node's path, with nothing to decode.
        const exact = this.claims.get(pathname)?.[0];
        if (exact && !exact.closed && !pathname.includes("%")) return { claim: exact, path: exact.segments, extraPath: [], query };
        const path = decodeSegments(pathname);
        if (!path) return undefined;
        for (let extra = 0; extra <= this.maxExtraSegments && extra < path.length; extra++) {
            const base = path.slice(0, path.length - extra);
            const claim = this.claims.get(`/${base.join("/")}`)?.[0];
            if (!claim) continue;
            if (claim.closed && claim.lingerUntil < Date.now()) continue;
            const extraPath = path.slice(path.length - extra);
            if (extra === 0 || claim.owner.acceptsExtraPath(extraPath)) return { claim, path, extraPath, query };
        }
        return undefined;
    }

    private match(url: string | undefined, prefix: string): Match | undefined {
        if (!url || this.claims.size === 0) return undefined;
        const queryStart = url.indexOf("?");
        const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
        if (prefix && !(pathname.startsWith(prefix) && pathname[prefix.length] === "/")) return undefined;
        return this.find(pathname.slice(prefix.length), queryStart === -1 ? "" : url.slice(queryStart + 1));
    }

    /** Where httpNode is mounted ("" for "/"); fixed once requests arrive. */
    mountPath(): string {
        this.mountPrefix ??= normalisePath(this.httpNode.path()) ?? "";
        return this.mountPrefix;
    }

    /**
     * Runs first in the root app. In a default Node-RED every request would otherwise pass
     * the editor's whole admin stack (CORS, body parsers, authentication, its routes) before
     * RED.httpNode: ours are handled here, with Node-RED's httpNode settings applied. Where
     * that is not possible they are only marked as parsed, so no parser on the way consumes
     * the raw bytes a signature is computed over.
     */
    private readonly mark: Middleware = (req, res, next) => {
        const match = this.match(req.url, this.mountPath());
        if (!match) return next();
        if (this.shortcut) return this.route(this.rootChain, match, req, res, next);
        const marked = req as MarkedRequest;
        marked[MATCH] = match;
        marked._body = true;
        next();
    };

    private route(chain: readonly Middleware[], match: Match, req: IncomingMessage, res: ServerResponse, next: Next): void {
        const handle = () => match.claim.owner.handle({ req, res, path: match.path, extraPath: match.extraPath, query: match.query });
        if (chain.length === 0) return handle();
        runChain(chain, req, res, (error) => (error === undefined ? handle() : next(error)));
    }

    /** Inside RED.httpNode (req.url is relative to httpNodeRoot here). */
    private readonly dispatch: Middleware = (req, res, next) => {
        const match = (req as MarkedRequest)[MATCH] ?? this.match(req.url, "");
        if (!match) return next();
        this.route(this.chain, match, req, res, next);
    };
}

const tables = new WeakMap<object, RouteTable>();

/** The route table of the Node-RED runtime whose httpNode app is `httpNode`. */
export function routeTableFor(httpNode: unknown, settings: HttpSettings, events?: RuntimeEvents): RouteTable {
    const app = httpNode as ExpressApp;
    let table = tables.get(app);
    if (!table) {
        table = new RouteTable(app, settings, events);
        tables.set(app, table);
    }
    return table;
}
