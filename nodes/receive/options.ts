/** Numbers typed into a node's dialog: blank, or not a number, means "use the default". */
import { DEFAULT_SETTINGS } from "./pipeline.js";

function numberIn(value: unknown): number {
    return typeof value === "string" && value.trim() === "" ? NaN : Number(value);
}

/** A positive number, else `fallback`. */
export function positiveNumber(value: unknown, fallback: number): number {
    const number = numberIn(value);
    return Number.isFinite(number) && number > 0 ? number : fallback;
}

/** A number of zero or more (0 often turns a check off), else undefined. */
export function nonNegativeNumber(value: unknown): number | undefined {
    if (value === undefined || value === null) return undefined;
    const number = numberIn(value);
    return Number.isFinite(number) && number >= 0 ? number : undefined;
}

/** The node's de-duplication window in seconds, as the pipeline reads it. */
export function dedupWindowSeconds(raw: { readonly dedupSeconds?: unknown }): number {
    return positiveNumber(raw.dedupSeconds, DEFAULT_SETTINGS.windowMs / 1000);
}
