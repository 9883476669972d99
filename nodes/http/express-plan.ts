/**
 * What Express would run before our dispatcher inside RED.httpNode, for a POST to one path,
 * found by a dry run through Express's own router that executes nothing but its dispatch:
 * every app and router on the way is entered exactly as Express would enter it (mounts,
 * prefixes, baseUrl), and each other middleware is recorded instead of run.
 *
 * The receiver takes a request at the top of the root app (skipping the editor's stack) only
 * when the plan shows that doing so is equivalent: every middleware on the way is one whose
 * only effect can be replayed (Node-RED's CORS handlers, httpNodeAuth given as functions) or
 * none for our requests (body parsers skip a request marked as parsed, static files serve
 * only GET). Anything else (an embedding application's guard, httpAdminMiddleware, the
 * basic-auth form of httpNodeAuth) and the request goes the long way, through Express.
 *
 * The dry run also walks every route of every app and router it entered, so a node path that
 * an editor or admin route owns is found before it can shadow that route.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";

type Next = (error?: unknown) => void;
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The slice of Express 4's Layer this module reads. */
interface Layer {
    handle: Middleware & { stack?: Layer[] };
    name?: string;
    route?: { path?: unknown };
    match(path: string): boolean;
    handle_request(req: unknown, res: unknown, next: Next): void;
}

export interface ExpressApp {
    (req: IncomingMessage, res: ServerResponse, next?: Next): void;
    handle(req: unknown, res: unknown, done: Next): void;
    use(handler: Middleware): unknown;
    path(): string;
    parent?: ExpressApp;
    request?: object;
    response?: object;
    _router?: { stack: Layer[] };
    router?: { stack: Layer[] };
}

export function stackOf(app: { _router?: { stack: Layer[] }; router?: { stack: Layer[] } }): Layer[] | undefined {
    return (app._router ?? app.router)?.stack;
}

/** One middleware to run before the node's own chain, with the request as Express shows it there. */
export interface PlanStep {
    readonly handle: Middleware;
    readonly baseUrl: string;
    /** The request URL's path at that point (without the query). */
    readonly url: string;
}

export type Plan =
    | {
          readonly kind: "fast";
          readonly steps: readonly PlanStep[];
          /** The path and baseUrl as our dispatcher inside httpNode sees them. */
          readonly nodeBaseUrl: string;
          readonly nodeUrl: string;
          /** Stacks whose change makes the plan stale. */
          readonly watched: readonly { readonly stack: readonly unknown[]; readonly length: number }[];
      }
    | { readonly kind: "slow"; readonly reason: string; readonly watched: readonly { readonly stack: readonly unknown[]; readonly length: number }[] }
    | { readonly kind: "conflict"; readonly route: string };

/** Still what Express would do: none of the stacks it walked has changed since. */
export function planIsCurrent(plan: Plan): boolean {
    return plan.kind === "conflict" || plan.watched.every(({ stack, length }) => stack.length === length);
}

/** Middleware that Express only uses to dispatch: entered during the dry run. */
const DISPATCH = new Set(["query", "expressInit", "mounted_app", "router"]);
/**
 * Middleware that does nothing to a POST already marked as parsed (`_body`): body-parser's
 * parsers skip it, serve-static serves GET and HEAD only, passport's initialize adds nothing
 * a response depends on, and the core http in node's raw capture reads only its own routes.
 */
const INERT = new Set(["jsonParser", "urlencodedParser", "textParser", "rawParser", "serveStatic", "initialize", "rawBodyCapture"]);

/**
 * What each of those names is, by its code: the source of Express's own middleware, body-parser,
 * serve-static, passport's initialize, Node-RED's http in capture and cors, as the modules the
 * application runs (resolved from its main module, then from this package) make them. A
 * function is taken for one only when its source is that code (or, for the functions Express
 * and Node-RED define inside a module, when that module's source holds it): a name alone
 * proves nothing, and anything not positively identified takes the long way.
 */
interface KnownCode {
    readonly sources: Map<string, Set<string>>;
    readonly files: Map<string, Set<string>>;
    readonly routerPrototypes: Set<object>;
}

let known: KnownCode | undefined;

