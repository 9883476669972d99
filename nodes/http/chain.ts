/** Running middleware as Express would, for the short way: a chain, in order, until one answers or fails. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Middleware } from "./express-plan.js";

export type Next = (error?: unknown) => void;

/** Runs `chain` in order; `done` with the first error, or once the last calls next(). */
export function runChain(chain: readonly Middleware[], req: IncomingMessage, res: ServerResponse, done: Next): void {
    let position = 0;
    const next: Next = (error) => {
        if (error !== undefined || position === chain.length) return done(error);
        const middleware = chain[position++]!;
        try {
            middleware(req, res, next);
        } catch (thrown) {
            done(thrown);
        }
    };
    next();
}

/** A request URL without its query. */
export function pathOf(url: string): string {
    const query = url.indexOf("?");
    return query === -1 ? url : url.slice(0, query);
}

/** Middleware given in the settings: one function, or a list of them. */
export function middlewareList(value: unknown): Middleware[] {
    if (typeof value === "function") return [value as Middleware];
    return Array.isArray(value) ? (value as Middleware[]) : [];
}
