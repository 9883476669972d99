"use strict";
// The receiving pipeline on plain in-memory requests: no Node-RED, no sockets. What each
// delivery is answered, what reaches the two outputs, and what de-duplication state keeps.
const assert = require("node:assert/strict");
const { wmsBody, synthesisBatch, dist } = require("../support/fixtures");
const { FakeRequest, FakeResponse, exchange } = require("../support/exchange");
const { Receiver, DEFAULT_SETTINGS } = dist("core/pipeline.js");
const { MemoryState } = dist("core/state.js");
const { wms, wmsSignature } = dist("providers/wms.js");
const { synthesis } = dist("providers/synthesis.js");

const SECRET = "unit-mac-secret";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const signed = (body) => ({ "x-wms-content-mac": wmsSignature(body, SECRET) });

/** A de-duplication state that records what the pipeline reserves, commits and releases. */
class RecordingState {
    constructor(inner = new MemoryState(DEFAULT_SETTINGS), { delayMs = 0, failWith } = {}) {
        this.inner = inner;
        this.delayMs = delayMs;
        this.failWith = failWith;
        this.reserved = 0;
        this.committed = 0;
        this.released = 0;
    }

    reserve(scope, identities) {
        this.reserved++;
        if (this.failWith) return Promise.reject(this.failWith);
        const reservation = this.inner.reserve(scope, identities);
        const recorded = {
            statuses: reservation.statuses,
            previousHighest: reservation.previousHighest,
            commit: () => {
                this.committed++;
                reservation.commit();
            },
            release: () => {
                this.released++;
                return reservation.release();
            },
        };
        return this.delayMs ? sleep(this.delayMs).then(() => recorded) : recorded;
    }

    get open() {
        return this.reserved - this.committed - this.released;
    }
}

/** A receiver of `provider` whose outputs are recorded; `arrive` decides what emit's check returns. */
function receiverFor(provider, { settings = {}, secrets = [SECRET], state, arrive = () => true, emitThrows } = {}) {
    const outputs = { events: [], rejections: [], calls: 0 };
    const receiver = new Receiver(
        provider,
        provider.options({}),
        secrets,
        { ...DEFAULT_SETTINGS, ...settings },
        {
            emit(events, rejections) {
                outputs.calls++;
                if (emitThrows && events.length) throw emitThrows;
                outputs.events.push(...events);
                outputs.rejections.push(...rejections);
                return arrive;
            },
        },
        { scope: `${provider.name}:/hook`, ...(state ? { state } : {}) },
    );
    return { receiver, outputs };
}

const sendWms = (receiver, fields = {}, extra = {}) => {
    const body = wmsBody(fields);
    return exchange(receiver, body, { headers: signed(body), ...extra });
};

describe("pipeline: accepted deliveries", () => {
    it("answers 200 and emits one typed message per verified event", async () => {
        const { receiver, outputs } = receiverFor(wms);
        const res = await sendWms(receiver);
        assert.equal(res.status, 200);
        assert.deepEqual(res.json, { status: "ok" });
        assert.equal(outputs.events.length, 1);
        const [message] = outputs.events;
        assert.equal(message.topic, "MEASUREMENT_CREATED");
        assert.equal(message.payload.sessionId, "ryueiwoqfh910fu3rpqruvfiu");
        assert.equal(message.webhook.provider, "wms");
        assert.equal(message.webhook.verified, true);
        assert.match(message.webhook.deliveryId, /^[0-9a-f-]{36}$/);
        assert.ok(!Number.isNaN(Date.parse(message.webhook.receivedAt)));
        assert.deepEqual(receiver.counts, { accepted: 1, rejected: 0 });
    });

    it("answers a duplicate 200 and does not emit it again", async () => {
        const { receiver, outputs } = receiverFor(wms);
        assert.equal((await sendWms(receiver)).status, 200);
        assert.equal((await sendWms(receiver)).status, 200);
        assert.equal(outputs.events.length, 1);
        assert.deepEqual(receiver.counts, { accepted: 2, rejected: 0 });
    });

    it("reports WMS sequence gaps, emits a late event that fills one, and drops its repeat", async () => {
        const { receiver, outputs } = receiverFor(wms);
        await sendWms(receiver, { sequence: 0 });
        await sendWms(receiver, { sequence: 3 });
        await sendWms(receiver, { sequence: 1 });
        await sendWms(receiver, { sequence: 1 });
        await sendWms(receiver, { sequence: 0, sessionId: "another-session" });
        assert.deepEqual(
            outputs.events.map(({ payload, webhook }) => [payload.sessionId.slice(0, 7), payload.sequence, webhook.missing, webhook.missingCount]),
            [
                ["ryueiwo", 0, [], 0],
                ["ryueiwo", 3, [1, 2], 2],
                ["ryueiwo", 1, [], 0],
                ["another", 0, [], 0],
            ],
        );
    });

    it("splits a batch, emits its valid elements with parts, and reports the invalid ones", async () => {
        const { receiver, outputs } = receiverFor(synthesis, { secrets: [] });
        const [first, second] = synthesisBatch(2);
        const res = await exchange(receiver, JSON.stringify([first, 0, { ...first, uuid: "" }, second]));
        assert.equal(res.status, 200);
        assert.deepEqual(res.json, { status: "ok", accepted: 2, duplicates: 0, rejected: 2 });
        assert.deepEqual(outputs.events.map((message) => [message.payload.uuid, message.parts.index, message.parts.count]), [
            [first.uuid, 0, 2],
            [second.uuid, 1, 2],
        ]);
        assert.equal(outputs.events[0].webhook.verified, false, "no token configured: nothing was verified");
        const indexes = outputs.rejections.flatMap((message) => message.payload.index ?? message.payload.invalid?.map((entry) => entry.index));
        assert.deepEqual(indexes, [1, 2]);
        assert.ok(outputs.rejections.every((message) => message.payload.status === 400));
    });

    it("answers a batch's already-seen elements as duplicates and emits only the new ones", async () => {
        const { receiver, outputs } = receiverFor(synthesis, { secrets: [] });
        const batch = synthesisBatch(3);
        await exchange(receiver, JSON.stringify(batch.slice(0, 2)));
        const res = await exchange(receiver, JSON.stringify(batch));
        assert.deepEqual(res.json, { status: "ok", accepted: 1, duplicates: 2, rejected: 0 });
        assert.equal(outputs.events.length, 3);
        assert.deepEqual(outputs.events[2].parts, { id: outputs.events[2].webhook.deliveryId, index: 0, count: 1, type: "array", len: 1 });
    });
});