function knownCode(): KnownCode {
    if (known) return known;
    const code: KnownCode = { sources: new Map(), files: new Map(), routerPrototypes: new Set() };
    const add = (map: Map<string, Set<string>>, name: string, text: () => string) => {
        try {
            const value = text();
            let set = map.get(name);
            if (!set) map.set(name, (set = new Set()));
            set.add(value);
        } catch {
            // not installed where the application runs: nothing of that kind is identified
        }
    };
    const origins = [require.main?.filename, __filename].filter((origin): origin is string => typeof origin === "string");
    for (const origin of origins) {
        const load = createRequire(origin) as NodeJS.Require;
        const source = (make: () => unknown) => () => String(make());
        const file = (id: string) => () => readFileSync(load.resolve(id), "utf8");
        add(code.sources, "expressInit", source(() => (load("express/lib/middleware/init") as { init(app: object): unknown }).init({})));
        add(code.sources, "query", source(() => (load("express/lib/middleware/query") as (parse: unknown) => unknown)(() => ({}))));
        add(code.files, "mounted_app", file("express/lib/application.js"));
        const bodyParser = () => load("body-parser") as Record<"json" | "urlencoded" | "text" | "raw", (options?: object) => unknown>;
        add(code.sources, "jsonParser", source(() => bodyParser().json()));
        add(code.sources, "urlencodedParser", source(() => bodyParser().urlencoded({ extended: true })));
        add(code.sources, "textParser", source(() => bodyParser().text()));
        add(code.sources, "rawParser", source(() => bodyParser().raw()));
        add(code.sources, "serveStatic", source(() => (load("serve-static") as (root: string) => unknown)(origin)));
        add(code.sources, "initialize", source(() => (load("passport/lib/middleware/initialize") as (passport: object) => unknown)({})));
        add(code.sources, "corsMiddleware", source(() => (load("cors") as () => unknown)()));
        add(code.files, "rawBodyCapture", file("@node-red/nodes/core/network/21-httpin.js"));
        try {
            code.routerPrototypes.add(Object.getPrototypeOf((load("express") as { Router(): object }).Router()) as object);
        } catch {
            // no Express there
        }
    }
    return (known = code);
}

/** Whether `handle`, named `name`, is that piece of known code. */
function identified(name: string, handle: Middleware & { stack?: unknown }): boolean {
    const code = knownCode();
    if (name === "router") return Array.isArray(handle.stack) && code.routerPrototypes.has(Object.getPrototypeOf(handle) as object);
    const text = Function.prototype.toString.call(handle);
    if (code.sources.get(name)?.has(text)) return true;
    for (const file of code.files.get(name) ?? []) if (file.includes(text)) return true;
    return false;
}

const DRY_RUN = Symbol("verified-webhooks.dry-run");
/** A method no route handles: the dry run never reaches a route handler. */
const DRY_RUN_METHOD = "VERIFIED-WEBHOOKS-DRY-RUN";

interface DryRun {
    readonly markers: readonly unknown[];
    readonly isDispatcher: (handle: unknown) => boolean;
    readonly isReplayable: (handle: unknown) => boolean;
    readonly steps: PlanStep[];
    readonly unknown: string[];
    /** Apps and routers entered, with the prefix they were entered at. */
    readonly entered: { readonly stack: Layer[]; readonly baseUrl: string }[];
    finish(outcome: { baseUrl: string; url: string } | undefined): void;
}

type DryRunRequest = { [DRY_RUN]?: DryRun; baseUrl?: string; url: string; app?: ExpressApp };

const patched = new WeakSet<object>();

/**
 * Installs the dry-run hook on an Express Layer prototype, once. For every other request it
 * costs one property read per layer Express runs.
 */
function hookLayers(layerPrototype: Layer): void {
    if (patched.has(layerPrototype)) return;
    patched.add(layerPrototype);
    const original = layerPrototype.handle_request;
    layerPrototype.handle_request = function (this: Layer, req: unknown, res: unknown, next: Next) {
        const run = (req as DryRunRequest)[DRY_RUN];
        if (!run) return original.call(this, req, res, next);
        visit(run, this, req as DryRunRequest, res, next, original);
    };
}

function pathOnly(url: string): string {
    const query = url.indexOf("?");
    return query === -1 ? url : url.slice(0, query);
}

