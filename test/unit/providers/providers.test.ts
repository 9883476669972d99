import assert = require("node:assert/strict");
import fs = require("node:fs");
import path = require("node:path");
import { DIST } from "../../support/paths.js";
import { createHash, createHmac } from "node:crypto";
import { WMS_SEED_BODY, wmsBody, mentraSession, synthesisBatch, meshagentEvent, toPythonJson } from "../../support/fixtures.js";
import { wms, wmsSignature, wmsOptions, type WmsEvent } from "../../../nodes/providers/wms.js";
import { mentra, hostAllowed, mentraOptions } from "../../../nodes/providers/mentra.js";
import { synthesis, type SynthesisEvent } from "../../../nodes/providers/synthesis.js";
import { meshagent, meshagentSignature, eventWanted } from "../../../nodes/providers/meshagent.js";
import type { Delivery } from "../../../nodes/receive/provider.js";
import { ready, rejects } from "../../support/assertions.js";
import { extraPathRule } from "../../../nodes/receive/secrets.js";

function delivery(
    body: string,
    headers: Record<string, string> = {},
    { path = ["hook"], extraPath = [], query = "" }: { path?: string[]; extraPath?: string[]; query?: string } = {},
): Delivery {
    return { body: Buffer.from(body), headers, path, extraPath, query };
}

