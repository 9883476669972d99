/**
 * Where webhook requests enter Node-RED. One table per Node-RED runtime maps each node's
 * path to the node that owns it; requests reach it in one of two ways:
 *
 * - the long way, as an `http in` node's do: through every piece of middleware mounted before
 *   RED.httpNode (an embedding application's, the editor's when it shares the root,
 *   httpNodeAuth), to one dispatcher on RED.httpNode that runs httpNodeMiddleware and
 *   httpNodeCors as `http in` does. A marker at the top of the root app only flags the
 *   request as parsed, so that no body parser on the way consumes the raw bytes a signature
 *   is computed over.
 * - the short way, for a POST to a path whose plan (express-plan.ts) proves it equivalent:
 *   the marker runs, itself, exactly the middleware Express would have run (Node-RED's CORS
 *   handlers, httpNodeAuth functions) with the request as each would see it, then the same
 *   chain. In a default Node-RED this skips the editor's whole stack.
 *
 * A Map lookup replaces a per-node express route: no linear scan of the router stack, and
 * nothing to splice out of it on redeploy.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import corsMiddleware from "cors";
import { planFor, planIsCurrent, stackOf, type ExpressApp, type Middleware, type Plan } from "./express-plan.js";
import type { RoutedRequest } from "../receive/pipeline.js";
import { middlewareList, pathOf, runChain, type Next } from "./chain.js";
import { decodeSegments, normalisePath } from "./paths.js";

export { isSafePath, normalisePath } from "./paths.js";

export interface RouteOwner {
    /** The most segments that may follow the owner's path. */
    readonly maxExtraSegments: number;
    acceptsExtraPath(segments: readonly string[]): boolean;
    handle(request: RoutedRequest): void;
    /** Called when a waiting owner takes the path over from one that closed. */
    activated(): void;
    /** Called when an editor or admin route owns the path: the claim is withdrawn. */
    conflict?(route: string): void;
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
    /** Per full request path: how Express would route a POST there (undefined: being planned). */
    readonly plans: Map<string, Plan | undefined>;
    /**
     * Known not to shadow an editor or admin route (its path planned without conflict). Until
     * then no request to its path is flagged or taken: one the editor owns must reach it untouched.
     */
    cleared: boolean;
}

interface Match {
    claim: Claim;
    path: readonly string[];
    extraPath: readonly string[];
    query: string;
}

/** Set on a request the marker flagged as parsed: the dispatcher takes no other on the long way. */
const FLAGGED = Symbol("verified-webhooks.flagged");

type MarkedRequest = IncomingMessage & { _body?: boolean; baseUrl?: string; originalUrl?: string; [FLAGGED]?: true };

/**
 * A closed node's path answers 503 (retry) rather than 404 until the deploy that closed
 * it has started its flows, and at most this long.
 */
export const LINGER_MS = 10_000;
/**
 * Paths with a token are planned once a delivery to them was accepted (so unauthenticated
 * traffic cannot make us plan), and at most this many per node.
 */
const MAX_PLANS_PER_CLAIM = 16;

function rootOf(app: ExpressApp): ExpressApp {
    return app.parent ? rootOf(app.parent) : app;
}

/**
 * Moves `handler` to the top of the app's stack: above everything, or just below Express's
 * own `expressInit` when `afterExpressInit` (for middleware that uses Express's req/res API).
 */
function moveToTop(app: ExpressApp, handler: Middleware, afterExpressInit: boolean): void {
    app.use(handler);
    const stack = stackOf(app);
    if (!stack) return;
    const index = stack.findIndex((layer) => layer.handle === handler);
    if (index < 0) return;
    const [layer] = stack.splice(index, 1);
    const init = afterExpressInit ? stack.findIndex((candidate) => candidate.name === "expressInit") : -1;
    stack.splice(init + 1, 0, layer!);
}

export interface RuntimeEvents {
    on(event: "flows:started", listener: () => void): unknown;
}

export interface HttpSettings {
    httpNodeAuth?: unknown;
    httpNodeMiddleware?: unknown;
    httpNodeCors?: unknown;
}

export class RouteTable {
    private readonly claims = new Map<string, Claim[]>();
    /** The most segments any owner accepts after its path: how far up a request path to look. */
    private maxExtraSegments = 0;
    /** What an `http in` route runs before its handler: httpNodeMiddleware, then httpNodeCors. */
    private readonly chain: Middleware[] = [];
    /** httpNodeAuth given as functions: the short way may run them itself, where Express would. */
    private readonly replayable: ReadonlySet<unknown>;
    /** httpNodeMiddleware is user code, which may use Express's req/res API. */
    private readonly chainNeedsExpress: boolean;
    private mountPrefix: string | undefined;
    private markerInstalled = false;

