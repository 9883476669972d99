// The route table and the Express dry run alone, in an application laid out as Node-RED's: the
// editor's app (with a JSON body parser and its own routes) mounted before RED.httpNode.
import assert = require("node:assert/strict");
import http = require("node:http");
import type { AddressInfo } from "node:net";
import express = require("express");
import { RouteTable, type RouteOwner } from "../../../nodes/http/route-table.js";
import { planFor, stackOf, type ExpressApp } from "../../../nodes/http/express-plan.js";
import type { RoutedRequest } from "../../../nodes/receive/pipeline.js";

/** A root app with the editor's app at "/" (its JSON parser runs for every path) and httpNode after it. */
function nodeRedLike() {
    const root = express();
    const admin = express();
    admin.use(express.json());
    admin.get("/flows", (_req, res) => void res.json({ flows: [] }));
    admin.post("/flows", (req, res) => void res.json({ deployed: req.body }));
    const httpNode = express();
    root.use("/", admin);
    root.use("/", httpNode);
    return { root, admin, httpNode };
}

async function serve(app: express.Express): Promise<{ url: (path: string) => string; close(): Promise<void> }> {
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    return { url: (path) => `http://127.0.0.1:${port}${path}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** An owner that answers with the raw body it read, and records what happened to it. */
function owner(name: string, extra = 0): RouteOwner & { activations: number; conflicts: string[] } {
    const recorded = { activations: 0, conflicts: [] as string[] };
    return Object.assign(recorded, {
        maxExtraSegments: extra,
        acceptsExtraPath: (segments: readonly string[]) => segments.length <= extra,
        handle({ req, res, extraPath }: RoutedRequest) {
            const chunks: Buffer[] = [];
            req.on("data", (chunk: Buffer) => chunks.push(chunk));
            req.on("end", () => res.end(JSON.stringify({ owner: name, body: Buffer.concat(chunks).toString("utf8"), extraPath })));
        },
        activated() {
            recorded.activations++;
        },
        conflict(route: string) {
            recorded.conflicts.push(route);
        },
    });
}

const post = async (url: string, body: string) => {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    return { status: response.status, text: await response.text() };
};
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe("route table", () => {
    it("hands a node its request with the raw body, though a JSON parser runs before RED.httpNode", async () => {
        const { root, httpNode } = nodeRedLike();
        const table = new RouteTable(httpNode as unknown as ExpressApp, {});
        const claim = table.claim("/hook", owner("first", 1));
        const server = await serve(root);
        try {
            await settle(); // the path is planned: known not to shadow an editor route
            assert.equal(claim.active, true);
            const body = '{"b": 2,  "a": 1}';
            const answer = await post(server.url("/hook/token"), body);
            assert.equal(answer.status, 200);
            assert.deepEqual(JSON.parse(answer.text), { owner: "first", body, extraPath: ["token"] }, "the bytes as sent, not re-serialised");
            assert.equal((await post(server.url("/hook/a/b"), "{}")).status, 404, "more segments than the node takes are not its");
        } finally {
            await server.close();
        }
    });

    it("keeps a second claim on a path waiting until the first is released, then hands it over", async () => {
        const { root, httpNode } = nodeRedLike();
        const table = new RouteTable(httpNode as unknown as ExpressApp, {});
        const first = owner("first");
        const second = owner("second");
        const firstClaim = table.claim("/hook", first);
        const secondClaim = table.claim("/hook", second);
        const server = await serve(root);
        try {
            await settle();
            assert.deepEqual([firstClaim.active, secondClaim.active], [true, false]);
            assert.equal(JSON.parse((await post(server.url("/hook"), "{}")).text).owner, "first");
            firstClaim.release();
            assert.deepEqual([firstClaim.active, secondClaim.active, second.activations], [false, true, 1]);
            assert.equal(JSON.parse((await post(server.url("/hook"), "{}")).text).owner, "second");
        } finally {
            await server.close();
        }
    });

    it("withdraws a claim on a path an editor route owns: the editor's route keeps working, untouched", async () => {
        const { root, httpNode } = nodeRedLike();
        const table = new RouteTable(httpNode as unknown as ExpressApp, {});
        const intruder = owner("intruder");
        const claim = table.claim("/flows", intruder);
        const server = await serve(root);
        try {
            await settle();
            assert.deepEqual(intruder.conflicts, ["/flows"]);
            assert.equal(claim.active, false);
            const deployed = await post(server.url("/flows"), '{"rev": "1"}');
            assert.deepEqual(JSON.parse(deployed.text), { deployed: { rev: "1" } }, "the editor's parser and route ran");
            assert.equal(await table.editorRouteOwning("/flows"), "/flows");
            assert.equal(await table.editorRouteOwning("/hook"), undefined);
        } finally {
            await server.close();
        }
    });
});

describe("Express dry run", () => {
    /** The editor's app before httpNode, whose stack ends in a dispatcher like ours. */
    function planned(extra?: (root: express.Express) => void) {
        const root = express();
        extra?.(root);
        const admin = express();
        admin.use(express.json());
        admin.get("/flows", (_req, res) => void res.end());
        admin.post("/flows", (_req, res) => void res.end());
        const httpNode = express();
        const dispatch: express.RequestHandler = (_req, _res, next) => next();
        httpNode.use(dispatch);
        root.use("/", admin);
        root.use("/", httpNode);
        const options = { isDispatcher: (handle: unknown) => handle === dispatch, isReplayable: () => false, markers: [], ownStack: stackOf(httpNode as unknown as ExpressApp) };
        return (path: string) => planFor(root as unknown as ExpressApp, path, options);
    }

    it("plans the short way where only code it knows runs first (the editor's body parser skips a flagged request)", async () => {
        const plan = await planned()("/hook");
        assert.ok(plan.kind === "fast", plan.kind);
        assert.deepEqual([plan.steps, plan.nodeUrl], [[], "/hook"], "nothing to run on the way; httpNode sees the path as sent");
    });

    it("finds the editor's route that owns a path", async () => {
        assert.deepEqual(await planned()("/flows"), { kind: "conflict", route: "/flows" });
    });

    it("takes the long way past middleware it does not know, naming it", async () => {
        const plan = await planned((root) => root.use(function audit(_req, _res, next) { next(); }))("/hook");
        assert.ok(plan.kind === "slow", plan.kind);
        assert.match(plan.reason, /audit middleware at \//);
    });
});