describe("WMS provider", () => {
    const keys = ready(wms.prepareKeys(["old-secret", "mac-secret"]));
    const sign = (body: string, secret = "mac-secret") => ({ "x-wms-content-mac": wmsSignature(body, secret) });
    const defaults = wmsOptions({});
    const withTextMac = wmsOptions({ acceptTextMac: true });

    it("verifies the seed example's exact bytes with any configured secret", () => {
        assert.deepEqual(wms.verify(delivery(WMS_SEED_BODY, sign(WMS_SEED_BODY)), keys, defaults), { verified: true });
        assert.deepEqual(wms.verify(delivery(WMS_SEED_BODY, sign(WMS_SEED_BODY, "old-secret")), keys, defaults), { verified: true });
    });

    it("computes the MAC as the WMS page's JavaScript does", () => {
        const documented = "hmac-sha256=" + createHmac("sha256", "mac-secret").update(Buffer.from(WMS_SEED_BODY).toString(), "ascii").digest("hex");
        assert.equal(wmsSignature(WMS_SEED_BODY, "mac-secret"), documented);
    });

    it("accepts the sample code's text-form MAC of a non-ASCII body only when the option is on", async () => {
        const body = wmsBody({ payload: { details: "Kamera überhitzt" } });
        const documented = "hmac-sha256=" + createHmac("sha256", "mac-secret").update(body, "ascii").digest("hex");
        assert.notEqual(documented, wmsSignature(body, "mac-secret"));
        await rejects(() => wms.verify(delivery(body, { "x-wms-content-mac": documented }), keys, defaults), 401);
        assert.deepEqual(wms.verify(delivery(body, { "x-wms-content-mac": documented }), keys, withTextMac), { verified: true });
        assert.deepEqual(wms.verify(delivery(body, sign(body)), keys, defaults), { verified: true });
    });

    it("does not let one captured MAC verify rewritten bodies", async () => {
        // The text form keeps the low byte of each character: "r" (0x72) and "\u0172" look alike to it.
        const body = wmsBody({ payload: { note: "é" } });
        const captured = { "x-wms-content-mac": "hmac-sha256=" + createHmac("sha256", "mac-secret").update(body, "ascii").digest("hex") };
        const forged = body.replace("ryueiwoqfh910fu3rpqruvfiu", "\u0172\u0179\u0175\u0165iwoqfh910fu3rpqruvfiu");
        assert.notEqual(JSON.parse(forged).sessionId, JSON.parse(body).sessionId);
        assert.deepEqual(wms.verify(delivery(forged, captured), keys, withTextMac), { verified: true }, "the weakness the option keeps");
        await rejects(() => wms.verify(delivery(forged, captured), keys, defaults), 401);
        await rejects(() => wms.verify(delivery(forged, sign(body)), keys, defaults), 401);
    });

    it("refuses an event older than the de-duplication window or too far in the future (400)", async () => {
        const now = Math.floor(Date.now() / 1000);
        const event = (timestamp: number) => JSON.parse(wmsBody({ timestamp })) as WmsEvent;
        assert.deepEqual(defaults, { acceptTextMac: false, maxAgeSeconds: 600 });
        assert.equal(wmsOptions({ dedupSeconds: "3600" }).maxAgeSeconds, 3600, "the window by default");
        assert.equal(wmsOptions({ dedupSeconds: 3600, maxAgeSeconds: "0" }).maxAgeSeconds, 0);
        assert.ok(wms.prepare!(event(now - 590), defaults));
        assert.ok(wms.prepare!(event(now + 290), defaults), "clocks drift: a little ahead is fine");
        assert.match(await rejects(() => wms.prepare!(event(now - 700), defaults), 400), /older than the 600 s allowed/);
        assert.match(await rejects(() => wms.prepare!(event(now + 400), defaults), 400), /in the future/);
        assert.match(await rejects(() => wms.prepare!(JSON.parse(WMS_SEED_BODY), defaults), 400), /old/, "the 2023 seed, replayed");
        assert.ok(wms.prepare!(JSON.parse(WMS_SEED_BODY), wmsOptions({ maxAgeSeconds: 0 })), "0 turns the check off");
    });

    it("refuses a missing, malformed, wrong-case, wrong-prefix or wrong MAC with 401", async () => {
        const good = wmsSignature(WMS_SEED_BODY, "mac-secret");
        const attempts = {
            missing: {},
            "wrong prefix": { "x-wms-content-mac": good.replace("hmac-sha256=", "sha256=") },
            "upper-case prefix": { "x-wms-content-mac": good.replace("hmac-sha256=", "HMAC-SHA256=") },
            "upper-case hex": { "x-wms-content-mac": "hmac-sha256=" + good.slice(12).toUpperCase() },
            truncated: { "x-wms-content-mac": good.slice(0, -2) },
            "wrong secret": sign(WMS_SEED_BODY, "guess"),
            "duplicated header": { "x-wms-content-mac": `${good}, ${good}` },
            "re-serialised body": sign(JSON.stringify(JSON.parse(WMS_SEED_BODY))),
        };
        for (const [name, headers] of Object.entries(attempts)) {
            const reason = await rejects(() => wms.verify(delivery(WMS_SEED_BODY, headers), keys, defaults), 401);
            assert.ok(reason.length < 120 && !reason.includes("\n"), name);
            assert.ok(!reason.includes("mac-secret"), name);
        }
    });

    it("validates events and keeps unknown event codes", () => {
        assert.ok(wms.schema.safeParse(JSON.parse(WMS_SEED_BODY)).success);
        const future = wms.schema.safeParse(JSON.parse(wmsBody({ event: "HEART_RATE_READY", extra: 1 })));
        assert.ok(future.success);
        assert.equal(future.data?.extra, 1, "fields the provider adds are kept");
        for (const broken of [{ sessionId: "" }, { sequence: -1 }, { sequence: 1.5 }, { timestamp: "yesterday" }, { severity: "LOUD" }, { event: 7 }]) {
            assert.ok(!wms.schema.safeParse(JSON.parse(wmsBody(broken))).success, JSON.stringify(broken));
        }
        assert.equal(wms.eventName(JSON.parse(WMS_SEED_BODY)), "MEASUREMENT_CREATED");
        assert.deepEqual(wms.streamPosition!(JSON.parse(wmsBody({ sequence: 4 }))), { stream: "ryueiwoqfh910fu3rpqruvfiu", position: 4 });
    });
});

