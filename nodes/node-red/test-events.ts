/**
 * "Send test event": the editor asks a deployed receiver node to send itself a correctly
 * signed sample through its real HTTP endpoint, exactly as the provider would, so a user
 * can try a flow without a face scan or smart glasses.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { NodeAPI } from "node-red";
import { TEST_DELIVERY_HEADER, TEST_EVENT_HEADER, TEST_OUTCOME_HEADER } from "../receive/pipeline.js";
import type { SomeProvider } from "../receive/provider.js";
import { sampleDelivery, sampleNames, type SignedDelivery } from "../providers/signing.js";

export interface TestEventResult {
    event: string;
    status: number;
    body: string;
    /** What the node did with it: "duplicate" when it had seen the event (nothing reached the flow). */
    outcome: "accepted" | "duplicate" | undefined;
    /** The delivery's id in the log (the Webhooks tab). */
    deliveryId: string | undefined;
    /** True when this was the previous test sent again, byte for byte. */
    repeat: boolean;
}

/**
 * What a receiver node offers the admin route: a new sample event each time, or (`repeat`)
 * the previous test again, byte for byte, as a provider's retry would be.
 */
export type TestEventSender = (eventName: string | undefined, repeat?: boolean) => Promise<TestEventResult>;

/** Marks this process's own test events (TEST_EVENT_HEADER): unknown to anyone outside it. */
export const TEST_EVENT_NONCE = randomBytes(18).toString("base64url");

/** Where this Node-RED listens, as seen from itself. */
function loopbackOrigin(RED: NodeAPI): string {
    const server = RED.server as unknown as { address(): AddressInfo | string | null };
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("Node-RED's HTTP server is not listening");
    const anyAddress = address.address === "::" || address.address === "0.0.0.0" || address.address === "";
    const host = anyAddress ? "127.0.0.1" : address.family === "IPv6" ? `[${address.address}]` : address.address;
    const secure = Boolean((RED.settings as unknown as { https?: unknown }).https);
    return `${secure ? "https" : "http"}://${host}:${address.port}`;
}

/**
 * `path` on this server and nowhere else. Resolving a path against a base URL would let one
 * that starts with "//" (or "/\\") name another host: the path is set on a copy of the
 * origin instead, and the origin is checked again.
 */
export function selfUrl(origin: string, path: string): URL {
    const url = new URL(origin);
    url.pathname = path;
    if (url.origin !== new URL(origin).origin || !url.pathname.startsWith("/")) throw new Error("the node's URL would leave this server");
    return url;
}

interface PostAnswer {
    status: number;
    body: string;
    headers: http.IncomingHttpHeaders;
}

function post(url: URL, headers: Record<string, string>, body: string): Promise<PostAnswer> {
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
        // Loopback to ourselves: a self-signed certificate is expected, not a threat.
        const req = transport.request(url, { method: "POST", headers, rejectUnauthorized: false, timeout: 10_000 }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
        });
        req.on("timeout", () => req.destroy(new Error("no answer within 10 seconds")));
        req.on("error", reject);
        req.end(body);
    });
}

/** A sender for a node of `provider` listening at `path` (below `mountPath`). */
export function testEventSender(
    RED: NodeAPI,
    provider: SomeProvider,
    nodePath: string,
    mountPath: () => string,
    secret: string | undefined,
): TestEventSender {
    let previous: { event: string; delivery: SignedDelivery } | undefined;
    return async (eventName, repeat = false) => {
        if (repeat && !previous) throw new Error("no test event was sent to this node yet: nothing to repeat");
        const event = repeat ? previous!.event : (eventName ?? sampleNames(provider)[0]!);
        const delivery = repeat ? previous!.delivery : await sampleDelivery(provider, event, secret);
        previous = { event, delivery };
        const url = selfUrl(loopbackOrigin(RED), `${mountPath()}${nodePath}${delivery.pathSuffix}`);
        const answer = await post(url, { ...delivery.headers, [TEST_EVENT_HEADER]: TEST_EVENT_NONCE }, delivery.body);
        const outcome = answer.headers[TEST_OUTCOME_HEADER];
        const deliveryId = answer.headers[TEST_DELIVERY_HEADER];
        return {
            event,
            status: answer.status,
            body: answer.body,
            outcome: outcome === "duplicate" || outcome === "accepted" ? outcome : undefined,
            deliveryId: typeof deliveryId === "string" ? deliveryId : undefined,
            repeat,
        };
    };
}
