/** A receiver's limits and their defaults: body size and time, de-duplication, load. */
import type { StateLimits } from "../dedup/state.js";

export interface ReceiverSettings extends StateLimits {
    /** Bodies larger than this are refused with 413. */
    readonly maxBodyBytes: number;
    /** A body that has not fully arrived this long after the request is cut off (408). */
    readonly bodyTimeoutMs: number;
    /** Deliveries handled at once, once their bodies are in; past this, 429 with Retry-After. */
    readonly maxConcurrent: number;
    /** A batch with more events than this is refused (413). */
    readonly maxBatchEvents: number;
    /** Bytes of bodies still arriving, at most (default: maxBufferedBytes(settings)). */
    readonly maxBufferedBytes?: number;
}

export const DEFAULT_SETTINGS: ReceiverSettings = {
    maxBodyBytes: 1024 * 1024,
    bodyTimeoutMs: 10_000,
    maxConcurrent: 256,
    maxBatchEvents: 1000,
    windowMs: 10 * 60 * 1000,
    maxEntries: 100_000,
};

/**
 * Bodies still arriving are bounded on their own, not by the deliveries being handled: a
 * sender that goes silent this long is cut off, and so is one whose body arrives slower than
 * the minimum rate once the grace period is over.
 */
export const BODY_IDLE_MS = 2000;
export const BODY_GRACE_MS = 2000;
export const BODY_MIN_BYTES_PER_SECOND = 16 * 1024;
/** Bytes of bodies still arriving, per node: the larger of this and 4 bodies of the size limit. */
export const MIN_BUFFERED_BYTES = 16 * 1024 * 1024;

export function maxBufferedBytes(settings: Pick<ReceiverSettings, "maxBodyBytes">): number {
    return Math.max(MIN_BUFFERED_BYTES, 4 * settings.maxBodyBytes);
}