function visit(run: DryRun, layer: Layer, req: DryRunRequest, res: unknown, next: Next, original: Layer["handle_request"]): void {
    const { handle } = layer;
    const baseUrl = req.baseUrl ?? "";
    if (run.isDispatcher(handle)) return run.finish({ baseUrl, url: pathOnly(req.url) });
    if (run.markers.includes(handle)) return next();
    const name = handle.name;
    if (DISPATCH.has(name) && identified(name, handle)) {
        if (name === "expressInit") {
            // The app whose init this is: its routes are walked for conflicts.
            const app = (original.call(layer, req, res, () => undefined), req.app);
            const stack = app && stackOf(app);
            if (stack) run.entered.push({ stack, baseUrl });
            return next();
        }
        if (name === "router" && Array.isArray(handle.stack)) run.entered.push({ stack: handle.stack, baseUrl });
        return original.call(layer, req, res, next);
    }
    if (INERT.has(name) && identified(name, handle)) return next();
    if ((name === "corsMiddleware" && identified(name, handle)) || run.isReplayable(handle)) {
        run.steps.push({ handle, baseUrl, url: pathOnly(req.url) });
        return next();
    }
    run.unknown.push(`${name || "anonymous"} middleware at ${baseUrl || "/"}`);
    next();
}

/** A route of `stack` (entered at `baseUrl`) that owns `path` or a path below it. */
function owningRoute(stack: readonly Layer[], baseUrl: string, path: string): string | undefined {
    if (baseUrl && !(path === baseUrl || path.startsWith(`${baseUrl}/`))) return undefined;
    const relative = path.slice(baseUrl.length) || "/";
    for (const layer of stack) {
        if (!layer.route) continue;
        const routePath = layer.route.path;
        const below = typeof routePath === "string" && routePath.startsWith(`${relative}/`);
        if (below || layer.match(relative)) return `${baseUrl}${typeof routePath === "string" ? routePath : relative}`;
    }
    return undefined;
}

export interface PlanOptions {
    /** Our dispatcher's handle inside httpNode: where the dry run ends. */
    readonly isDispatcher: (handle: unknown) => boolean;
    /** Middleware we may run ourselves, in Express's order (httpNodeAuth functions). */
    readonly isReplayable: (handle: unknown) => boolean;
    /** Our own markers in the root app, which the dry run passes over. */
    readonly markers: readonly Middleware[];
    /** RED.httpNode's stack: its routes (core http in nodes) come after our dispatcher. */
    readonly ownStack: readonly unknown[] | undefined;
}

/** Plans a POST to `path` (the full request path) through `root`. */
export function planFor(root: ExpressApp, path: string, options: PlanOptions): Promise<Plan> {
    const rootStack = stackOf(root);
    const layerPrototype = rootStack?.[0] && (Object.getPrototypeOf(rootStack[0]) as Layer);
    if (!rootStack || !layerPrototype || typeof layerPrototype.handle_request !== "function") {
        return Promise.resolve({ kind: "slow", reason: "the application's router cannot be read", watched: [] });
    }
    hookLayers(layerPrototype);
    // Every layer of the root app must be Express's (the one hooked): another router's
    // middleware would run for real during the dry run.
    if (!rootStack.every((layer) => Object.getPrototypeOf(layer) === layerPrototype)) {
        return Promise.resolve({ kind: "slow", reason: "the application mixes routers", watched: [] });
    }
    return new Promise((resolve) => {
        let settled = false;
        const run: DryRun = {
            markers: options.markers,
            isDispatcher: options.isDispatcher,
            isReplayable: options.isReplayable,
            steps: [],
            unknown: [],
            entered: [{ stack: rootStack, baseUrl: "" }],
            finish(outcome) {
                if (settled) return;
                settled = true;
                const watched = run.entered.map(({ stack }) => ({ stack, length: stack.length }));
                for (const { stack, baseUrl } of run.entered) {
                    if (stack === options.ownStack) continue;
                    const route = owningRoute(stack, baseUrl, path);
                    if (route) return resolve({ kind: "conflict", route });
                }
                if (!outcome) return resolve({ kind: "slow", reason: "RED.httpNode is not reached on this path", watched });
                if (run.unknown.length) return resolve({ kind: "slow", reason: run.unknown.join(", "), watched });
                resolve({
                    kind: "fast",
                    steps: run.steps,
                    nodeBaseUrl: outcome.baseUrl,
                    nodeUrl: outcome.url,
                    watched,
                });
            },
        };
        const req: DryRunRequest & Record<string, unknown> = { method: DRY_RUN_METHOD, url: path, headers: {}, [DRY_RUN]: run };
        const res = { setHeader() {}, getHeader() {}, removeHeader() {}, locals: Object.create(null) };
        try {
            root.handle(req, res, () => run.finish(undefined));
        } catch {
            run.finish(undefined);
        }
    });
}