    constructor(private readonly httpNode: ExpressApp, settings: HttpSettings, events?: RuntimeEvents) {
        this.chain.push(...middlewareList(settings.httpNodeMiddleware));
        if (settings.httpNodeCors) this.chain.push(corsMiddleware(settings.httpNodeCors as corsMiddleware.CorsOptions) as Middleware);
        this.replayable = new Set(middlewareList(settings.httpNodeAuth));
        this.chainNeedsExpress = middlewareList(settings.httpNodeMiddleware).length > 0;
        httpNode.use(this.dispatch);
        events?.on("flows:started", () => this.dropClosed());
    }

    /** Once a deploy is done, a path nobody took over is gone (404), not restarting. */
    private dropClosed(): void {
        for (const [path, claims] of this.claims) {
            if (claims.every((claim) => claim.closed)) this.claims.delete(path);
        }
    }

    private root(): ExpressApp | undefined {
        const root = rootOf(this.httpNode);
        return root === this.httpNode ? undefined : root;
    }

    /** Installed on the first claim, when an application has mounted httpNode. */
    private installMarker(): void {
        if (this.markerInstalled) return;
        const root = this.root();
        if (!root) return; // not mounted (yet): nothing parses bodies before us
        moveToTop(root, this.markBelowInit, true);
        moveToTop(root, this.markAtTop, false);
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
            plans: new Map(),
            // Not mounted (yet): nothing runs before RED.httpNode, so nothing can be shadowed; a
            // path already planned without conflict (a redeploy) stays cleared.
            cleared: this.root() === undefined || (this.claims.get(path) ?? []).some((other) => other.cleared),
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
        this.plan(claim, `${this.mountPath()}${path}`);
        return claim;
    }

    /** A claim on a path an editor or admin route owns: gone at once, as if never made (no 503 while it lingers, nothing flagged). */
    private withdraw(claim: Claim): void {
        const path = `/${claim.segments.join("/")}`;
        const wasActive = claim.active;
        claim.closed = true;
        claim.lingerUntil = 0;
        const waiting = (this.claims.get(path) ?? []).filter((other) => other !== claim && !other.closed);
        if (waiting.length) this.claims.set(path, waiting);
        else this.claims.delete(path);
        if (wasActive && waiting.length) waiting[0]!.owner.activated();
    }

    /** Works out, in the background, how Express routes a POST to `fullPath`; until then, the long way. */
    private plan(claim: Claim, fullPath: string): void {
        const root = this.root();
        if (!root || claim.plans.has(fullPath) || claim.plans.size >= MAX_PLANS_PER_CLAIM) return;
        claim.plans.set(fullPath, undefined);
        planFor(root, fullPath, {
            isDispatcher: (handle) => handle === this.dispatch,
            isReplayable: (handle) => this.replayable.has(handle),
            markers: [this.markAtTop, this.markBelowInit],
            ownStack: stackOf(this.httpNode),
        }).then(
            (plan) => {
                if (plan.kind === "conflict") {
                    claim.owner.conflict?.(plan.route);
                    return this.withdraw(claim);
                }
                claim.plans.set(fullPath, plan);
                claim.cleared = true;
            },
            () => {
                claim.plans.set(fullPath, { kind: "slow", reason: "planning failed", watched: [] });
                claim.cleared = true;
            },
        );
    }

