// The four receivers in a real Node-RED process started with its default settings (editor
// at "/", whose admin app parses JSON bodies before any node route), sent exactly what
// each provider sends, and forgeries.
import assert = require("node:assert/strict");
import http = require("node:http");
import { createHash, createHmac } from "node:crypto";
import { request, startedForSuite, type Collector, type FlowNode, type HttpResponse, type Tapped, type TappedRejection, NodeRedProcess } from "../support/node-red-process.js";
import { wmsSeedBodyNow, wmsBody, mentraSession, synthesisBatch, meshagentEvent, toPythonJson, signDelivery } from "../support/fixtures.js";
import { wmsSignature } from "../../nodes/providers/wms.js";
import { meshagentSignature } from "../../nodes/providers/meshagent.js";

const SECRETS = { wms: "wms-mac-secret", meshagent: "meshagent-webhook-secret", mentra: "Mentra-t0ken", synthesis: "synth-t0ken" };

/** A tab with one receiver per provider, each output forwarded to the collector. */
function receiverFlows(collector: Collector, overrides: Record<string, Record<string, unknown>> = {}): FlowNode[] {
    const receivers: FlowNode[] = [
        { id: "wms", type: "wms-webhook", path: "/wms", credentials: { secret: `rotated-out\n${SECRETS.wms}` } },
        { id: "meshagent", type: "meshagent-webhook", path: "/meshagent", credentials: { secret: SECRETS.meshagent } },
        { id: "mentra", type: "mentra-webhook", path: "/mentra" },
        { id: "mentra-token", type: "mentra-webhook", path: "/mentra-private", credentials: { secret: SECRETS.mentra } },
        { id: "synthesis", type: "synthesis-webhook", path: "/synthesis" },
        { id: "synthesis-token", type: "synthesis-webhook", path: "/synthesis-private", credentials: { secret: SECRETS.synthesis } },
    ];
    return collector.tappedTab("tab-e2e", receivers.map((receiver) => ({ ...receiver, ...overrides[receiver.id] })));
}

function expectOneLineReason(response: HttpResponse): string {
    const reason = response.json?.error ?? response.json?.message;
    assert.ok(typeof reason === "string", `a reason in ${response.text}`);
    assert.ok(reason.length > 0 && reason.length <= 200 && !reason.includes("\n"), reason);
    return reason;
}

/** Sends a body in chunks without Content-Length, so the size is only known while reading. */
function postChunked(url: string, chunks: string[], headers: Record<string, string> = {}): Promise<{ status: number | "reset"; text?: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, agent: false }, (res) => {
            const parts: Buffer[] = [];
            res.on("data", (part: Buffer) => parts.push(part));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
        });
        req.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" || error.code === "EPIPE" ? resolve({ status: "reset" }) : reject(error)));
        const write = (index: number): void => {
            if (index === chunks.length) {
                req.end();
                return;
            }
            req.write(chunks[index], () => setImmediate(write, index + 1));
        };
        write(0);
    });
}