describe("Mentra provider", () => {
    const options = mentra.options({});
    const prepare = (event: unknown, opts = options) => mentra.prepare!(mentra.schema.parse(event), opts);

    it("accepts every documented webhook type, the unsent ones included", () => {
        const base = { sessionId: "session-123456", userId: "user-789012", timestamp: "2023-04-01T12:30:45Z" };
        const documented = [
            { type: "session_request", ...base, mentraOSWebsocketUrl: "wss://api.mentra.glass/app-ws/session-123456" },
            { type: "session_request", ...base, augmentOSWebsocketUrl: "wss://cloud.augmentos.org/tpa-ws/session-123456" },
            { type: "stop_request", ...base, reason: "user_disabled" },
            { type: "server_registration", ...base, registrationId: "reg-78901234", packageName: "org.company.myapp", serverUrls: ["https://myapp-app.example.com/webhook"] },
            { type: "server_heartbeat", ...base, registrationId: "reg-78901234" },
            { type: "session_recovery", ...base, mentraOSWebsocketUrl: "wss://api.mentra.glass/app-ws/session-123456" },
        ];
        for (const event of documented) assert.equal(mentra.eventName(prepare(event)), event.type);
    });

    it("describes a hostile type without evaluating it", () => {
        for (const type of [{ toString: 1 }, { valueOf: null, toString: null }, ["a"], 42, null]) {
            const result = mentra.schema.safeParse({ ...mentraSession(), type });
            assert.ok(!result.success);
            assert.match(String(result.error?.issues[0].message), /^unknown webhook type: \((object|number)\)$/);
        }
    });

    it("refuses an unknown type with a reason naming it", () => {
        const result = mentra.schema.safeParse({ ...mentraSession(), type: "tool_call" });
        assert.ok(!result.success);
        assert.match(String(result.error?.issues[0].message), /unknown webhook type: "tool_call"/);
    });

    it("gives the flow the URL of the protocol it speaks, never another protocol's", () => {
        const fields = (event: unknown, opts = options) => mentra.messageFields!(prepare(event, opts), opts);
        assert.deepEqual(options, { allowedHosts: ["mentra.glass", "augmentos.org", "augmentos.cloud"], allowInsecureWs: false, protocol: "app-ws" });
        const miniapp = mentraOptions({ protocol: "miniapp" });
        assert.deepEqual(fields(mentraSession()), { websocketUrl: "wss://prod.mentra.glass/app-ws" });
        assert.deepEqual(fields(mentraSession(), miniapp), { websocketUrl: "wss://prod.mentra.glass/ws/miniapp" });
        const olderCloud = mentraSession({ websocketUrl: undefined, mentraOSWebsocketUrl: undefined, augmentOSWebsocketUrl: "wss://prod.augmentos.cloud/app-ws" });
        assert.deepEqual(fields(olderCloud), { websocketUrl: "wss://prod.augmentos.cloud/app-ws" });
        const prepared = prepare(olderCloud);
        assert.equal(prepared.websocketUrl, undefined, "no field is filled from another");
        assert.equal(prepared.userId, "jane.doe@example.com");
        assert.equal(mentra.messageFields!(prepare({ ...mentraSession(), type: "stop_request", reason: "user_disabled" }), options), undefined);
    });

    it("refuses a session without a URL for its protocol (400) or with any URL outside the allow-list (403)", async () => {
        const none = mentraSession({ websocketUrl: undefined, mentraOSWebsocketUrl: undefined, augmentOSWebsocketUrl: undefined });
        await rejects(() => prepare(none), 400);
        const miniappOnly = mentraSession({ mentraOSWebsocketUrl: undefined, augmentOSWebsocketUrl: undefined });
        assert.match(await rejects(() => prepare(miniappOnly), 400), /no WebSocket URL for the app-ws protocol/);
        assert.ok(prepare(miniappOnly, mentraOptions({ protocol: "miniapp" })));
        await rejects(() => prepare(mentraSession({ mentraOSWebsocketUrl: "wss://attacker.example/steal" })), 403);
        // Every URL field must be allowed, not just the one used.
        await rejects(() => prepare(mentraSession({ websocketUrl: "wss://mentra.glass.attacker.example" })), 403);
        await rejects(() => prepare(mentraSession({ websocketUrl: "https://prod.mentra.glass/app-ws" })), 400);
        await rejects(() => prepare(mentraSession({ websocketUrl: "not a url" })), 400);
        const custom = mentra.options({ allowedHosts: "localhost, *.example.com", allowInsecureWs: true });
        assert.ok(prepare(mentraSession({ websocketUrl: undefined, mentraOSWebsocketUrl: "ws://localhost:8002/app-ws", augmentOSWebsocketUrl: undefined }), custom));
        await rejects(() => prepare(mentraSession(), custom), 403);
    });

    it("refuses URLs that parsers read differently, plain ws: unless allowed, and user info; emits them normalised", async () => {
        const session = (url: string) => mentraSession({ websocketUrl: undefined, mentraOSWebsocketUrl: url, augmentOSWebsocketUrl: undefined });
        const ambiguous = [
            "wss://api.mentra.glass\\@evil.com/", // Python's urlsplit reads evil.com
            "wss://api.mentra.glass\\evil.com/",
            "wss://api.men\ttra.glass/app-ws",
            "wss://api.mentra.glass/app-ws\n",
            "wss://api.mentra.glass /app-ws",
            "wss://api.mentra.glass\u0000/app-ws",
            "wss://api.mentra.glass\u00a0/app-ws",
        ];
        for (const url of ambiguous) assert.match(await rejects(() => prepare(session(url)), 400), /backslash, white space or a control character/, JSON.stringify(url));
        for (const url of ["wss://user:pass@api.mentra.glass/app-ws", "wss://evil.com@api.mentra.glass/app-ws", "wss://@api.mentra.glass/app-ws"]) {
            assert.match(await rejects(() => prepare(session(url)), 400), /user information/, url);
        }
        assert.match(await rejects(() => prepare(session("ws://api.mentra.glass/app-ws")), 400), /must be a wss: URL/);
        assert.ok(prepare(session("ws://api.mentra.glass/app-ws"), mentraOptions({ allowInsecureWs: "true" })));
        const normalised = prepare(session("WSS://API.Mentra.Glass:443/app-ws/%7Euser/../x"));
        assert.equal(normalised.mentraOSWebsocketUrl, "wss://api.mentra.glass/app-ws/x");
        assert.deepEqual(mentra.messageFields!(normalised, options), { websocketUrl: normalised.mentraOSWebsocketUrl });
    });

    it("matches allowed hosts and their subdomains only", () => {
        const allowed = ["mentra.glass", "augmentos.org"];
        assert.ok(hostAllowed("mentra.glass", allowed));
        assert.ok(hostAllowed("franceapi.mentra.glass", allowed));
        assert.ok(hostAllowed("PROD.AugmentOS.org", allowed));
        assert.ok(!hostAllowed("evilmentra.glass", allowed));
        assert.ok(!hostAllowed("mentra.glass.evil.com", allowed));
        assert.ok(!hostAllowed("example.com", ["*.example.com"]));
        assert.ok(hostAllowed("a.example.com", ["*.example.com"]));
    });

    it("checks the optional token in the last path segment (before /webhook) or the query", async () => {
        const keys = ready(mentra.prepareKeys(["t0ken-1", "t0ken-2"]));
        const body = JSON.stringify(mentraSession());
        const at = (path: string[], query = "") => delivery(body, {}, { path, extraPath: path.slice(1), query });
        assert.deepEqual(mentra.verify(at(["mentra"]), ready(mentra.prepareKeys([])), options), { verified: false });
        assert.deepEqual(mentra.verify(at(["mentra", "t0ken-2"]), keys, options), { verified: true });
        assert.deepEqual(mentra.verify(at(["mentra", "t0ken-1", "webhook"]), keys, options), { verified: true });
        assert.deepEqual(mentra.verify(at(["mentra"], "token=t0ken-1"), keys, options), { verified: true });
        await rejects(() => mentra.verify(at(["mentra"]), keys, options), 401);
        await rejects(() => mentra.verify(at(["mentra", "webhook"]), keys, options), 401);
        await rejects(() => mentra.verify(at(["mentra", "t0ken-3"]), keys, options), 401);
        await rejects(() => mentra.verify(at(["mentra"], "token=t0ken"), keys, options), 401);
        assert.deepEqual(mentra.verify(at(["mentra", "t0ken-1", "api", "_mentraos", "webhook"]), keys, options), { verified: true });
        const rule = extraPathRule(mentra);
        assert.equal(rule.maxSegments, 4);
        for (const extra of [[], ["t0ken"], ["webhook"], ["t0ken", "webhook"], ["api", "_mentraos", "webhook"], ["t0ken", "api", "_mentraos", "webhook"]]) {
            assert.ok(rule.accepts(extra), extra.join("/"));
        }
        for (const extra of [["a", "b"], ["t0ken", "api", "webhook"], ["x", "t0ken", "webhook"]]) assert.ok(!rule.accepts(extra), extra.join("/"));
    });

    it("identifies a retry by its bytes: a new timestamp is a new event", () => {
        const event = mentra.schema.parse(mentraSession());
        const first = mentra.duplicateKey!(event, delivery(JSON.stringify(event)));
        assert.equal(first, mentra.duplicateKey!(event, delivery(JSON.stringify(event))));
        const later = mentra.schema.parse(mentraSession({ timestamp: "2025-06-01T12:31:00.000Z" }));
        assert.notEqual(first, mentra.duplicateKey!(later, delivery(JSON.stringify(later))));
    });
});

