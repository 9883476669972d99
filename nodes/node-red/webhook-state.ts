/**
 * webhook-state: a config node that receiver nodes select to share de-duplication state
 * through Redis, so that several Node-RED instances behind a load balancer emit each
 * delivery once. Without it, a receiver keeps its state in memory.
 */
import type { Node, NodeAPI, NodeDef } from "node-red";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import fs = require("node:fs");
import os = require("node:os");
import { createClient } from "redis";
import { positiveNumber } from "../receive/options.js";
import { RedisKeptEvents } from "../keep/redis-store.js";
import { packageFiles, privatePackageFiles } from "../keep/package-files.js";
import { RedisState } from "../dedup/redis-state.js";
import type { SharedStateNode } from "../dedup/state.js";
import { redisPubSub } from "../redis/pubsub.js";
import type { SharedMessagesNode } from "./mentra-shared.js";
import { DEFAULT_CLAIM_SECONDS } from "./node-options.js";

interface StateNodeDef extends NodeDef {
    url?: string;
    keyPrefix?: string;
    /** Seconds after which another instance takes over the kept events of one that stopped. */
    claimSeconds?: number | string;
}

/**
 * A live instance touches its kept events three times per this; only one whose event loop is
 * stuck longer (or that is dead) loses them. Short, so that a crash delays them little.
 */

/**
 * This Node-RED instance's name in the streams' consumer groups: the host's name and a random
 * name kept in its user directory, so that after a restart it reads back the events it still
 * owes. The host's name keeps two instances apart whose user directories were copied from
 * one (a container image): sharing a name, each would take the other's events as its own.
 * A new name (a new host, a lost file) only leaves the old one's events to the claim timeout.
 */
function instanceName(userDir: string): string {
    const file = packageFiles(userDir).instance;
    let name = "";
    try {
        name = fs.readFileSync(file, "utf8").trim();
    } catch {
        // first start: made below
    }
    if (!name) {
        name = randomUUID();
        try {
            fs.writeFileSync(privatePackageFiles(userDir).instance, name);
        } catch {
            // a read-only user directory: a name for this run
        }
    }
    return `${os.hostname()}/${name}`;
}

/**
 * The key that authenticates kept entries in Redis: the node's Entry key (a credential, the
 * same on every instance that deploys these flows), else one made for this user directory
 * (then only this instance can read back its entries: `onLocalKey` says so once).
 */
function entryKeyOf(configured: string | undefined, userDir: string, onLocalKey: () => void): Buffer {
    let secret = configured?.trim();
    if (!secret) {
        const file = packageFiles(userDir).entryKey;
        try {
            secret = fs.readFileSync(file, "utf8").trim();
        } catch {
            secret = randomBytes(32).toString("base64url");
            try {
                fs.writeFileSync(privatePackageFiles(userDir).entryKey, secret, { mode: 0o600 });
            } catch {
                // a read-only user directory: a key for this run
            }
        }
        onLocalKey();
    }
    return createHash("sha256").update("verified-webhooks kept entries\n").update(secret).digest();
}

/**
 * A Redis call slower than this answers the delivery 503 (SynthesisVR gives up after 2 s),
 * and an identity another delivery is taking in is waited for this long at most.
 */
const REDIS_TIMEOUT_MS = 1000;
const BUSY_WAIT_MS = 750;

/** A Redis client that fails fast while Redis is away, and says so once per outage (and once when it is back). */
function connectRedis(RED: NodeAPI, node: Node<{ password?: string }>, url: string) {
    const client = createClient({
        url,
        password: node.credentials?.password || undefined,
        // Fail fast while Redis is away: the delivery is answered 503 and the provider retries.
        disableOfflineQueue: true,
        socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
    });
    // One warning per outage, whether Redis refuses connections, drops them, or accepts and never answers.
    let unavailable = false;
    const onFailure = (reason: string) => {
        if (unavailable) return;
        unavailable = true;
        node.warn(RED._("webhook-state.errors.unavailable", { message: reason }));
    };
    const onAnswer = () => {
        if (!unavailable) return;
        unavailable = false;
        node.log(RED._("webhook-state.status.back"));
    };
    client.on("error", (error: Error) => onFailure(error.message));
    client.on("ready", onAnswer);
    client.connect().catch(() => {}); // reconnects on its own; errors are reported above
    return { client, health: { onFailure, onAnswer } };
}

