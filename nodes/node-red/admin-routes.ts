/**
 * Every admin route of the package, under Node-RED's httpAdminRoot, registered once per runtime
 * (reading needs verified-webhooks.read, anything that sends, replays or reads a secret
 * verified-webhooks.write):
 *
 *   GET  /verified-webhooks/samples                      the sample events of each provider
 *   GET  /verified-webhooks/nodes/<id>/stats             a deployed receiver's counts and load
 *   GET  /verified-webhooks/nodes/<id>/token             the token in its URL (providers that sign nothing)
 *   POST /verified-webhooks/<id>/test                    {event?, repeat?}: "Send test event"
 *   POST /verified-webhooks/check                        {type, id, path, secret?}: what would keep a node from listening
 *   GET  /verified-webhooks/deliveries                   ?node&status&event&since&until&limit&after, newest first, and the total
 *   GET  /verified-webhooks/deliveries/<deliveryId>      with the emitted events
 *   POST /verified-webhooks/deliveries/<deliveryId>/replay
 *   POST /verified-webhooks/deliveries/replay-failed     ?since&until&node[&dryRun]: the failed events not replayed yet
 */
import type { NodeAPI } from "node-red";
import type { Request, Response } from "express";
import { oneLine } from "../log/completion.js";
import { detailsOf, type LogQuery } from "../log/delivery-log.js";
import { logPage, logQueryOf, replay, replayFailed, replayFailedPreview } from "../log/replay.js";
import { isSafePath, normalisePath } from "../http/paths.js";
import { parseSecrets, urlTokenOf } from "../receive/secrets.js";
import { Rejection } from "../receive/provider.js";
import { sampleNames } from "../providers/signing.js";
import type { WebhooksRuntime } from "./runtime.js";

interface Credentials {
    secret?: string;
}

/** What the editor asks of a node's configuration before a deploy, and the answer: a one-line reason per field, or null. */
interface NodeCheck {
    path: string | null;
    secret: string | null;
}

function answerError(res: Response, error: unknown): void {
    if (error instanceof Rejection) return void res.status(error.status).json({ error: error.reason });
    res.status(500).json({ error: oneLine(error) });
}

const NOT_DEPLOYED = { error: "no deployed webhook node with this id" };

export function registerAdminRoutes(RED: NodeAPI, runtime: WebhooksRuntime): void {
    registerNodeRoutes(RED, runtime);
    registerLogRoutes(RED, runtime);
}

function registerNodeRoutes(RED: NodeAPI, runtime: WebhooksRuntime): void {
    const read = RED.auth.needsPermission("verified-webhooks.read");
    const write = RED.auth.needsPermission("verified-webhooks.write");
    const receiverOf = (req: Request) => runtime.receivers.get(String(req.params.id ?? ""));

    RED.httpAdmin.get("/verified-webhooks/samples", read, (_req, res) => {
        res.json(Object.fromEntries([...runtime.providers.values()].map((provider) => [provider.name, sampleNames(provider)])));
    });

    RED.httpAdmin.get("/verified-webhooks/nodes/:id/stats", read, (req, res) => {
        const receiver = receiverOf(req);
        if (!receiver) return void res.status(404).json(NOT_DEPLOYED);
        res.json(receiver.stats());
    });

    // The token of a node whose provider signs nothing, for the URL the dialog shows (masked
    // until revealed): the token a user with write permission could set anyway.
    RED.httpAdmin.get("/verified-webhooks/nodes/:id/token", write, (req, res) => {
        if (!receiverOf(req)?.provider.pathToken) return void res.status(404).json({ error: "no deployed webhook node with a token in its URL" });
        res.json(urlTokenOf((RED.nodes.getCredentials(String(req.params.id)) as Credentials | undefined)?.secret));
    });

    RED.httpAdmin.post("/verified-webhooks/:id/test", write, (req, res) => {
        const receiver = receiverOf(req);
        if (!receiver) return void res.status(404).json(NOT_DEPLOYED);
        const event = typeof req.body?.event === "string" && req.body.event ? req.body.event : undefined;
        receiver.sendTestEvent(event, req.body?.repeat === true).then(
            (result) => res.json(result),
            (error: Error) => res.status(400).json({ error: error.message }),
        );
    });

    RED.httpAdmin.post("/verified-webhooks/check", write, (req, res) => {
        checkNode(RED, runtime, (req.body ?? {}) as Record<string, unknown>).then(
            (answer) => res.json(answer),
            (error: unknown) => answerError(res, error),
        );
    });
}