describe("SynthesisVR provider", () => {
    it("validates the page's example and keeps actions added later", () => {
        const [event] = synthesisBatch(1);
        assert.ok(synthesis.schema.safeParse(event).success);
        assert.ok(synthesis.schema.safeParse({ ...event, action: "extend" }).success);
        assert.ok(synthesis.schema.safeParse({ uuid: event.uuid, action: "delete" }).success);
        for (const broken of [{ uuid: "" }, { uuid: 5 }, { action: undefined }, { stations: "two" }]) {
            assert.ok(!synthesis.schema.safeParse({ ...event, ...broken }).success, JSON.stringify(broken));
        }
        assert.equal(synthesis.eventName(event), "create");
        assert.ok(synthesis.batches);
    });

    it("identifies a session event by uuid and action", () => {
        const [create] = synthesisBatch(1, "create");
        const [remove] = synthesisBatch(1, "delete");
        const key = (event: SynthesisEvent) => synthesis.duplicateKey!(event, delivery(JSON.stringify([event])));
        assert.notEqual(key(create), key(remove));
        assert.equal(key(create), key({ ...create, stations: 3 }));
    });
});

describe("MeshAgent provider", () => {
    let keys: Awaited<ReturnType<typeof meshagent.prepareKeys>>;
    const options = meshagent.options({});
    before(async () => {
        keys = await meshagent.prepareKeys(["rotated-out", "mesh-secret"]);
    });
    const body = toPythonJson(meshagentEvent());
    const jose = () => import("jose");
    const encode = (secret: string) => new TextEncoder().encode(secret);
    const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
    const withToken = (jwt: string) => delivery(body, { "meshagent-signature": `Bearer ${jwt}` });

    it("verifies what MeshAgent's Python reference sender produces", async () => {
        // Recorded from Python's json.dumps and an HS256 JWT built with hmac/hashlib, as PyJWT
        // encodes it (test/e2e/python-reference.e2e.test.js runs the same script live).
        const pythonBody = String.raw`{"event": "room.started", "data": {"room_name": "caf\u00e9-standup", "room_url": "https://studio.meshagent.com/rooms/caf\u00e9"}}`;
        const jwt =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaGEyNTYiOiI2NGM5NmU5ZTk5ZjY2YjA0N2FmNjFiYzFiZDMzMmUzNWViZWRiNTdmNTNjODExY2ViZjI2MGY0NjU4YWIzOGNlIn0.forDD83X9o9CoPSUu0al9iVNGk0rFyZuVuLiC_fjK8w";
        assert.equal(pythonBody, body, "toPythonJson writes what json.dumps writes");
        assert.deepEqual(await meshagent.verify(withToken(jwt), keys, options), { verified: true });
        assert.deepEqual(await meshagent.verify(delivery(body, { "meshagent-signature": await meshagentSignature(body, "rotated-out") }), keys, options), { verified: true });
    });

    it("refuses every forged, expired or mismatched signature with 401", async () => {
        const { SignJWT, generateKeyPair } = await jose();
        const claims = { sha256: sha256(body) };
        const now = Math.floor(Date.now() / 1000);
        const unsigned = (payload: object) =>
            `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.`;
        const { privateKey } = await generateKeyPair("RS256");
        // Signed with the right key, but what it signs is no claims object: refused once its MAC verifies.
        const signedAsIs = (claimsText: string) => {
            const input = `${Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")}.${Buffer.from(claimsText).toString("base64url")}`;
            return `${input}.${createHmac("sha256", "mesh-secret").update(input).digest("base64url")}`;
        };
        const cases = {
            "signed array claims": signedAsIs(`[${JSON.stringify(claims)}]`),
            "signed claims that are no JSON": signedAsIs(`{"sha256": "${claims.sha256}"`),
            "signed null claims": signedAsIs("null"),
            "alg none": unsigned(claims),
            HS512: await new SignJWT(claims).setProtectedHeader({ alg: "HS512" }).sign(encode("mesh-secret")),
            RS256: await new SignJWT(claims).setProtectedHeader({ alg: "RS256" }).sign(privateKey),
            "wrong key": await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(encode("guess")),
            expired: await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(now - 60).sign(encode("mesh-secret")),
            "future nbf": await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setNotBefore(now + 600).sign(encode("mesh-secret")),
            "wrong sha256": await new SignJWT({ sha256: sha256(body + " ") }).setProtectedHeader({ alg: "HS256" }).sign(encode("mesh-secret")),
            "no sha256": await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).sign(encode("mesh-secret")),
            audience: await new SignJWT({ ...claims, aud: "someone" }).setProtectedHeader({ alg: "HS256" }).sign(encode("mesh-secret")),
            garbage: "not.a.jwt",
        };
        const valid = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(encode("mesh-secret"));
        for (const [name, jwt] of Object.entries(cases)) {
            // An accepted header is remembered: a forged one right after a genuine one is still checked.
            assert.deepEqual(await meshagent.verify(withToken(valid), keys, options), { verified: true });
            const reason = await rejects(() => meshagent.verify(withToken(jwt), keys, options), 401);
            assert.ok(!reason.includes("mesh-secret") && !reason.includes(jwt), name);
        }
        await rejects(() => meshagent.verify(delivery(body), keys, options), 401);
        await rejects(() => meshagent.verify(delivery(body, { "meshagent-signature": cases["wrong key"] }), keys, options), 401);
        await rejects(() => meshagent.verify(delivery(body, { "meshagent-signature": `Basic ${cases["wrong key"]}` }), keys, options), 401);
        // Valid timing claims are honoured, not refused.
        const timed = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(now + 60).setNotBefore(now - 60).sign(encode("mesh-secret"));
        assert.deepEqual(await meshagent.verify(withToken(timed), keys, options), { verified: true });
    });

    it("validates documented events' data and keeps events added later", () => {
        assert.ok(meshagent.schema.safeParse({ event: "room.started", data: { room_name: "my-room" } }).success);
        assert.ok(meshagent.schema.safeParse({ event: "storage.file.moved", data: { source_path: "a", destination_path: "b", participant_id: "p" } }).success);
        assert.ok(meshagent.schema.safeParse({ event: "agent.spawned", data: { anything: [1] } }).success);
        const missing = meshagent.schema.safeParse({ event: "storage.file.updated", data: { participant_id: "p" } });
        assert.deepEqual(missing.error?.issues[0].path, ["data", "path"]);
        assert.ok(!meshagent.schema.safeParse({ event: "room.ended", data: [] }).success);
        assert.ok(!meshagent.schema.safeParse({ data: {} }).success);
    });

    it("treats event names such as constructor and __proto__ as events added later", () => {
        for (const event of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
            const result = meshagent.schema.safeParse({ event, data: { a: 1 } });
            assert.ok(result.success, event);
            assert.equal(result.data?.event, event);
        }
    });

    it("filters events by name, family or wildcard", () => {
        assert.ok(eventWanted("room.started", ["*"]));
        assert.ok(eventWanted("storage.file.moved", ["room.ended", "storage.*"]));
        assert.ok(!eventWanted("room.started", ["storage.*", "room.ended"]));
        assert.deepEqual(meshagent.options({}).events, ["*"]);
        assert.deepEqual(meshagent.options({ events: "room.started, storage.*" }).events, ["room.started", "storage.*"]);
    });
});