type StateNode = Node<{ password?: string; entryKey?: string }> & SharedStateNode & SharedMessagesNode;

/** This instance as the shared-state node knows it: the Entry key and the instance's name, each read (from the user directory) once, on first use. */
interface InstanceIdentity {
    entryKey(): Buffer;
    instance(): string;
}

function instanceIdentity(RED: NodeAPI, node: StateNode): InstanceIdentity {
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    let entryKey: Buffer | undefined;
    let instance: string | undefined;
    return {
        entryKey: () => (entryKey ??= entryKeyOf(node.credentials?.entryKey, userDir, () => node.warn(RED._("webhook-state.errors.local-entry-key")))),
        instance: () => (instance ??= instanceName(userDir)),
    };
}

/** Where the node's receivers keep deliveries until handled: a Redis Stream per endpoint, entries sealed with the entry key. */
function keptEventsIn(RED: NodeAPI, node: StateNode, config: StateNodeDef, client: unknown, keyPrefix: string, health: { onFailure(reason: string): void; onAnswer(): void }, identity: InstanceIdentity): SharedStateNode["keptEventsFor"] {
    const claimAfterMs = Math.floor(positiveNumber(config.claimSeconds, DEFAULT_CLAIM_SECONDS) * 1000);
    return (scope) =>
        new RedisKeptEvents(client as never, {
            entryKey: identity.entryKey(),
            onForged: (stream) => node.warn(RED._("webhook-state.errors.forged", { stream })),
            stream: `${keyPrefix}kept:${createHash("sha256").update(scope).digest("base64url")}`,
            group: "verified-webhooks",
            consumer: identity.instance(),
            claimAfterMs,
            timeoutMs: REDIS_TIMEOUT_MS,
            ...health,
        });
}

export = (RED: NodeAPI): void => {
    function WebhookStateNode(this: StateNode, config: StateNodeDef) {
        RED.nodes.createNode(this, config);
        const node = this;
        const url = config.url || "redis://127.0.0.1:6379";
        // A password in the URL would sit in the flow file in plain text: it belongs in the Password credential.
        if (/^[a-z]+:\/\/[^/]*@/i.test(url)) {
            node.error(RED._("webhook-state.errors.credentials-in-url"));
            return;
        }
        const { client, health } = connectRedis(RED, node, url);
        const keyPrefix = config.keyPrefix || "verified-webhooks:";
        node.stateFor = ({ windowMs, maxEntries }) =>
            new RedisState(client as never, { keyPrefix, windowMs, maxEntries, pendingMs: 5000, timeoutMs: REDIS_TIMEOUT_MS, busyWaitMs: BUSY_WAIT_MS, ...health });
        const identity = instanceIdentity(RED, node);
        node.keptEventsFor = keptEventsIn(RED, node, config, client, keyPrefix, health, identity);
        const pubSub = redisPubSub(client as never, (error) => health.onFailure(error.message));
        node.sharedMessages = () => {
            // Its own key, apart from the kept entries' (one key, one use).
            const key = createHash("sha256").update("verified-webhooks messages\n").update(identity.entryKey()).digest();
            return { pubSub, key, instance: identity.instance(), channelPrefix: keyPrefix };
        };
        node.on("close", (done: () => void) => {
            pubSub
                .close()
                .then(() => client.close())
                .catch(() => client.destroy())
                .finally(done);
        });
    }

    RED.nodes.registerType("webhook-state", WebhookStateNode as never, { credentials: { password: { type: "password" }, entryKey: { type: "password" } } } as never);
};
