// Secrets stay secret: everything Node-RED wrote to its log, every node status it showed and
// every output-2 message, across all suites, is searched at the end for any secret that was
// deployed, any signature and any body.
const captured: { source: string; text: string }[] = [];
const secrets = new Set<string>();

/** Values that only ever appear inside request bodies the tests send. */
const BODY_MARKERS = ["ryueiwoqfh910fu3rpqruvfiu", "jane.doe@example.com", "café-standup", "caf\\u00e9", "Kamen Test", "f0c8ca8d-111d-4dcf-a69d-46ed39a2db06"];
const SIGNATURES = [/hmac-sha256=[0-9a-f]{16}/i, /eyJ[A-Za-z0-9_-]{8,}\.eyJ/, /Bearer\s+[A-Za-z0-9_-]{20,}/];

function watchSecret(...values: unknown[]): void {
    for (const value of values) {
        for (const line of String(value).split(/\r?\n/)) if (line.trim().length >= 4) secrets.add(line.trim());
    }
}

function capture(source: string, text: unknown): void {
    captured.push({ source, text: typeof text === "string" ? text : JSON.stringify(text) });
}

function findings(): string[] {
    const found: string[] = [];
    for (const { source, text } of captured) {
        for (const secret of secrets) if (text.includes(secret)) found.push(`${source}: a secret (${secret.slice(0, 3)}…)`);
        for (const pattern of SIGNATURES) if (pattern.test(text)) found.push(`${source}: a signature (${pattern})`);
        for (const marker of BODY_MARKERS) if (text.includes(marker)) found.push(`${source}: a body (${marker})`);
    }
    return [...new Set(found)];
}

const mochaHooks: Mocha.RootHookObject = {
    afterAll() {
        if (captured.length === 0) return;
        const found = findings();
        if (found.length) throw new Error(`secrets, signatures or bodies leaked:\n${found.slice(0, 20).join("\n")}`);
    },
};

export { watchSecret, capture, findings, mochaHooks, captured };
