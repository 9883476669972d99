/** Secret handling shared by providers: parsing, constant-time comparison, path tokens. */
import { createHash, timingSafeEqual } from "node:crypto";
import { Rejection, type DeliveryHead, type Provider, type Verification } from "./provider.js";

/** A secret line naming an environment variable: `${NAME}`. */
const ENV_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/**
 * The token a node whose provider signs nothing takes in its URL: its first secret line, or,
 * when that line names an environment variable, the variable's name (never read out).
 */
export function urlTokenOf(text: unknown): { token: string | null; env: string | null } {
    const first = typeof text === "string" ? text.split(/\r?\n/).map((line) => line.trim()).find(Boolean) : undefined;
    const env = first ? ENV_REFERENCE.exec(first)?.[1] : undefined;
    return { token: env ? null : (first ?? null), env: env ?? null };
}

/**
 * One secret per line; several lines allow rotation. A line that is exactly `${NAME}`
 * is looked up with `lookup` (Node-RED's environment variables).
 */
export function parseSecrets(text: unknown, lookup: (name: string) => string | undefined = () => undefined): string[] {
    if (typeof text !== "string") return [];
    const secrets: string[] = [];
    for (const line of text.split(/\r?\n/)) {
        const trimmed = line.trim();
        if (!trimmed) continue;
        const reference = ENV_REFERENCE.exec(trimmed);
        const value = reference ? lookup(reference[1]!) : trimmed;
        // An environment variable may itself hold several secrets, one per line.
        if (value) secrets.push(...(reference ? parseSecrets(value) : [value]));
    }
    return secrets;
}

function sha256(value: string | Buffer): Buffer {
    return createHash("sha256").update(value).digest();
}

/** Digests of the secrets, so that comparison takes the same time whatever the lengths. */
export function tokenDigests(secrets: readonly string[]): Buffer[] {
    return secrets.map(sha256);
}

/** Compares against every digest (no early exit) so timing tells nothing about which matched. */
export function matchesAnyDigest(candidate: string, digests: readonly Buffer[]): boolean {
    const candidateDigest = sha256(candidate);
    let matched = false;
    for (const digest of digests) {
        matched = timingSafeEqual(candidateDigest, digest) || matched;
    }
    return matched;
}

type Suffixes = readonly (readonly string[])[];

/** `segments` without the provider's suffix it ends with, if any (the longest that fits). */
export function withoutSuffix(segments: readonly string[], suffixes: Suffixes = []): readonly string[] {
    let longest = 0;
    for (const suffix of suffixes) {
        const start = segments.length - suffix.length;
        if (suffix.length > longest && start >= 0 && suffix.every((segment, index) => segments[start + index] === segment)) longest = suffix.length;
    }
    return longest === 0 ? segments : segments.slice(0, segments.length - longest);
}

/** Which segments may follow a node's path for `provider`: a token, then one of its suffixes. */
export function extraPathRule(provider: Pick<Provider<unknown, unknown, unknown>, "pathToken" | "pathSuffixes">) {
    const suffixes = provider.pathSuffixes ?? [];
    const tokenSegments = provider.pathToken ? 1 : 0;
    return {
        maxSegments: tokenSegments + Math.max(0, ...suffixes.map((suffix) => suffix.length)),
        accepts: (segments: readonly string[]) => withoutSuffix(segments, suffixes).length <= tokenSegments,
    };
}

/**
 * For providers that sign nothing: the only shared secret is an unguessable token, carried
 * as the last path segment (before the provider's own suffix) or as a `token` query
 * parameter. Without configured secrets every delivery passes, unverified.
 */
export function verifyPathToken(delivery: DeliveryHead, digests: readonly Buffer[], suffixes?: readonly (readonly string[])[]): Verification {
    if (digests.length === 0) return { verified: false };
    const segments = withoutSuffix(delivery.path, suffixes);
    const candidates: string[] = [];
    const last = segments[segments.length - 1];
    if (last !== undefined) candidates.push(last);
    if (delivery.query) {
        const token = new URLSearchParams(delivery.query).get("token");
        if (token !== null) candidates.push(token);
    }
    if (candidates.length === 0) throw new Rejection(401, "missing token");
    // Check every candidate, so a wrong path token costs the same as a wrong query token.
    let matched = false;
    for (const candidate of candidates) matched = matchesAnyDigest(candidate, digests) || matched;
    if (!matched) throw new Rejection(401, "invalid or missing token");
    return { verified: true };
}
