// Hostile input, generated: at least 10,000 requests per provider against a real Node-RED.
// Outcome: no crash, no 5xx, every refusal a specified 4xx with a one-line reason and one
// message on output 2, and nothing without valid credentials ever on output 1.
import assert = require("node:assert/strict");
import http = require("node:http");
import { createHash, createHmac, generateKeyPairSync, sign as rsaSign } from "node:crypto";
import fc = require("fast-check");
import { NodeRedProcess, request, type FlowNode } from "../support/node-red-process.js";
import { wmsSeedBodyNow, mentraSession, synthesisBatch, meshagentEvent, toPythonJson } from "../support/fixtures.js";
import { wmsSignature } from "../../nodes/providers/wms.js";

const RUNS = Number(process.env.FUZZ_RUNS || 10000);
const SECRET = "fuzz-secret";
const TOKEN = "fuzz-token";
const ALLOWED = new Set([200, 400, 401, 403, 405, 413, 415]);

/** A flow whose outputs are counted in flow context and read back through an `http in` route. */
function countingFlow(): FlowNode[] {
    const tab = "tab-fuzz";
    const nodes: FlowNode[] = [{ id: tab, type: "tab", label: "fuzz" }];
    const receivers = [
        { id: "wms", type: "wms-webhook", path: "/wms", credentials: { secret: SECRET } },
        { id: "meshagent", type: "meshagent-webhook", path: "/meshagent", credentials: { secret: SECRET } },
        { id: "mentra", type: "mentra-webhook", path: "/mentra", credentials: { secret: TOKEN } },
        { id: "synthesis", type: "synthesis-webhook", path: "/synthesis", credentials: { secret: TOKEN } },
    ];
    for (const receiver of receivers) {
        const count = (output: number, check: string): FlowNode => ({
            id: `${receiver.id}-count${output}`,
            type: "function",
            z: tab,
            outputs: 0,
            // Also looks for prototype pollution inside Node-RED's own process.
            func: `const key = ${JSON.stringify(`${receiver.id}:${output}`)};\n${check}\nif (({}).polluted !== undefined) flow.set("polluted", true);\nflow.set(key, (flow.get(key) || 0) + 1);\nreturn null;`,
            wires: [],
        });
        nodes.push(
            { ...receiver, z: tab, wires: [[`${receiver.id}-count1`], [`${receiver.id}-count2`]] },
            // Anything on output 1 that was not verified is a forgery that got through.
            count(1, "if (!msg.webhook || msg.webhook.verified !== true) flow.set('forged', (flow.get('forged') || 0) + 1);"),
            count(2, "if (JSON.stringify(msg).includes(" + JSON.stringify(SECRET) + ")) flow.set('leaked', (flow.get('leaked') || 0) + 1);"),
        );
    }
    nodes.push(
        { id: "counts-in", type: "http in", z: tab, url: "/fuzz-counts", method: "get", wires: [["counts-fn"]] },
        { id: "counts-fn", type: "function", z: tab, func: "msg.payload = Object.fromEntries(flow.keys().map((k) => [k, flow.get(k)]));\nreturn msg;", outputs: 1, wires: [["counts-out"]] },
        { id: "counts-out", type: "http response", z: tab, wires: [] },
    );
    return nodes;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
type Headers = Record<string, string | string[]>;
interface Sent {
    method: string;
    path: string;
    headers: Headers;
    body: string | undefined;
}

function send(port: number, { method, path, headers, body }: Sent): Promise<{ status: number | "reset"; text: string }> {
    // Node's client frames a DELETE body neither by length nor by chunks unless told.
    if (body !== undefined) headers = { ...headers, "content-length": String(Buffer.byteLength(body)) };
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        });
        req.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" || error.code === "EPIPE" ? resolve({ status: "reset", text: "" }) : reject(error)));
        req.end(body);
    });
}