describe("pipeline: refused deliveries", () => {
    /** Asserts the answer's status and that the refusal reached output 2 with the same status. */
    function refused(res, outputs, status, reason) {
        assert.equal(res.status, status, res.text);
        assert.match(res.json.error, reason);
        const last = outputs.rejections.at(-1);
        assert.equal(last.payload.status, status);
        assert.equal(last.webhook.remoteAddress, "203.0.113.7");
        assert.equal(outputs.events.length, 0);
    }

    it("405 with Allow for any method but POST", async () => {
        const { receiver, outputs } = receiverFor(wms);
        const res = await exchange(receiver, "", { method: "PUT" });
        refused(res, outputs, 405, /use POST/);
        assert.equal(res.headers.allow, "POST");
    });

    it("401 for a missing or wrong MAC", async () => {
        const { receiver, outputs } = receiverFor(wms);
        refused(await exchange(receiver, wmsBody()), outputs, 401, /missing X-WMS-Content-MAC/);
        refused(await exchange(receiver, wmsBody(), { headers: signed(wmsBody({ sequence: 9 })) }), outputs, 401, /does not match/);
    });

    it("415 for a content type that is not JSON", async () => {
        const { receiver, outputs } = receiverFor(wms);
        const body = wmsBody();
        refused(await exchange(receiver, body, { headers: { ...signed(body), "content-type": "text/html" } }), outputs, 415, /not JSON/);
        refused(await exchange(receiver, body, { headers: { ...signed(body), "content-type": "application/json; charset=latin1" } }), outputs, 415, /UTF-8/);
    });

    it("413 for a declared length over the limit, before reading the body", async () => {
        const { receiver, outputs } = receiverFor(wms, { settings: { maxBodyBytes: 100 } });
        const req = new FakeRequest({ headers: { "content-length": "101" } });
        const res = new FakeResponse();
        await receiver.handle({ req, res, path: ["hook"], extraPath: [], query: "" });
        refused(res, outputs, 413, /exceeds the limit of 100 bytes/);
        assert.equal(req.readableLength, 0, "nothing was read");
        assert.equal(res.headers.connection, "close");
    });

    it("413 for a streamed body that grows past the limit", async () => {
        const { receiver, outputs } = receiverFor(wms, { settings: { maxBodyBytes: 100 } });
        const req = new FakeRequest();
        const res = new FakeResponse();
        const handled = receiver.handle({ req, res, path: ["hook"], extraPath: [], query: "" });
        req.write("x".repeat(60));
        req.write("x".repeat(60));
        await handled;
        refused(res, outputs, 413, /exceeds the limit/);
    });

    it("408 for a body that does not arrive within the body timeout", async () => {
        const { receiver, outputs } = receiverFor(wms, { settings: { bodyTimeoutMs: 50 } });
        const req = new FakeRequest();
        const res = new FakeResponse();
        req.write("{");
        await receiver.handle({ req, res, path: ["hook"], extraPath: [], query: "" });
        refused(res, outputs, 408, /not received within/);
    });

    it("400 for malformed JSON and for an event that fails the schema", async () => {
        const { receiver, outputs } = receiverFor(wms);
        const broken = '{"sequence": 0,';
        refused(await exchange(receiver, broken, { headers: signed(broken) }), outputs, 400, /not valid JSON/);
        const invalid = wmsBody({ severity: "LOUD" });
        refused(await exchange(receiver, invalid, { headers: signed(invalid) }), outputs, 400, /severity/);
    });

    it("503 with Retry-After once closed", async () => {
        const { receiver, outputs } = receiverFor(wms);
        receiver.close();
        const res = await sendWms(receiver);
        refused(res, outputs, 503, /restarting/);
        assert.equal(res.headers["retry-after"], "1");
    });
});