describe("providers that never retry", () => {
    it("keep deliveries until handled by default in their editor files: SynthesisVR and MeshAgent (PROVIDERS.md: no retry)", () => {
        const keepDefault = (type: string) => /keep: \{ value: (true|false) \}/.exec(fs.readFileSync(path.join(DIST, "nodes", `${type}.html`), "utf8"))?.[1];
        assert.equal(keepDefault("synthesis-webhook"), "true");
        assert.equal(keepDefault("meshagent-webhook"), "true");
        assert.equal(keepDefault("wms-webhook"), "false");
        assert.equal(keepDefault("mentra-webhook"), "false", "Mentra's cloud retries a session_request");
    });
});

describe("samples", () => {
    it("are a new event each time: WMS counts on in one session, SynthesisVR takes a new session id", () => {
        const [a, b, c] = [wms.samples.MEASUREMENT_CREATED!(), wms.samples.CONSTRAINT_VIOLATION!(), wms.samples.MEASUREMENT_CREATED!()] as WmsEvent[];
        assert.equal(a!.sessionId, c!.sessionId);
        assert.deepEqual([b!.sequence - a!.sequence, c!.sequence - b!.sequence], [1, 1]);
        assert.ok(wms.schema.safeParse(a).success && wms.schema.safeParse(b).success);
        const [first] = synthesis.samples.create!() as SynthesisEvent[];
        const [second] = synthesis.samples.create!() as SynthesisEvent[];
        assert.notEqual(first!.uuid, second!.uuid);
        assert.notEqual(synthesis.duplicateKey!(first!, delivery("")), synthesis.duplicateKey!(second!, delivery("")));
    });

    it("give each event a key for people: the WMS session and sequence, SynthesisVR's uuid", () => {
        const event = wms.samples.INTERMEDIATE_RESULTS!() as WmsEvent;
        assert.equal(wms.eventKey!(event), `${event.sessionId} #${event.sequence}`);
        const [session] = synthesis.samples.delete!() as SynthesisEvent[];
        assert.equal(synthesis.eventKey!(session!), session!.uuid);
    });
});
