// Standard Webhooks: deliveries signed by the official JavaScript library (npm standardwebhooks)
// and by Ed25519 keys verify; forged, replayed, skewed and malformed ones are refused.
import assert = require("node:assert/strict");
import { generateKeyPairSync, sign as ed25519Sign } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { exchange, FakeRequest, FakeResponse, routed } from "../../support/exchange.js";
import { ready, rejects } from "../../support/assertions.js";
import { standard, type StandardEvent, standardOptions, standardSecretProblem, standardSignatureHeaders } from "../../../nodes/providers/standard.js";
import { Receiver, DEFAULT_SETTINGS } from "../../../nodes/receive/pipeline.js";
import type { Delivery } from "../../../nodes/receive/provider.js";
import { recordingOutlet } from "../../support/outlet.js";
import { sampleDelivery } from "../../../nodes/providers/signing.js";

// The official library's own test secret and message id.
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET = "whsec_dmVyaWZpZWQtd2ViaG9va3MtZGVtby1rZXktMzItYnl0ZXM=";
const MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const BODY = JSON.stringify({ type: "invoice.paid", timestamp: "2026-11-24T10:00:00.000Z", data: { id: "in_1", amount: 4200 } });
const options = standardOptions({});
const now = () => Math.floor(Date.now() / 1000);

/** Headers as the official library signs them. */
function officialHeaders(body = BODY, { secret = SECRET, id = MSG_ID, timestamp = now() }: { secret?: string; id?: string; timestamp?: number } = {}): Record<string, string> {
    const signature = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
    return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signature };
}

const delivery = (body: string, headers: Record<string, string | undefined>): Delivery => ({ body: Buffer.from(body), headers, path: ["standard"], extraPath: [], query: "" });

const refused = (action: () => unknown, status = 401) => rejects(action, status);

describe("Standard Webhooks provider", () => {
    const keys = ready(standard.prepareKeys(["whsec_b2xkLXJvdGF0ZWQtb3V0LXNlY3JldC0yNA==", SECRET]));

    it("verifies what the official library signs, with any configured secret", () => {
        assert.deepEqual(standard.verify(delivery(BODY, officialHeaders()), keys, options), { verified: true });
        const unprefixed = ready(standard.prepareKeys([SECRET.slice("whsec_".length)]));
        assert.deepEqual(standard.verify(delivery(BODY, officialHeaders()), unprefixed, options), { verified: true }, "as the library, a secret without whsec_");
    });

    it("agrees with the official library on our own signatures", () => {
        const headers = standardSignatureHeaders(BODY, SECRET);
        assert.deepEqual(new Webhook(SECRET).verify(BODY, headers), JSON.parse(BODY));
        assert.equal(headers["webhook-signature"], new Webhook(SECRET).sign(headers["webhook-id"], new Date(Number(headers["webhook-timestamp"]) * 1000), BODY));
    });

    it("accepts Svix's header names and a list of signatures during a key rotation (the specification's header form)", () => {
        const official = officialHeaders();
        const svix = { "svix-id": official["webhook-id"], "svix-timestamp": official["webhook-timestamp"], "svix-signature": official["webhook-signature"] };
        assert.deepEqual(standard.verify(delivery(BODY, svix), keys, options), { verified: true });
        // As the specification's example: a v1 and a v1a signature, space-separated; here the v1 is ours.
        const v1a = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
        const rotated = { ...official, "webhook-signature": `v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= ${v1a} ${official["webhook-signature"]}` };
        assert.deepEqual(standard.verify(delivery(BODY, rotated), keys, options), { verified: true });
        const onlyExample = { ...official, "webhook-signature": `v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= ${v1a}` };
        assert.doesNotThrow(() => standard.checkHead!(delivery(BODY, onlyExample), keys, options), "the example header is well-formed");
        return refused(() => standard.verify(delivery(BODY, onlyExample), keys, options));
    });

    it("verifies v1a (Ed25519) signatures with a whpk_ public key", () => {
        const { publicKey, privateKey } = generateKeyPairSync("ed25519");
        const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
        const edKeys = ready(standard.prepareKeys([`whpk_${raw.toString("base64")}`]));
        const timestamp = now();
        const signature = ed25519Sign(null, Buffer.from(`${MSG_ID}.${timestamp}.${BODY}`), privateKey).toString("base64");
        const headers = { "webhook-id": MSG_ID, "webhook-timestamp": String(timestamp), "webhook-signature": `v1a,${signature}` };
        assert.deepEqual(standard.verify(delivery(BODY, headers), edKeys, options), { verified: true });
        return refused(() => standard.verify(delivery(BODY.replace("4200", "1"), headers), edKeys, options));
    });

    it("refuses forged, tampered, replayed-late and skewed deliveries with 401", async () => {
        const good = officialHeaders();
        const attempts: Record<string, [string, Record<string, string | undefined>]> = {
            "wrong secret": [BODY, officialHeaders(BODY, { secret: OTHER_SECRET })],
            "tampered body": [BODY.replace("4200", "42000"), good],
            "another id": [BODY, { ...good, "webhook-id": "msg_other" }],
            "another timestamp": [BODY, { ...good, "webhook-timestamp": String(now() - 1) }],
            "too old": [BODY, officialHeaders(BODY, { timestamp: now() - 301 })],
            "too new": [BODY, officialHeaders(BODY, { timestamp: now() + 301 })],
            "missing id": [BODY, { ...good, "webhook-id": undefined }],
            "missing signature": [BODY, { ...good, "webhook-signature": undefined }],
            "unknown version only": [BODY, { ...good, "webhook-signature": good["webhook-signature"]!.replace("v1,", "v2,") }],
            "id with a dot": [BODY, officialHeaders(BODY, { id: "msg.1" })],
            "timestamp not a number": [BODY, { ...good, "webhook-timestamp": "1e9" }],
            "truncated signature": [BODY, { ...good, "webhook-signature": good["webhook-signature"]!.slice(0, -4) }],
        };
        for (const [name, [body, headers]] of Object.entries(attempts)) {
            const clean = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined));
            const reason = await refused(() => standard.verify(delivery(body, clean), keys, options));
            assert.ok(reason.length < 120 && !reason.includes(SECRET), name);
        }
    });

    it("reads options: a tolerance never longer than the de-duplication window", () => {
        assert.deepEqual(standardOptions({}), { events: ["*"], toleranceSeconds: 300 });
        assert.equal(standardOptions({ toleranceSeconds: "900", dedupSeconds: "600" }).toleranceSeconds, 600);
        assert.equal(standardOptions({ toleranceSeconds: "60" }).toleranceSeconds, 60);
        assert.deepEqual(standardOptions({ events: "invoice.*, user.created" }).events, ["invoice.*", "user.created"]);
    });

    it("refuses secrets that are neither whsec_ nor whpk_ keys, without quoting them", () => {
        assert.equal(standardSecretProblem([SECRET]), undefined);
        assert.match(String(standardSecretProblem([SECRET, "not base64 !"])), /^secret 2 is not whsec_<base64> or whpk_<base64>$/);
        assert.match(String(standardSecretProblem(["whpk_AAAA"])), /not an Ed25519 key/);
    });
});

