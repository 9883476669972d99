// Assertions the provider and pipeline tests share.
import assert = require("node:assert/strict");
import { Rejection } from "../../nodes/receive/provider.js";

/** Asserts that `action` throws (or rejects with) a Rejection of `status`, returning its reason. */
export async function rejects(action: () => unknown, status: number): Promise<string> {
    try {
        await action();
    } catch (error) {
        assert.ok(error instanceof Rejection, `expected a Rejection, got ${String(error)}`);
        assert.equal(error.status, status, error.reason);
        return error.reason;
    }
    assert.fail(`expected a ${status} rejection`);
}

/** Keys a provider prepares at once (every provider but MeshAgent, whose JWT library loads lazily). */
export function ready<Keys>(keys: Keys | Promise<Keys>): Keys {
    if (keys instanceof Promise) throw new Error("these keys are prepared asynchronously: await them");
    return keys;
}

/** Reads until `done` says yes (the log reports completion as the flow runs), at most `timeoutMs`; fails naming `what` and the last value. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await read();
        if (done(value)) return value;
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 600)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}
