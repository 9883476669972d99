/**
 * De-duplication state shared by several Node-RED instances through Redis: two instances
 * behind a load balancer that both receive the same retry emit it once, and WMS sequence
 * tracking sees one stream. Each delivery reserves its identities in one atomic Lua script;
 * a reservation is "p:<owner>" while the delivery is taken in, "d" once acknowledged.
 */
import { createHash, randomUUID } from "node:crypto";
import type { DeliveryState, Identity, IdentityStatus, Reservation } from "./state.js";

/** The slice of a node-redis client this store uses. */
export interface RedisScripting {
    eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export interface RedisStateOptions {
    readonly keyPrefix: string;
    /** How long an identity is remembered once acknowledged, in ms. */
    readonly windowMs: number;
    /** How long a reservation holds before it is acknowledged or released: a crash frees it. */
    readonly pendingMs: number;
    /** A Redis call slower than this fails the delivery with 503 (the sender retries). */
    readonly timeoutMs: number;
}

// KEYS: identity key, highest-position key, … (pairs). ARGV: owner, pendingMs, windowMs, then a
// position per identity ("-" for none). Returns status, previous highest (-2: no stream), … (pairs).
const RESERVE = `
local owner, pending, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local result = {}
for i = 1, #KEYS / 2 do
  local id, highest, position = KEYS[2 * i - 1], KEYS[2 * i], ARGV[3 + i]
  if redis.call('SET', id, 'p:' .. owner, 'NX', 'PX', pending) then
    local previous = -2
    if position ~= '-' then
      previous = tonumber(redis.call('GET', highest) or '-1')
      redis.call('SET', highest, math.max(previous, tonumber(position)), 'PX', window)
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
return result`;

// KEYS: identity keys. ARGV: owner, windowMs ("" to release).
const SETTLE = `
for _, id in ipairs(KEYS) do
  if redis.call('GET', id) == 'p:' .. ARGV[1] then
    if ARGV[2] == '' then redis.call('DEL', id) else redis.call('SET', id, 'd', 'PX', tonumber(ARGV[2])) end
  end
end
return 0`;

const STATUS: Record<number, IdentityStatus> = { 0: "new", 1: "busy", 2: "seen" };

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class RedisState implements DeliveryState {
    constructor(private readonly client: RedisScripting, private readonly options: RedisStateOptions) {}

    /** Fixed-size keys whatever the ids a provider sends. */
    private key(kind: "id" | "hi", scope: string, name: string): string {
        return `${this.options.keyPrefix}${kind}:${createHash("sha256").update(`${scope}\n${name}`).digest("base64url")}`;
    }

    async reserve(scope: string, identities: readonly Identity[]): Promise<Reservation> {
        const owner = randomUUID();
        const ids = identities.map(({ key }) => this.key("id", scope, key));
        const keys = identities.flatMap(({ stream }, index) => [ids[index]!, this.key("hi", scope, stream?.name ?? "")]);
        const positions = identities.map(({ stream }) => (stream ? String(stream.position) : "-"));
        const reply = (await withTimeout(
            this.client.eval(RESERVE, {
                keys,
                arguments: [owner, String(this.options.pendingMs), String(this.options.windowMs), ...positions],
            }),
            this.options.timeoutMs,
        )) as number[];
        const statuses: IdentityStatus[] = [];
        const previousHighest: (number | undefined)[] = [];
        for (let index = 0; index < identities.length; index++) {
            statuses.push(STATUS[Number(reply[2 * index])] ?? "busy");
            const previous = Number(reply[2 * index + 1]);
            previousHighest.push(previous === -2 ? undefined : previous);
        }
        const settle = (windowMs: string) =>
            withTimeout(this.client.eval(SETTLE, { keys: ids, arguments: [owner, windowMs] }), this.options.timeoutMs);
        return {
            statuses,
            previousHighest,
            // If committing fails, the reservation lapses after pendingMs: a later retry may be emitted again, never lost.
            commit: () => void settle(String(this.options.windowMs)).catch(() => {}),
            release: () => settle("").then(() => {}),
        };
    }
}