describe("Standard Webhooks through the pipeline", () => {
    function receiver(config: Record<string, unknown> = {}) {
        const outlet = recordingOutlet<StandardEvent>();
        const target = new Receiver(standard, standard.options(config), [SECRET], { ...DEFAULT_SETTINGS }, outlet);
        return { target, events: outlet.events, rejections: outlet.rejections };
    }

    it("emits an event once per webhook-id: a replay within the tolerance is a duplicate", async () => {
        const { target, events } = receiver();
        const headers = officialHeaders();
        assert.equal((await exchange(target, BODY, { headers })).status, 200);
        assert.equal((await exchange(target, BODY, { headers })).status, 200);
        const retry = officialHeaders(BODY, { timestamp: now() + 2 }); // a retry: same id, new timestamp and signature
        assert.equal((await exchange(target, BODY, { headers: retry })).status, 200);
        assert.equal(events.length, 1);
        assert.equal(events[0].topic, "invoice.paid");
        assert.equal(events[0].webhook.verified, true);
    });

    it("answers a missing or malformed signature header before reading the body", async () => {
        const { target } = receiver();
        const req = new FakeRequest({ headers: { "webhook-id": MSG_ID, "webhook-timestamp": String(now()) } });
        const res = new FakeResponse();
        req.write("{"); // never finished: must not be waited for
        await target.handle(routed(req, res, { path: ["standard"], extraPath: [], query: "" }));
        assert.equal(res.status, 401);
    });

    it("filters event types but answers them all", async () => {
        const { target, events } = receiver({ events: "user.*" });
        for (const [id, type] of [["msg_a", "user.created"], ["msg_b", "invoice.paid"]]) {
            const body = JSON.stringify({ type, data: {} });
            assert.equal((await exchange(target, body, { headers: officialHeaders(body, { id }) })).status, 200);
        }
        assert.deepEqual(events.map((message) => message.topic), ["user.created"]);
    });

    it("signs its samples as the official library verifies them", async () => {
        for (const name of Object.keys(standard.samples)) {
            const { body, headers } = await sampleDelivery(standard, name, SECRET);
            assert.equal((new Webhook(SECRET).verify(body, headers) as StandardEvent).type, name);
        }
    });
});
