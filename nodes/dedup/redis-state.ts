/**
 * De-duplication state shared by several Node-RED instances through Redis: two instances
 * behind a load balancer that both receive the same retry emit it once, and WMS sequence
 * tracking sees one stream. Each delivery reserves its identities in one atomic Lua script;
 * a reservation is "p:<owner>" while the delivery is taken in, "d" once acknowledged.
 *
 * What it guarantees: a delivery is answered 2xx for an identity only if it emits it, or if a
 * delivery that was already answered 2xx did ("d"). An identity another delivery is still
 * taking in ("busy") is waited for a moment; if it is still busy, the delivery is answered 503
 * and retried. A reservation whose delivery failed, or whose Redis call timed out, is
 * released, so the retry is taken. Keys are bounded in time (the window) and in count (per
 * receiver, oldest dropped first), as in memory.
 */
import { createHash, randomUUID } from "node:crypto";
import { join } from "node:path";
import { boundedCall, type RedisCallOptions, type RedisScripting } from "../redis/calls.js";
import { luaScript } from "../redis/lua.js";
import type { DedupState, Identity, IdentityStatus, Reservation } from "./state.js";

export { RedisTimeout, type RedisScripting } from "../redis/calls.js";

export interface RedisStateOptions extends RedisCallOptions {
    readonly keyPrefix: string;
    /** How long an identity is remembered once acknowledged, in ms. */
    readonly windowMs: number;
    /** The most identities (and streams) remembered per receiver. */
    readonly maxEntries: number;
    /** How long a reservation holds before it is acknowledged or released: a crash frees it. */
    readonly pendingMs: number;
    /** How long a delivery waits for an identity another delivery is taking in. */
    readonly busyWaitMs: number;
}

// Its Lua scripts, each with its KEYS and ARGV, in lua/.
const RESERVE = luaScript(join(__dirname, "lua"), "reserve");
const SETTLE = luaScript(join(__dirname, "lua"), "settle");

const STATUS: Record<number, IdentityStatus> = { 0: "new", 1: "busy", 2: "seen" };
const BUSY_POLL_MS = 50;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RedisState implements DedupState {
    constructor(private readonly client: RedisScripting, private readonly options: RedisStateOptions) {}

    /** Fixed-size keys whatever the ids a provider sends. */
    private key(kind: "id" | "hi", scope: string, name: string): string {
        return `${this.options.keyPrefix}${kind}:${createHash("sha256").update(`${scope}\n${name}`).digest("base64url")}`;
    }

    private index(kind: "ids" | "streams", scope: string): string {
        return `${this.options.keyPrefix}${kind}:${createHash("sha256").update(scope).digest("base64url")}`;
    }

    private call(script: string, keys: string[], args: string[]): Promise<unknown> {
        return boundedCall(this.client, script, keys, args, this.options);
    }

    async reserve(scope: string, identities: readonly Identity[]): Promise<Reservation> {
        const owner = randomUUID();
        const ids = identities.map(({ key }) => this.key("id", scope, key));
        const indexes = [this.index("ids", scope), this.index("streams", scope)];
        const settle = (windowMs: string, longer: string[] = []) => this.call(SETTLE, [indexes[0]!, ...ids], [owner, windowMs, ...longer]);

        const statuses: IdentityStatus[] = new Array(identities.length).fill("busy");
        const previousHighest: (number | undefined)[] = new Array(identities.length).fill(undefined);
        const attempt = async (positions: number[]) => {
            const keys = [...indexes];
            const args = [owner, String(this.options.pendingMs), String(this.options.windowMs), String(this.options.maxEntries), String(Date.now())];
            for (const position of positions) {
                const { stream } = identities[position]!;
                keys.push(ids[position]!, this.key("hi", scope, stream?.name ?? ""));
                args.push(stream ? String(stream.position) : "-");
            }
            const reply = (await this.call(RESERVE, keys, args)) as number[];
            positions.forEach((position, index) => {
                statuses[position] = STATUS[Number(reply[2 * index])] ?? "busy";
                const previous = Number(reply[2 * index + 1]);
                previousHighest[position] = previous === -2 ? undefined : previous;
            });
        };

        try {
            await attempt(identities.map((_identity, position) => position));
            // Another delivery is taking an identity in: wait for it to be answered ("d") or released.
            const deadline = Date.now() + this.options.busyWaitMs;
            let busy = statuses.flatMap((status, position) => (status === "busy" ? [position] : []));
            while (busy.length > 0 && Date.now() + BUSY_POLL_MS <= deadline) {
                await sleep(BUSY_POLL_MS);
                await attempt(busy);
                busy = statuses.flatMap((status, position) => (status === "busy" ? [position] : []));
            }
        } catch (error) {
            // The script may still run once Redis answers: undo whatever it reserved for this owner.
            settle("").catch(() => {});
            throw error;
        }
        return {
            statuses,
            previousHighest,
            // If committing fails, the reservation lapses after pendingMs: a later retry may be emitted again, never lost.
            // An identity a copy could still pass the time check with is kept past the window (an event stamped ahead).
            commit: () => {
                const now = Date.now();
                const longer = identities.map(({ until }) => (until !== undefined && until - now > this.options.windowMs ? String(Math.ceil(until - now)) : ""));
                void settle(String(this.options.windowMs), longer.some(Boolean) ? longer : []).catch(() => {});
            },
            release: () => settle("").then(() => {}),
        };
    }
}