// ---- generated bodies -------------------------------------------------------------------
const oddString = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom("\u0000", "\ud800", "\udfff", "\u202e", "\ufeff", "🙂", "e\u0301", "\u2028"),
    fc.string({ maxLength: 20 }),
);
const jsonValue = fc.jsonValue({ maxDepth: 3 });
/** Names and objects that break code which looks keys up or turns values into strings. */
const hostileValue = fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", { toString: 1 }, { valueOf: null, toString: null }, { __proto__: null, x: 1 });
const deepNesting = fc.integer({ min: 100, max: 20000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth));
const hugeString = fc.integer({ min: 50_000, max: 1_100_000 }).map((length) => JSON.stringify({ padding: "x".repeat(length) }));

/** A valid event (or a batch of them, as SynthesisVR sends): the shape the fuzzer starts from. */
type Valid = Record<string, unknown> | Record<string, unknown>[];
const firstOf = (event: Valid): Record<string, unknown> => (Array.isArray(event) ? event[0]! : event);

/** Mutates a valid event: fields replaced, removed or given odd values. */
function mutated(event: Valid) {
    const keys = Object.keys(firstOf(event));
    return fc
        .record({ key: fc.constantFrom(...keys), value: fc.oneof(jsonValue, oddString, hostileValue), remove: fc.boolean() })
        .map(({ key, value, remove }) => {
            const copy = structuredClone(event);
            const target = firstOf(copy);
            if (remove) delete target[key];
            else target[key] = value;
            return copy;
        });
}

function bodies(validEvent: Valid, serialise: (value: unknown) => string = JSON.stringify) {
    return fc.oneof(
        { weight: 3, arbitrary: fc.constant(validEvent).map(serialise) },
        { weight: 3, arbitrary: mutated(validEvent).map(serialise) },
        { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 80 }).map((cut) => serialise(validEvent).slice(0, cut)) },
        { weight: 1, arbitrary: jsonValue.map((value) => JSON.stringify(value) ?? "null") },
        { weight: 1, arbitrary: deepNesting },
        { weight: 1, arbitrary: oddString.map((text) => serialise({ ...firstOf(validEvent), extra: text })) },
        { weight: 1, arbitrary: hugeString },
        { weight: 1, arbitrary: fc.constant("") },
        { weight: 1, arbitrary: fc.constant(serialise(validEvent).replace(/^(\[?)\{/, '$1{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, ')) },
    );
}

const contentTypes = fc.oneof(
    { weight: 6, arbitrary: fc.constant("application/json") },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom("text/plain", "multipart/form-data; boundary=x", "application/xml", "application/json; charset=utf-16", "image/png", ";;;", "application/cloudevents+json") },
);
const methods = fc.oneof({ weight: 12, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: fc.constantFrom("GET", "PUT", "DELETE", "PATCH") });