    /** The plan for a POST to `fullPath`, if one is ready and still what Express would do. */
    private currentPlan(claim: Claim, fullPath: string): Plan | undefined {
        const plan = claim.plans.get(fullPath);
        if (!plan || planIsCurrent(plan)) return plan;
        claim.plans.delete(fullPath);
        this.plan(claim, fullPath); // the stack changed (a module added middleware): plan again
        return undefined;
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

    /**
     * The editor or admin route that would take a POST to `path` (below httpNodeRoot) before
     * any node could, if one would: what the editor warns of before a deploy.
     */
    async editorRouteOwning(path: string): Promise<string | undefined> {
        const root = this.root();
        const normalised = normalisePath(path);
        if (!root || !normalised) return undefined;
        const plan = await planFor(root, `${this.mountPath()}${normalised}`, {
            isDispatcher: (handle) => handle === this.dispatch,
            isReplayable: (handle) => this.replayable.has(handle),
            markers: [this.markAtTop, this.markBelowInit],
            ownStack: stackOf(this.httpNode),
        });
        return plan.kind === "conflict" ? plan.route : undefined;
    }

    /** Where httpNode is mounted ("" for "/"); fixed once requests arrive. */
    mountPath(): string {
        this.mountPrefix ??= normalisePath(this.httpNode.path()) ?? "";
        return this.mountPrefix;
    }

    /**
     * Whether the short way needs Express's req/res API: user middleware may use it; the CORS
     * handlers (the `cors` package) use Node's alone. Giving a request Express's prototypes
     * costs about half the throughput, so it is done only where needed.
     */
    private needsExpress(plan: Plan & { kind: "fast" }): boolean {
        return this.chainNeedsExpress || plan.steps.some((step) => step.handle.name !== "corsMiddleware");
    }

    /** The short way for a POST whose plan allows it, if it needs nothing of Express. */
    private shortWayFor(req: IncomingMessage, express: boolean): { plan: Plan & { kind: "fast" }; match: Match } | undefined {
        if (req.method !== "POST") return undefined;
        const match = this.match(req.url, this.mountPath());
        if (!match?.claim.cleared) return undefined;
        const plan = this.currentPlan(match.claim, pathOf(req.url!));
        return plan?.kind === "fast" && this.needsExpress(plan) === express ? { plan, match } : undefined;
    }

    /** Runs first in the root app, before Express's own init. */
    private readonly markAtTop: Middleware = (req, res, next) => {
        const short = this.shortWayFor(req, false);
        if (!short) return next();
        this.shortWay(short.plan, short.match, req as MarkedRequest, res, next);
    };

    /** Runs just below Express's init: the short way for plans that need Express's API, else the long way, flagged. */
    private readonly markBelowInit: Middleware = (req, res, next) => {
        const short = this.shortWayFor(req, true);
        if (short) return this.shortWay(short.plan, short.match, req as MarkedRequest, res, next);
        // The long way: no body parser on it may consume the raw bytes (never on a path the editor may own).
        if (this.match(req.url, this.mountPath())?.claim.cleared) {
            (req as MarkedRequest)._body = true;
            (req as MarkedRequest)[FLAGGED] = true;
        }
        next();
    };

    /** Runs what Express would run, as Express would present the request to each, then the node's chain. */
    private shortWay(plan: Plan & { kind: "fast" }, match: Match, req: MarkedRequest, res: ServerResponse, next: Next): void {
        const url = req.url;
        const baseUrl = req.baseUrl;
        const query = match.query ? `?${match.query}` : "";
        const leave: Next = (error) => {
            req.url = url;
            req.baseUrl = baseUrl;
            next(error);
        };
        let position = 0;
        const step: Next = (error) => {
            if (error !== undefined) return leave(error);
            const current = plan.steps[position++];
            if (current) {
                req.baseUrl = current.baseUrl;
                req.url = current.url + query;
                try {
                    return current.handle(req, res, step);
                } catch (thrown) {
                    return leave(thrown);
                }
            }
            // Inside RED.httpNode, as its own expressInit would present the request.
            req.baseUrl = plan.nodeBaseUrl;
            req.url = plan.nodeUrl + query;
            if (this.needsExpress(plan)) {
                // As RED.httpNode's own expressInit would: its req/res API, not the root app's.
                if (this.httpNode.request) Object.setPrototypeOf(req, this.httpNode.request);
                if (this.httpNode.response) Object.setPrototypeOf(res, this.httpNode.response);
            }
            this.route(match, req, res, leave);
        };
        step();
    }

    private route(match: Match, req: IncomingMessage, res: ServerResponse, next: Next): void {
        const handle = () => match.claim.owner.handle({ req, res, path: match.path, extraPath: match.extraPath, query: match.query });
        if (this.chain.length === 0) return handle();
        runChain(this.chain, req, res, (error) => (error === undefined ? handle() : next(error)));
    }

    /** Inside RED.httpNode (req.url is relative to httpNodeRoot here): the long way ends here. */
    private readonly dispatch: Middleware = (req, res, next) => {
        const match = this.match(req.url, "");
        if (!match) return next();
        if (!match.claim.cleared || (this.markerInstalled && !(req as MarkedRequest)[FLAGGED])) {
            // Not flagged on its way (its path was being planned, within milliseconds of the
            // deploy): a body parser may have consumed it.
            res.statusCode = 503;
            res.setHeader("Retry-After", "1");
            res.setHeader("Content-Type", "application/json");
            return void res.end(JSON.stringify({ error: "receiver is starting: retry" }));
        }
        if (req.method === "POST" && match.extraPath.length > 0) {
            // A delivery with a token that was accepted: plan its path, so the next one can take the short way.
            const fullPath = pathOf((req as MarkedRequest).originalUrl ?? req.url!);
            res.once("finish", () => {
                if (res.statusCode >= 200 && res.statusCode < 300) this.plan(match.claim, fullPath);
            });
        }
        this.route(match, req, res, next);
    };
}
