/**
 * Lists typed into a node's options, and the one event-name filter (MeshAgent's and Standard
 * Webhooks' "Events" option). The Webhooks tab's search is another thing: a prefix of a name
 * or key, typed to find deliveries (log/delivery-log.ts).
 */

/** "a, b\nc" → ["a", "b", "c"]: lists typed into a node's options. */
export function parseList(value: unknown, fallback: readonly string[]): string[] {
    if (typeof value !== "string" || value.trim() === "") return [...fallback];
    return value.split(/[\s,]+/).map((entry) => entry.trim()).filter(Boolean);
}

/** Whether event `name` matches one of `patterns`: "*" for all, exact names, or families such as "storage.*". */
export function eventWanted(name: string, patterns: readonly string[]): boolean {
    return patterns.some(
        (pattern) => pattern === "*" || pattern === name || (pattern.endsWith(".*") && name.startsWith(pattern.slice(0, -1))),
    );
}