/**
 * What would keep a node from listening, checked by the runtime as the node would check it at
 * start (the provider's own rules), so the editor marks it invalid and says why before a
 * deploy. `secret` is what the dialog holds when the user typed one; without it, the deployed
 * node's own is checked.
 */
async function checkNode(RED: NodeAPI, runtime: WebhooksRuntime, body: Record<string, unknown>): Promise<NodeCheck> {
    const checked = runtime.providers.get(String(body.type));
    if (!checked) throw new Rejection(400, "not a webhook node type");
    const answer: NodeCheck = { path: null, secret: null };
    const rawPath = typeof body.path === "string" ? body.path.slice(0, 2000) : "";
    const typed = typeof body.secret === "string" ? body.secret.slice(0, 100_000) : undefined;
    const stored = typeof body.id === "string" ? (RED.nodes.getCredentials(body.id) as Credentials | undefined)?.secret : undefined;
    const secrets = parseSecrets(typed ?? stored, (name) => {
        const value = process.env[name];
        return typeof value === "string" ? value : undefined;
    });
    if (checked.secretRequired && secrets.length === 0) answer.secret = RED._("webhook.errors.no-secret-short");
    else if (secrets.length) answer.secret = checked.secretProblem?.(secrets) ?? null;
    if (!isSafePath(rawPath) || !normalisePath(rawPath)) return answer;
    const route = await runtime.routes.editorRouteOwning(rawPath).catch(() => undefined);
    if (route) answer.path = RED._("webhook.errors.path-owned-short", { route });
    return answer;
}

function registerLogRoutes(RED: NodeAPI, runtime: WebhooksRuntime): void {
    const read = RED.auth.needsPermission("verified-webhooks.read");
    const write = RED.auth.needsPermission("verified-webhooks.write");
    const { logs } = runtime;

    RED.httpAdmin.get("/verified-webhooks/deliveries", read, (req: Request, res: Response) => {
        try {
            res.json(logPage(logs, logQueryOf(req.query)));
        } catch (error) {
            answerError(res, error);
        }
    });

    // Declared before /:id/replay: Express matches in order, and "replay-failed" is no delivery id.
    RED.httpAdmin.post("/verified-webhooks/deliveries/replay-failed", write, (req: Request, res: Response) => {
        let query: LogQuery;
        try {
            const body = (req.body && typeof req.body === "object" ? req.body : {}) as Record<string, unknown>;
            query = logQueryOf({ ...req.query, ...body, status: "failed", limit: 1000 });
        } catch (error) {
            return answerError(res, error);
        }
        if (req.body?.dryRun === true || req.query.dryRun === "true") return void res.json(replayFailedPreview(runtime, query));
        replayFailed(runtime, query).then(
            (result) => res.json(result),
            (error: unknown) => answerError(res, error),
        );
    });

    RED.httpAdmin.get("/verified-webhooks/deliveries/:id", read, (req: Request, res: Response) => {
        const entry = logs.find(String(req.params.id));
        if (!entry) return void res.status(404).json({ error: "no such delivery in the log" });
        res.json(detailsOf(entry));
    });

    RED.httpAdmin.post("/verified-webhooks/deliveries/:id/replay", write, (req: Request, res: Response) => {
        const entry = logs.find(String(req.params.id));
        if (!entry) return void res.status(404).json({ error: "no such delivery in the log" });
        try {
            res.json(replay(runtime, entry, false));
        } catch (error) {
            answerError(res, error);
        }
    });
}
