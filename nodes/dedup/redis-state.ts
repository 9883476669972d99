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
import type { DedupState, Identity, IdentityStatus, Reservation } from "./state.js";

/** The slice of a node-redis client this store uses. */
export interface RedisScripting {
    eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export interface RedisStateOptions {
    readonly keyPrefix: string;
    /** How long an identity is remembered once acknowledged, in ms. */
    readonly windowMs: number;
    /** The most identities (and streams) remembered per receiver. */
    readonly maxEntries: number;
    /** How long a reservation holds before it is acknowledged or released: a crash frees it. */
    readonly pendingMs: number;
    /** A Redis call slower than this fails the delivery with 503 (the sender retries). */
    readonly timeoutMs: number;
    /** How long a delivery waits for an identity another delivery is taking in. */
    readonly busyWaitMs: number;
    /** Told of every call's outcome: one that failed (timed out, or Redis unreachable), and one that answered. */
    readonly onFailure?: (reason: string) => void;
    readonly onAnswer?: () => void;
}

// KEYS: identity index, stream index, then (identity key, highest-position key) pairs.
// ARGV: owner, pendingMs, windowMs, maxEntries, now, then a position per identity ("-": none).
// Returns status, previous highest (-2: no stream), … (pairs).
const RESERVE = `
local owner, pending, window, max, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ids, streams = KEYS[1], KEYS[2]
redis.call('ZREMRANGEBYSCORE', ids, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', streams, '-inf', now - window)
local result = {}
for i = 1, (#KEYS - 2) / 2 do
  local id, highest, position = KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[5 + i]
  if redis.call('SET', id, 'p:' .. owner, 'NX', 'PX', pending) then
    redis.call('ZADD', ids, now, id)
    local previous = -2
    if position ~= '-' then
      previous = tonumber(redis.call('GET', highest) or '-1')
      redis.call('SET', highest, math.max(previous, tonumber(position)), 'PX', window)
      redis.call('ZADD', streams, now, highest)
    end
    table.insert(result, 0)
    table.insert(result, previous)
  elseif string.sub(redis.call('GET', id) or 'd', 1, 2) == 'p:' then
    table.insert(result, 1)
    table.insert(result, -2)
  else
    table.insert(result, 2)
    table.insert(result, -2)
  end
end
for _, index in ipairs({ids, streams}) do
  local excess = redis.call('ZCARD', index) - max
  if excess > 0 then
    local oldest = redis.call('ZPOPMIN', index, excess)
    for j = 1, #oldest, 2 do redis.call('DEL', oldest[j]) end
  end
end
redis.call('PEXPIRE', ids, window)
redis.call('PEXPIRE', streams, window)
return result`;

// KEYS: identity index, then identity keys. ARGV: owner, windowMs ("" to release), then per key
// how long it is remembered when longer than the window ("": the window).
const SETTLE = `
for i = 2, #KEYS do
  local id = KEYS[i]
  if redis.call('GET', id) == 'p:' .. ARGV[1] then
    if ARGV[2] == '' then
      redis.call('DEL', id)
      redis.call('ZREM', KEYS[1], id)
    else
      local keep = ARGV[i + 1]
      redis.call('SET', id, 'd', 'PX', tonumber((keep and keep ~= '') and keep or ARGV[2]))
    end
  end
end
return 0`;

const STATUS: Record<number, IdentityStatus> = { 0: "new", 1: "busy", 2: "seen" };
const BUSY_POLL_MS = 50;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RedisTimeout extends Error {
    constructor(ms: number) {
        super(`Redis did not answer within ${ms} ms`);
        this.name = "RedisTimeout";
    }
}

/** One script call, bounded in time; a call that timed out or failed is reported, one that answered too. */
export async function boundedCall(
    client: RedisScripting,
    script: string,
    keys: string[],
    args: string[],
    options: Pick<RedisStateOptions, "timeoutMs" | "onFailure" | "onAnswer">,
    /** Told of the reply of a call that timed out and ran after all (Redis resumed): to undo it. */
    late?: (reply: unknown) => void,
): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
            timedOut = true;
            reject(new RedisTimeout(options.timeoutMs));
        }, options.timeoutMs);
    });
    const call = client.eval(script, { keys, arguments: args });
    if (late) {
        call.then(
            (reply) => {
                if (timedOut) late(reply);
            },
            () => {},
        );
    }
    try {
        const reply = await Promise.race([call, timeout]);
        options.onAnswer?.();
        return reply;
    } catch (error) {
        options.onFailure?.(error instanceof Error ? error.message : String(error));
        throw error;
    } finally {
        clearTimeout(timer);
    }
}

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