// ---- generated credentials --------------------------------------------------------------
const b64url = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const { privateKey: rsaKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
function jwt(header: object, claims: object, sign: (input: string) => string): string {
    const input = `${b64url(header)}.${b64url(claims)}`;
    return `${input}.${sign(input)}`;
}
const hmac = (algorithm: string, key: string) => (input: string) => createHmac(algorithm, key).update(input).digest("base64url");
const rsa = (input: string) => rsaSign("sha256", Buffer.from(input), rsaKey).toString("base64url");

const meshCredentials = ["valid", "missing", "none", "HS512", "RS256", "wrong key", "expired", "future nbf", "wrong sha256", "garbage", "basic", "duplicated"];
function meshagentHeader(kind: string, body: string): string | string[] | undefined {
    const sha256 = createHash("sha256").update(body).digest("hex");
    const now = Math.floor(Date.now() / 1000);
    const hs256 = hmac("sha256", SECRET);
    switch (kind) {
        case "valid": return `Bearer ${jwt({ alg: "HS256", typ: "JWT" }, { sha256 }, hs256)}`;
        case "missing": return undefined;
        case "none": return `Bearer ${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sha256 })}.`;
        case "HS512": return `Bearer ${jwt({ alg: "HS512" }, { sha256 }, hmac("sha512", SECRET))}`;
        case "RS256": return `Bearer ${jwt({ alg: "RS256" }, { sha256 }, rsa)}`;
        case "wrong key": return `Bearer ${jwt({ alg: "HS256" }, { sha256 }, hmac("sha256", "not-the-secret"))}`;
        case "expired": return `Bearer ${jwt({ alg: "HS256" }, { sha256, exp: now - 30 }, hs256)}`;
        case "future nbf": return `Bearer ${jwt({ alg: "HS256" }, { sha256, nbf: now + 600 }, hs256)}`;
        case "wrong sha256": return `Bearer ${jwt({ alg: "HS256" }, { sha256: createHash("sha256").update(body + "x").digest("hex") }, hs256)}`;
        case "garbage": return "Bearer not-a-jwt";
        case "basic": return `Basic ${b64url("user:pass")}`;
        default: {
            const valid = `Bearer ${jwt({ alg: "HS256", typ: "JWT" }, { sha256 }, hs256)}`;
            return [valid, valid];
        }
    }
}

const wmsCredentials = ["valid", "missing", "wrong prefix", "upper-case hex", "upper-case prefix", "other body", "random", "duplicated", "empty"];
function wmsHeader(kind: string, body: string): string | string[] | undefined {
    const valid = wmsSignature(body, SECRET);
    switch (kind) {
        case "valid": return valid;
        case "missing": return undefined;
        case "wrong prefix": return valid.replace("hmac-sha256=", "sha256=");
        case "upper-case hex": return "hmac-sha256=" + valid.slice(12).toUpperCase();
        case "upper-case prefix": return valid.replace("hmac-sha256=", "HMAC-SHA256=");
        case "other body": return wmsSignature(body + " ", SECRET);
        case "random": return "hmac-sha256=" + createHash("sha256").update(String(Math.random())).digest("hex");
        case "duplicated": return [valid, valid];
        default: return "";
    }
}

const tokenCredentials = ["path", "query", "missing", "wrong path", "wrong query", "case"];
function tokenPath(kind: string, base: string, suffix = ""): string {
    switch (kind) {
        case "path": return `${base}/${TOKEN}${suffix}`;
        case "query": return `${base}${suffix}?token=${TOKEN}`;
        case "missing": return `${base}${suffix}`;
        case "wrong path": return `${base}/not-${TOKEN}${suffix}`;
        case "wrong query": return `${base}${suffix}?token=${TOKEN}x`;
        default: return `${base}/${TOKEN.toUpperCase()}${suffix}`;
    }
}

interface FuzzedProvider {
    credentials: string[];
    bodies: fc.Arbitrary<string>;
    request(kind: string, body: string): { path: string; headers: Record<string, string | string[] | undefined> };
}

const PROVIDERS: Record<string, FuzzedProvider> = {
    wms: {
        credentials: wmsCredentials,
        bodies: bodies(JSON.parse(wmsSeedBodyNow()) as Record<string, unknown>),
        request: (kind, body) => ({ path: "/wms", headers: { "x-wms-content-mac": wmsHeader(kind, body) } }),
    },
    meshagent: {
        credentials: meshCredentials,
        bodies: bodies(meshagentEvent(), toPythonJson),
        request: (kind, body) => ({ path: "/meshagent", headers: { "meshagent-signature": meshagentHeader(kind, body) } }),
    },
    mentra: {
        credentials: tokenCredentials,
        bodies: bodies(mentraSession()),
        request: (kind) => ({ path: tokenPath(kind, "/mentra", "/webhook"), headers: {} }),
    },
    synthesis: {
        credentials: tokenCredentials,
        bodies: bodies(synthesisBatch(2)),
        request: (kind) => ({ path: tokenPath(kind, "/synthesis"), headers: {} }),
    },
};
const VALID_CREDENTIAL = new Set(["valid", "path", "query"]);

describe(`end to end: ${RUNS} generated hostile requests per provider`, function () {
    this.timeout(600000);
    let nodeRed: NodeRedProcess;
    const expected: Record<string, { rejections: number; accepted: number }> = {};

    before(async () => {
        nodeRed = await new NodeRedProcess().start();
        await nodeRed.deploy(countingFlow());
    });
    after(async () => {
        agent.destroy();
        await nodeRed?.stop();
    });

    for (const [provider, spec] of Object.entries(PROVIDERS)) {
        it(`${provider}: only the specified 4xx with a one-line reason, never a 5xx, nothing forged on output 1`, async () => {
            const counts = (expected[provider] = { rejections: 0, accepted: 0 });
            await fc.assert(
                fc.asyncProperty(fc.constantFrom(...spec.credentials), spec.bodies, contentTypes, methods, async (credential, body, contentType, method) => {
                    const { path, headers } = spec.request(credential, body);
                    const requestHeaders: Headers = {};
                    for (const [name, value] of Object.entries({ ...headers, "content-type": contentType })) if (value !== undefined) requestHeaders[name] = value;
                    const response = await send(nodeRed.port, { method, path, headers: requestHeaders, body: method === "GET" ? undefined : body });
                    if (response.status === "reset") {
                        // Only an oversized body may be cut off mid-upload.
                        assert.ok(Buffer.byteLength(body) > 1024 * 1024, "connection reset for a body within the limit");
                        counts.rejections++;
                        return;
                    }
                    assert.ok(ALLOWED.has(response.status), `status ${response.status} for ${credential} ${method} ${contentType}: ${response.text.slice(0, 200)}`);
                    let answer: { rejected?: number; error?: unknown; message?: unknown } = {};
                    assert.doesNotThrow(() => (answer = JSON.parse(response.text) as typeof answer), `a JSON answer: ${response.text.slice(0, 100)}`);
                    if (response.status === 200) {
                        assert.ok(VALID_CREDENTIAL.has(credential), `accepted without valid credentials (${credential})`);
                        counts.accepted++;
                        if (provider === "synthesis" && (answer.rejected ?? 0) > 0) counts.rejections++; // one output-2 message per batch
                    } else {
                        const reason = answer.error ?? answer.message;
                        assert.ok(typeof reason === "string", "a reason");
                        assert.ok(reason.length > 0 && reason.length <= 200 && !/[\r\n]/.test(reason), `one-line reason: ${reason}`);
                        assert.ok(!reason.includes(SECRET) && !reason.includes(TOKEN), "no secret in a reason");
                        counts.rejections++;
                    }
                }),
                { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED) || undefined, endOnFailure: true },
            );
            assert.ok(counts.accepted > RUNS / 100 && counts.rejections > RUNS / 10, `both outcomes exercised: ${JSON.stringify(counts)}`);
        });
    }

    it("emitted exactly one output-2 message per refusal, nothing forged, and stayed up", async () => {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const { json: seen } = await request<Record<string, number | boolean | undefined>>(nodeRed.nodeUrl("/fuzz-counts"));
        for (const [provider, counts] of Object.entries(expected)) {
            assert.equal(seen[`${provider}:2`] ?? 0, counts.rejections, `${provider}: output-2 messages`);
            assert.ok(Number(seen[`${provider}:1`] ?? 0) >= 0);
        }
        assert.equal(seen.forged ?? 0, 0, "nothing unverified on output 1");
        assert.equal(seen.leaked ?? 0, 0, "no secret on output 2");
        assert.equal(nodeRed.process.exitCode, null, "Node-RED is still running");
        assert.doesNotMatch(nodeRed.log, /\[error\]|Unhandled|TypeError|RangeError/);
        assert.equal((({}) as { polluted?: unknown }).polluted, undefined);
        const { json: probe } = await request(nodeRed.nodeUrl("/fuzz-counts"));
        assert.equal(probe.polluted, undefined, "no prototype pollution inside Node-RED");
    });
});