describe("end to end in a real Node-RED with default settings", function () {
    this.timeout(60000);
    const suite = startedForSuite();
    let nodeRed: NodeRedProcess;
    let collector: Collector;

    before(async () => {
        ({ nodeRed, collector } = suite);
        await nodeRed.deploy(receiverFlows(collector));
    });

    describe("NuraLogix WMS", () => {
        it("accepts the seed example signed over its raw bytes, despite the editor's JSON parser", async () => {
            const WMS_SEED_BODY = wmsSeedBodyNow();
            const response = await nodeRed.post("/wms", WMS_SEED_BODY, { "x-wms-content-mac": wmsSignature(WMS_SEED_BODY, SECRETS.wms) });
            assert.equal(response.status, 200);
            const [msg] = await collector.waitFor("wms:1", 1);
            assert.deepEqual(msg.payload, JSON.parse(WMS_SEED_BODY));
            assert.equal(msg.topic, "MEASUREMENT_CREATED");
            assert.deepEqual(Object.keys(msg.webhook).sort(), ["deliveryId", "missing", "missingCount", "provider", "receivedAt", "test", "verified"]);
            assert.equal(msg.webhook.test, false);
            assert.equal(msg.webhook.provider, "wms");
            assert.equal(msg.webhook.verified, true);
            assert.deepEqual(msg.webhook.missing, []);
            assert.deepEqual(msg.keys.sort(), ["_msgid", "payload", "topic", "webhook"]);
        });

        it("refuses a missing or wrong X-WMS-Content-MAC with 401 and one message on output 2", async () => {
            const WMS_SEED_BODY = wmsSeedBodyNow();
            const missing = await nodeRed.post("/wms", WMS_SEED_BODY);
            const wrong = await nodeRed.post("/wms", WMS_SEED_BODY, { "x-wms-content-mac": wmsSignature(WMS_SEED_BODY, "guess") });
            assert.deepEqual([missing.status, wrong.status], [401, 401]);
            expectOneLineReason(missing);
            const rejected = await collector.waitFor("wms:2", 2);
            assert.deepEqual(rejected.map((msg) => msg.payload.status), [401, 401]);
            for (const msg of rejected) {
                assert.deepEqual(Object.keys(msg.payload).sort(), ["provider", "reason", "status"]);
                const text = JSON.stringify(msg);
                assert.ok(!text.includes(SECRETS.wms) && !text.includes("hmac-sha256") && !text.includes("ryueiwoqfh"), text);
            }
            assert.equal((await collector.settle("wms:1")).length, 0);
        });

        it("answers a repeated sequence 200 without emitting it again, and reports gaps", async () => {
            const send = async (fields: Record<string, unknown>) => {
                const body = wmsBody({ sessionId: "gap-session", ...fields });
                return (await nodeRed.post("/wms", body, { "x-wms-content-mac": wmsSignature(body, SECRETS.wms) })).status;
            };
            assert.deepEqual([await send({ sequence: 0 }), await send({ sequence: 0 }), await send({ sequence: 3, event: "GENERAL_ERROR", severity: "ERROR" })], [200, 200, 200]);
            await collector.waitFor("wms:1", 2);
            const events = await collector.settle("wms:1");
            assert.deepEqual(events.map((msg) => [msg.payload.sequence, msg.webhook.missing]), [[0, []], [3, [1, 2]]]);
        });

        it("does not let one captured text-form MAC verify rewritten bodies, and refuses a replay from outside the window", async () => {
            // A body with a non-ASCII character, MAC'd as WMS's sample code does (low byte of each character).
            const body = wmsBody({ sessionId: "ryue-captured", payload: { note: "é" } });
            const captured = { "x-wms-content-mac": "hmac-sha256=" + createHmac("sha256", SECRETS.wms).update(body, "ascii").digest("hex") };
            for (const variant of ["\u0172\u0179\u0175\u0165", "\u0272\u0279\u0275\u0265", "\u0372\u0379\u0375\u0365"]) {
                const forged = body.replace('"ryue', `"${variant}`);
                assert.equal((await nodeRed.post("/wms", forged, captured)).status, 401, variant);
            }
            const old = wmsBody({ sessionId: "replayed", timestamp: Math.floor(Date.now() / 1000) - 3600 });
            const replay = await nodeRed.post("/wms", old, { "x-wms-content-mac": wmsSignature(old, SECRETS.wms) });
            assert.equal(replay.status, 400);
            assert.match(String(replay.json.error), /older than the 600 s allowed/);
            assert.equal((await collector.settle("wms:1")).length, 0);
        });

        it("emits an event code WMS may add later when its MAC is valid", async () => {
            const body = wmsBody({ sessionId: "future", event: "HEART_RATE_READY" });
            assert.equal((await nodeRed.post("/wms", body, { "x-wms-content-mac": wmsSignature(body, SECRETS.wms) })).status, 200);
            const [msg] = await collector.waitFor("wms:1", 1);
            assert.equal(msg.topic, "HEART_RATE_READY");
        });
    });

    describe("MeshAgent", () => {
        it("verifies a Python json.dumps body with \\u00e9 escapes and its Bearer JWT", async () => {
            const body = toPythonJson(meshagentEvent());
            assert.ok(body.includes('"caf\\u00e9-standup"') && body.includes('{"event": "room.started", "data": {'));
            const response = await nodeRed.post("/meshagent", body, { "meshagent-signature": await meshagentSignature(body, SECRETS.meshagent) });
            assert.deepEqual([response.status, response.json], [200, { ok: true }]);
            const [msg] = await collector.waitFor("meshagent:1", 1);
            assert.deepEqual(msg.payload, meshagentEvent());
            assert.equal(msg.topic, "room.started");
            assert.equal(msg.webhook.verified, true);
        });

        it("refuses unsigned, non-HS256, expired and digest-mismatched deliveries with 401", async () => {
            const { SignJWT } = await import("jose");
            const body = toPythonJson(meshagentEvent("storage.file.deleted", { path: "a.md", participant_id: "p" }));
            const key = new TextEncoder().encode(SECRETS.meshagent);
            const sha256 = createHash("sha256").update(body).digest("hex");
            const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sha256 })).toString("base64url")}.`;
            const signatures = [
                undefined,
                "Bearer",
                `Bearer ${none}`,
                `Bearer ${await new SignJWT({ sha256 }).setProtectedHeader({ alg: "HS512" }).sign(key)}`,
                `Bearer ${await new SignJWT({ sha256 }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(Math.floor(Date.now() / 1000) - 5).sign(key)}`,
                `Bearer ${await new SignJWT({ sha256: sha256.replace(/.$/, "0") === sha256 ? sha256.replace(/.$/, "1") : sha256.replace(/.$/, "0") }).setProtectedHeader({ alg: "HS256" }).sign(key)}`,
                await meshagentSignature(body.replace(", ", ","), SECRETS.meshagent),
                await meshagentSignature(body, "not-the-secret"),
            ];
            for (const signature of signatures) {
                const response = await nodeRed.post("/meshagent", body, signature === undefined ? {} : { "meshagent-signature": signature });
                assert.equal(response.status, 401, `${signature}: ${response.text}`);
                expectOneLineReason(response);
            }
            const rejected = await collector.waitFor("meshagent:2", signatures.length);
            assert.ok(rejected.every((msg) => msg.payload.status === 401 && !JSON.stringify(msg).includes("eyJ")), "no JWT in a rejection");
            assert.equal((await collector.settle("meshagent:1")).length, 0);
        });

        it("answers 400 for a body that is not a JSON object, even when signed", async () => {
            for (const body of ["[1, 2]", '"room.started"', '{"event": "room.started", "data": {}}']) {
                const response = await nodeRed.post("/meshagent", body, { "meshagent-signature": await meshagentSignature(body, SECRETS.meshagent) });
                assert.equal(response.status, 400, body);
            }
        });

        it("emits an event MeshAgent may add later", async () => {
            const { body, headers } = await signDelivery("meshagent", meshagentEvent("room.recording.ready", { room_name: "x", url: "https://ü" }), SECRETS.meshagent);
            assert.equal((await nodeRed.post("/meshagent", body, headers)).status, 200);
            const [msg] = await collector.waitFor<Tapped<{ data: { url: string } }>>("meshagent:1", 1);
            assert.equal(msg.topic, "room.recording.ready");
            assert.equal(msg.payload.data.url, "https://ü");
        });
    });

    describe("Mentra", () => {
        it("takes a session_request with all three WebSocket URLs and an e-mail userId", async () => {
            const event = mentraSession();
            const response = await nodeRed.post("/mentra/webhook", JSON.stringify(event));
            assert.deepEqual([response.status, response.json], [200, { status: "success" }]);
            const [msg] = await collector.waitFor("mentra:1", 1);
            assert.deepEqual(msg.payload, event);
            assert.equal(msg.websocketUrl, event.mentraOSWebsocketUrl, "the SDK 2.x endpoint, for the node's default protocol");
            assert.equal(msg.topic, "session_request");
            assert.equal(msg.webhook.verified, false, "nothing was checked: no secret is configured");
        });

        it("takes an older cloud's augmentOSWebsocketUrl for the SDK 2.x protocol, and never fills one field from another", async () => {
            const event = mentraSession({ websocketUrl: undefined, mentraOSWebsocketUrl: undefined, augmentOSWebsocketUrl: "wss://prod.augmentos.cloud/app-ws", timestamp: new Date().toISOString() });
            assert.equal((await nodeRed.post("/mentra", JSON.stringify(event))).status, 200);
            const [msg] = await collector.waitFor("mentra:1", 1);
            assert.equal(msg.websocketUrl, "wss://prod.augmentos.cloud/app-ws");
            assert.equal(msg.payload.websocketUrl, undefined);
        });

        it("accepts the SDK's newer path /api/_mentraos/webhook, and refuses URLs parsers read differently", async () => {
            const event = mentraSession({ timestamp: new Date().toISOString() });
            assert.equal((await nodeRed.post("/mentra/api/_mentraos/webhook", JSON.stringify(event))).status, 200);
            await collector.waitFor("mentra:1", 1);
            for (const url of ["wss://api.mentra.glass\\@evil.com/", "wss://api.men\ttra.glass/", "ws://api.mentra.glass/app-ws", "wss://evil.com@api.mentra.glass/"]) {
                const forged = mentraSession({ mentraOSWebsocketUrl: url, timestamp: new Date().toISOString() });
                const response = await nodeRed.post("/mentra/webhook", JSON.stringify(forged));
                assert.equal(response.status, 400, url);
            }
            assert.equal((await collector.settle("mentra:1")).length, 1);
        });

        it("rejects a session whose WebSocket host is outside the allow-list", async () => {
            const event = mentraSession({ mentraOSWebsocketUrl: "wss://attacker.example/app-ws", timestamp: new Date().toISOString() });
            const response = await nodeRed.post("/mentra", JSON.stringify(event));
            assert.equal(response.status, 403);
            assert.equal(response.json.status, "error");
            assert.match(expectOneLineReason(response), /attacker\.example/);
            const [rejected] = await collector.waitFor("mentra:2", 1);
            assert.equal(rejected.payload.status, 403);
            assert.equal((await collector.settle("mentra:1")).length, 0);
        });

        it("answers the documented types success, unknown types 400 like the SDK", async () => {
            const base = { sessionId: "heartbeat-123456", userId: "system", timestamp: new Date().toISOString() };
            const heartbeat = await nodeRed.post("/mentra/webhook", JSON.stringify({ type: "server_heartbeat", ...base, registrationId: "reg-1" }));
            assert.deepEqual([heartbeat.status, heartbeat.json], [200, { status: "success" }]);
            const registration = { type: "server_registration", ...base, registrationId: "reg-1", packageName: "com.example.notes", serverUrls: ["https://x.example/webhook"] };
            assert.equal((await nodeRed.post("/mentra/webhook", JSON.stringify(registration))).status, 200);
            const unknown = await nodeRed.post("/mentra/webhook", JSON.stringify({ type: "photo_taken", ...base }));
            assert.equal(unknown.status, 400);
            assert.equal(unknown.json.status, "error");
            assert.match(String(unknown.json.message), /unknown webhook type/);
            const events = await collector.waitFor("mentra:1", 2);
            assert.deepEqual(events.map((msg) => msg.topic), ["server_heartbeat", "server_registration"]);
        });

        it("answers an identical retry 200 without emitting it again; a new timestamp is a new event", async () => {
            const body = JSON.stringify(mentraSession({ timestamp: "2025-07-01T08:00:00.000Z" }));
            const renewed = JSON.stringify(mentraSession({ timestamp: "2025-07-01T08:05:00.000Z" }));
            const statuses = [];
            for (const sent of [body, body, renewed]) statuses.push((await nodeRed.post("/mentra/webhook", sent)).status);
            assert.deepEqual(statuses, [200, 200, 200]);
            await collector.waitFor("mentra:1", 2);
            const events = await collector.settle("mentra:1");
            assert.deepEqual(events.map((msg) => msg.payload.timestamp), ["2025-07-01T08:00:00.000Z", "2025-07-01T08:05:00.000Z"]);
        });

        it("with a secret, requires it as the last path segment or a token parameter", async () => {
            const body = JSON.stringify(mentraSession({ timestamp: new Date().toISOString() }));
            const accepted = ["/mentra-private/Mentra-t0ken", "/mentra-private/Mentra-t0ken/webhook", "/mentra-private?token=Mentra-t0ken"];
            const refused = ["/mentra-private", "/mentra-private/webhook", "/mentra-private/mentra-t0ken", "/mentra-private?token=wrong"];
            for (const path of accepted) {
                const sent = JSON.stringify({ ...JSON.parse(body), sessionId: path });
                assert.equal((await nodeRed.post(path, sent)).status, 200, path);
            }
            for (const path of refused) assert.equal((await nodeRed.post(path, body)).status, 401, path);
            const events = await collector.waitFor("mentra-token:1", accepted.length);
            assert.ok(events.every((msg) => msg.webhook.verified === true));
            await collector.waitFor("mentra-token:2", refused.length);
        });
    });

    describe("SynthesisVR", () => {
        it("splits a batch into one message per element, with msg.parts for a join node", async () => {
            const batch = synthesisBatch(3);
            const response = await nodeRed.post("/synthesis", JSON.stringify(batch));
            assert.equal(response.status, 200);
            const events = await collector.waitFor("synthesis:1", 3);
            assert.deepEqual(events.map((msg) => msg.payload), batch);
            assert.deepEqual(events.map((msg) => msg.parts?.index), [0, 1, 2]);
            const [first] = events;
            assert.deepEqual({ ...first.parts, id: undefined }, { id: undefined, index: 0, count: 3, type: "array", len: 1 });
            assert.ok(events.every((msg) => msg.parts?.id === first.parts?.id && msg.topic === "create"));
        });

        it("takes a batch with invalid elements: those go to output 2 in one message, the valid ones out", async () => {
            const [deleted, second] = [synthesisBatch(1, "delete")[0], synthesisBatch(2)[1]];
            const batch = [deleted, { uuid: "", action: "create" }, "nonsense", { ...second, uuid: "unique-2" }];
            const response = await nodeRed.post("/synthesis", JSON.stringify(batch));
            assert.equal(response.status, 200);
            const events = await collector.waitFor("synthesis:1", 2);
            const rejected = await collector.waitFor<TappedRejection>("synthesis:2", 1);
            assert.deepEqual(events.map((msg) => msg.payload.uuid), [deleted.uuid, "unique-2"]);
            assert.equal((await collector.settle("synthesis:2")).length, 1, "one message for the batch");
            assert.equal(rejected[0].payload.status, 400);
            assert.equal(rejected[0].payload.invalidCount, 2);
            assert.deepEqual(rejected[0].payload.invalid?.map((entry) => entry.index), [1, 2]);
            assert.ok(rejected[0].payload.provider === "synthesis" && !rejected[0].payload.reason.includes("\n"));
        });

        it("accepts a single object and an empty array; refuses malformed JSON", async () => {
            const single = { ...synthesisBatch(1)[0], uuid: "single-object" };
            assert.equal((await nodeRed.post("/synthesis", JSON.stringify(single))).status, 200);
            assert.equal((await nodeRed.post("/synthesis", "[]")).status, 200);
            const [msg] = await collector.waitFor("synthesis:1", 1);
            assert.equal(msg.payload.uuid, "single-object");
            const malformed = await nodeRed.post("/synthesis", '[{"uuid": "x", "action": "create"');
            assert.equal(malformed.status, 400);
            expectOneLineReason(malformed);
        });

        it("does not emit the same uuid and action twice within the window", async () => {
            const batch = [{ ...synthesisBatch(1)[0], uuid: "dedup-me" }];
            await nodeRed.post("/synthesis", JSON.stringify(batch));
            await nodeRed.post("/synthesis", JSON.stringify([...batch, { ...batch[0], action: "delete" }]));
            await collector.waitFor("synthesis:1", 2);
            const events = await collector.settle("synthesis:1");
            assert.deepEqual(events.map((msg) => msg.topic), ["create", "delete"]);
        });

        it("with a secret, requires the token", async () => {
            const body = JSON.stringify([{ ...synthesisBatch(1)[0], uuid: "token-test" }]);
            assert.equal((await nodeRed.post("/synthesis-private", body)).status, 401);
            assert.equal((await nodeRed.post("/synthesis-private/wrong", body)).status, 401);
            assert.equal((await nodeRed.post(`/synthesis-private/${SECRETS.synthesis}`, body)).status, 200);
            const [msg] = await collector.waitFor("synthesis-token:1", 1);
            assert.equal(msg.webhook.verified, true);
        });
    });

    describe("every receiver", () => {
        const signedSamples = async () => ({
            "/wms": await signDelivery("wms", JSON.parse(wmsBody({ sessionId: `s-${Math.random()}` })), SECRETS.wms),
            "/meshagent": await signDelivery("meshagent", meshagentEvent(), SECRETS.meshagent),
            "/mentra": await signDelivery("mentra", mentraSession({ timestamp: new Date().toISOString() })),
            "/synthesis": await signDelivery("synthesis", [{ ...synthesisBatch(1)[0], uuid: `u-${Math.random()}` }]),
        });

        it("answers malformed JSON 400 with a one-line reason and one message on output 2", async () => {
            for (const [path, id] of [["/wms", "wms"], ["/meshagent", "meshagent"], ["/mentra", "mentra"], ["/synthesis", "synthesis"]]) {
                const body = '{"event": ';
                const headers = path === "/wms" ? { "x-wms-content-mac": wmsSignature(body, SECRETS.wms) } : path === "/meshagent" ? { "meshagent-signature": await meshagentSignature(body, SECRETS.meshagent) } : {};
                const response = await nodeRed.post(path, body, headers);
                assert.equal(response.status, 400, path);
                assert.match(expectOneLineReason(response), /JSON/);
                const [msg] = await collector.waitFor(`${id}:2`, 1);
                assert.equal(msg.payload.status, 400);
            }
        });

        it("answers a schema failure 400", async () => {
            const body = wmsBody({ sequence: "first" });
            const response = await nodeRed.post("/wms", body, { "x-wms-content-mac": wmsSignature(body, SECRETS.wms) });
            assert.equal(response.status, 400);
            assert.match(expectOneLineReason(response), /sequence/);
            const mentra = await nodeRed.post("/mentra", JSON.stringify({ ...mentraSession(), userId: 42 }));
            assert.equal(mentra.status, 400);
            assert.match(String(mentra.json.message), /userId/);
        });

        it("answers a body over the limit 413, declared or streamed, and stays up", async () => {
            for (const path of ["/wms", "/meshagent", "/mentra", "/synthesis"]) {
                const big = JSON.stringify({ padding: "x".repeat(1024 * 1024) });
                // A well-formed signature header (wrong, but checked only once the body is in): the body is read, and cut off.
                const signatureHeaders: Record<string, string> = ({ "/wms": { "x-wms-content-mac": `hmac-sha256=${"0".repeat(64)}` }, "/meshagent": { "meshagent-signature": "Bearer e30.e30.AAAA" } } as Record<string, Record<string, string>>)[path] ?? {};
                const declared = await nodeRed.post(path, big, { ...signatureHeaders, "content-length": String(Buffer.byteLength(big)) });
                assert.equal(declared.status, 413, path);
                expectOneLineReason(declared);
                const unsigned = await nodeRed.post(path, big, { "content-length": String(Buffer.byteLength(big)) });
                assert.equal(unsigned.status, 413, `${path}: the declared length is refused first`);
                const chunked = await nodeRed.post(path, big, signatureHeaders);
                assert.equal(chunked.status, 413, `${path}: streamed`);
                const streamed = await postChunked(nodeRed.nodeUrl(path), Array.from({ length: 20 }, () => "x".repeat(64 * 1024)), signatureHeaders);
                assert.ok(streamed.status === 413 || streamed.status === "reset", `${path}: ${streamed.status}`);
            }
            const samples = await signedSamples();
            for (const [path, { body, headers }] of Object.entries(samples)) {
                assert.equal((await nodeRed.post(path, body, headers)).status, 200, `${path} still works`);
            }
        });

        it("answers a content type that is not JSON 415", async () => {
            for (const [path, { body, headers }] of Object.entries(await signedSamples())) {
                for (const type of ["multipart/form-data; boundary=x", "application/xml", "application/json; charset=utf-16"]) {
                    const response = await nodeRed.post(path, body, { ...headers, "content-type": type });
                    assert.equal(response.status, 415, `${type} to ${path}`);
                    expectOneLineReason(response);
                }
            }
            await collector.waitFor("wms:2", 3);
            assert.equal((await collector.settle("wms:1")).length, 0);
        });

        it("answers any other method 405 with Allow: POST", async () => {
            for (const path of ["/wms", "/meshagent", "/mentra", "/synthesis"]) {
                for (const method of ["GET", "PUT", "DELETE"]) {
                    const response = await request(nodeRed.nodeUrl(path), { method });
                    assert.equal(response.status, 405, `${method} ${path}`);
                    assert.equal(response.headers.allow, "POST");
                    expectOneLineReason(response);
                }
            }
        });

        it("answers before the flow has run: a slow flow never makes the provider wait", async () => {
            const slowTab = "tab-slow";
            const flows = (await nodeRed.flows()).flows.filter((node) => node.z !== slowTab && node.id !== slowTab);
            const [tapNodes] = collector.tap("slow", slowTab);
            const report = tapNodes.find((node) => node.id === "slow-post1");
            assert.ok(report);
            await nodeRed.deploy([
                ...flows,
                { id: slowTab, type: "tab", label: "slow" },
                { id: "slow-in", type: "synthesis-webhook", z: slowTab, path: "/slow", wires: [["slow-busy"], []] },
                // Blocks Node-RED's event loop for two seconds per event: the provider's whole budget.
                { id: "slow-busy", type: "function", z: slowTab, func: "const end = Date.now() + 2000; while (Date.now() < end) {}\nreturn msg;", outputs: 1, wires: [["slow-fn1"]] },
                ...tapNodes.filter((node) => node.id === "slow-fn1"),
                report,
            ]);
            const order: string[] = [];
            const answered = nodeRed.post("/slow", JSON.stringify(synthesisBatch(1))).then((response) => order.push(`answer ${response.status}`));
            const emitted = collector.waitFor("slow:1", 1, 10000).then(() => order.push("flow done"));
            await Promise.all([answered, emitted]);
            assert.deepEqual(order, ["answer 200", "flow done"]);
        });
    });
});

describe("end to end: a delivery that fails after its reservation leaves nothing marked as seen", function () {
    this.timeout(60000);
    const suite = startedForSuite();

    it("answers a delivery whose emission throws 500, and its retry again (not 200 as a duplicate)", async () => {
        const { nodeRed } = suite;
        // Two wires on output 1: Node-RED clones the message for the second, and a payload nested
        // 200,000 deep makes that clone throw inside the receiver's send.
        await nodeRed.deploy([
            { id: "tab-deep", type: "tab", label: "deep" },
            { id: "deep", z: "tab-deep", type: "mentra-webhook", path: "/deep", wires: [["sink-a", "sink-b"], []] },
            { id: "sink-a", z: "tab-deep", type: "junction", wires: [] },
            { id: "sink-b", z: "tab-deep", type: "junction", wires: [] },
        ]);
        const session = JSON.stringify(mentraSession({ timestamp: new Date().toISOString() }));
        const deep = `${session.slice(0, -1)},"nested":${"[".repeat(200000)}${"]".repeat(200000)}}`;
        const first = await nodeRed.post("/deep", deep);
        assert.equal(first.status, 500, first.text);
        const retry = await nodeRed.post("/deep", deep);
        assert.equal(retry.status, 500, "the retry is taken again, not answered as a duplicate of an event never emitted");
        assert.equal((await nodeRed.post("/deep", session)).status, 200, "the node still works");
    });
});
