/**
 * Calls to Redis, as both Redis stores make them (de-duplication state, kept deliveries): one
 * Lua script at a time, bounded in time, its outcome reported.
 */

/** The slice of a node-redis client this store uses. */
export interface RedisScripting {
    eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** How a call is bounded and reported. */
export interface RedisCallOptions {
    /** A Redis call slower than this fails (the delivery is answered 503: the sender retries). */
    readonly timeoutMs: number;
    /** Told of every call's outcome: one that failed (timed out, or Redis unreachable), and one that answered. */
    readonly onFailure?: (reason: string) => void;
    readonly onAnswer?: () => void;
}

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
    options: RedisCallOptions,
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