describe("pipeline: nothing acknowledged is lost, nothing is left reserved", () => {
    it("answers 503 and releases the reservation when the messages will not arrive, so the retry is taken", async () => {
        const state = new RecordingState();
        let arrives = false;
        const { receiver, outputs } = receiverFor(wms, { state, arrive: () => arrives });
        const lost = await sendWms(receiver);
        assert.equal(lost.status, 503);
        assert.equal(state.released, 1);
        arrives = true;
        const retry = await sendWms(receiver);
        assert.equal(retry.status, 200);
        assert.equal(state.committed, 1);
        assert.equal(outputs.events.length, 2, "the retry is emitted again, not taken for a duplicate");
    });

    it("answers 503 and releases when the receiver closes while the reservation is being made", async () => {
        const state = new RecordingState(undefined, { delayMs: 20 });
        const { receiver, outputs } = receiverFor(wms, { state });
        const pending = sendWms(receiver);
        await sleep(5);
        receiver.close();
        assert.equal((await pending).status, 503);
        assert.equal(state.released, 1);
        assert.equal(state.open, 0);
        assert.equal(outputs.events.length, 0);
    });

    it("answers 503 for a single event another delivery is taking in, releasing what it holds", async () => {
        const inner = { reserve: () => ({ statuses: ["busy"], previousHighest: [undefined], commit() {}, release() {} }) };
        const state = new RecordingState(inner);
        const { receiver, outputs } = receiverFor(wms, { state });
        const res = await sendWms(receiver);
        assert.equal(res.status, 503);
        assert.match(res.json.error, /being received/);
        assert.equal(state.released, 1);
        assert.equal(outputs.events.length, 0);
    });

    it("answers 503 when the state cannot be reached", async () => {
        const state = new RecordingState(undefined, { failWith: new Error("connection refused") });
        const { receiver } = receiverFor(wms, { state });
        const res = await sendWms(receiver);
        assert.equal(res.status, 503);
        assert.match(res.json.error, /state unavailable/);
    });

    it("releases the reservation when emitting fails, so the sender's retry is not taken for a duplicate", async () => {
        const state = new RecordingState();
        const { receiver } = receiverFor(wms, { state, emitThrows: new RangeError("Maximum call stack size exceeded") });
        const res = await sendWms(receiver);
        assert.equal(res.status, 500);
        assert.equal(state.released, 1);
        assert.equal(state.open, 0);
        const { receiver: fixed, outputs } = receiverFor(wms, { state });
        assert.equal((await sendWms(fixed)).status, 200);
        assert.equal(outputs.events.length, 1);
    });

    it("commits every reservation it acknowledges and leaves none open", async () => {
        const state = new RecordingState();
        const { receiver } = receiverFor(synthesis, { secrets: [], state });
        const batch = synthesisBatch(4);
        await exchange(receiver, JSON.stringify(batch.slice(0, 2)));
        await exchange(receiver, JSON.stringify(batch));
        await exchange(receiver, JSON.stringify(batch));
        assert.equal(state.committed, 3);
        assert.equal(state.open, 0);
    });
});

describe("pipeline: concurrency", () => {
    it("answers 429 with Retry-After past the deliveries it handles at once", async () => {
        const { receiver, outputs } = receiverFor(wms, { settings: { maxConcurrent: 1, bodyTimeoutMs: 200 } });
        const slow = new FakeRequest();
        const slowAnswer = new FakeResponse();
        const handling = receiver.handle({ req: slow, res: slowAnswer, path: ["hook"], extraPath: [], query: "" });
        const second = await sendWms(receiver);
        assert.equal(second.status, 429);
        assert.equal(second.headers["retry-after"], "1");
        assert.equal(outputs.rejections.at(-1).payload.status, 429);
        const body = wmsBody();
        slow.headers = { ...slow.headers, ...signed(body) };
        slow.end(body);
        await handling;
        assert.equal(slowAnswer.status, 200);
        assert.equal((await sendWms(receiver, { sequence: 1 })).status, 200, "the slot is free again");
    });
});
