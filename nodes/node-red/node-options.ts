/**
 * A receiver node's options and their defaults, in one place: how the runtime reads them from a
 * node's configuration, and what the editor shows for a new node (scripts/build.js renders the
 * editor files from editorDefaults, so the two never differ). An option a flow leaves out (a
 * flow from an older version, or deployed through the admin API) takes its default.
 */
import { DEFAULT_LOG_LIMITS } from "../log/delivery-log.js";
import { DEFAULT_SETTINGS, type ReceiverSettings } from "../receive/pipeline.js";
import { dedupWindowSeconds, positiveNumber } from "../receive/options.js";
import type { SomeProvider } from "../receive/provider.js";

/** A node's options as the flow holds them: strings from the dialog, numbers from a script, or nothing. */
export interface ReceiverOptions {
    /** Size limit in KiB. */
    readonly maxBodyKiB?: unknown;
    /** De-duplication window in seconds. */
    readonly dedupSeconds?: unknown;
    /** Seconds a body may take to arrive. */
    readonly bodyTimeoutSeconds?: unknown;
    /** Deliveries handled at once. */
    readonly maxConcurrent?: unknown;
    /** Events a batch may hold. */
    readonly maxBatchEvents?: unknown;
    /** Deliveries the delivery log keeps (0: none). */
    readonly logDeliveries?: unknown;
    /** Hours the delivery log keeps a delivery. */
    readonly logHours?: unknown;
    /** Keep deliveries until handled. */
    readonly keep?: unknown;
    /** Keep deliveries until handled, as flows saved by 0.2 and before name it (read when `keep` is unset). */
    readonly persist?: unknown;
    /** Emissions of a kept event before it is parked as failed. */
    readonly maxAttempts?: unknown;
}

/** Emissions of a kept event before it is parked as failed (Max. attempts). */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** A shared-state node: seconds before another instance takes over a silent one's kept events (Take over after). */
export const DEFAULT_CLAIM_SECONDS = 10;

/** A mentra-app node: sessions it holds at once at most (Max. sessions). */
export { DEFAULT_MAX_SESSIONS } from "../mentra/app.js";

/** Whether a node of `provider` keeps deliveries until handled unless told otherwise: a provider that never retries loses what a crash loses. */
export function keepsByDefault(provider: Pick<SomeProvider, "retries">): boolean {
    return provider.retries === false;
}

/**
 * Whether a node keeps deliveries until handled, as its flow says (`keep`, or the `persist` of
 * flows saved by 0.2 and before), or undefined when the flow leaves it out (the provider's
 * default applies).
 */
export function keepOption(config: ReceiverOptions): boolean | undefined {
    const value = config.keep === undefined || config.keep === "" ? config.persist : config.keep;
    if (value === undefined || value === "") return undefined;
    return value === true || value === "true";
}

/** The receiving limits of a node. */
export function receiverSettings(config: ReceiverOptions): ReceiverSettings {
    return {
        maxBodyBytes: Math.floor(positiveNumber(config.maxBodyKiB, DEFAULT_SETTINGS.maxBodyBytes / 1024) * 1024),
        windowMs: Math.floor(dedupWindowSeconds(config) * 1000),
        bodyTimeoutMs: Math.floor(positiveNumber(config.bodyTimeoutSeconds, DEFAULT_SETTINGS.bodyTimeoutMs / 1000) * 1000),
        maxConcurrent: Math.floor(positiveNumber(config.maxConcurrent, DEFAULT_SETTINGS.maxConcurrent)),
        maxBatchEvents: Math.floor(positiveNumber(config.maxBatchEvents, DEFAULT_SETTINGS.maxBatchEvents)),
        maxEntries: DEFAULT_SETTINGS.maxEntries,
    };
}

/** The bounds of a node's delivery log (its Delivery log option), read where the log's defaults are. */
export { logLimitsOf as logLimits } from "../log/delivery-log.js";

/** Max. attempts of a node that keeps deliveries. */
export function maxAttempts(config: ReceiverOptions): number {
    return Math.floor(positiveNumber(config.maxAttempts, DEFAULT_MAX_ATTEMPTS));
}

/** What the editor shows for a new node of `provider`: the defaults the runtime takes. */
export function editorDefaults(provider: Pick<SomeProvider, "retries" | "batches">): Record<string, number | boolean> {
    return {
        maxBodyKiB: DEFAULT_SETTINGS.maxBodyBytes / 1024,
        dedupSeconds: DEFAULT_SETTINGS.windowMs / 1000,
        bodyTimeoutSeconds: DEFAULT_SETTINGS.bodyTimeoutMs / 1000,
        maxConcurrent: DEFAULT_SETTINGS.maxConcurrent,
        ...(provider.batches ? { maxBatchEvents: DEFAULT_SETTINGS.maxBatchEvents } : {}),
        logDeliveries: DEFAULT_LOG_LIMITS.maxDeliveries,
        logHours: DEFAULT_LOG_LIMITS.maxAgeMs / 3_600_000,
        keep: keepsByDefault(provider),
        maxAttempts: DEFAULT_MAX_ATTEMPTS,
    };
}
