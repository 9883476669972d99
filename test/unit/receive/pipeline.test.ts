// The receiving pipeline on plain in-memory requests: no Node-RED, no sockets. What each
// delivery is answered, what reaches the two outputs, and what de-duplication state keeps.
import assert = require("node:assert/strict");
import { recordedJson } from "../../../nodes/receive/record.js";
import { wmsBody, synthesisBatch, mentraSession } from "../../support/fixtures.js";
import { FakeRequest, FakeResponse, exchange, routed, type ExchangeOptions } from "../../support/exchange.js";
import { Receiver, DEFAULT_SETTINGS, deliveryOutcome, reacceptedEvents, type ReceiverSettings } from "../../../nodes/receive/pipeline.js";
import { recordingOutlet, type RecordingOutlet } from "../../support/outlet.js";
import { Rejection, type Provider } from "../../../nodes/receive/provider.js";
import { MemoryState, type DedupState, type Identity, type Reservation } from "../../../nodes/dedup/state.js";
import { wms, wmsSignature, type WmsEvent } from "../../../nodes/providers/wms.js";
import { synthesis, type SynthesisEvent } from "../../../nodes/providers/synthesis.js";
import { mentra } from "../../../nodes/providers/mentra.js";

const SECRET = "unit-mac-secret";
const HOOK = { path: ["hook"], extraPath: [], query: "" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const signed = (body: string) => ({ "x-wms-content-mac": wmsSignature(body, SECRET) });

/** A state whose reservations are made at once (the in-memory one, or a test's own). */
interface SyncState {
    reserve(scope: string, identities: readonly Identity[]): Reservation;
}

/** A de-duplication state that records what the pipeline reserves, commits and releases. */
class RecordingState implements DedupState {
    reserved = 0;
    committed = 0;
    released = 0;
    private readonly delayMs: number;
    private readonly failWith: Error | undefined;

    constructor(
        private readonly inner: SyncState = new MemoryState(DEFAULT_SETTINGS),
        { delayMs = 0, failWith }: { delayMs?: number; failWith?: Error } = {},
    ) {
        this.delayMs = delayMs;
        this.failWith = failWith;
    }

    reserve(scope: string, identities: readonly Identity[]): Reservation | Promise<Reservation> {
        this.reserved++;
        if (this.failWith) return Promise.reject(this.failWith);
        const reservation = this.inner.reserve(scope, identities);
        const recorded: Reservation = {
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

    get open(): number {
        return this.reserved - this.committed - this.released;
    }
}

interface ReceiverSetup {
    settings?: Partial<ReceiverSettings>;
    secrets?: string[];
    state?: DedupState;
    /** What emit's check returns: whether the messages still reach the next nodes. */
    arrive?: () => boolean;
    emitThrows?: Error;
}

/** A receiver of `provider` whose outlet records what it is handed. */
function receiverFor<Event, Options, Keys>(
    provider: Provider<Event, Options, Keys>,
    { settings = {}, secrets = [SECRET], state, arrive, emitThrows }: ReceiverSetup = {},
): { receiver: Receiver<Event, Options, Keys>; outputs: RecordingOutlet<Event> } {
    const outputs = recordingOutlet<Event>({ ...(arrive ? { arrive } : {}), ...(emitThrows ? { emitThrows } : {}) });
    const receiver = new Receiver(provider, provider.options({}), secrets, { ...DEFAULT_SETTINGS, ...settings }, outputs, {
        scope: `${provider.name}:/hook`,
        ...(state ? { state } : {}),
    });
    return { receiver, outputs };
}

/** Hands `req` and `res` to `target` as the route table would. */
const receiver = <Event, Options, Keys>(target: Receiver<Event, Options, Keys>, req: FakeRequest, res: FakeResponse) =>
    target.handle(routed(req, res, HOOK));

const sendWms = <Options, Keys>(receiver: Receiver<WmsEvent, Options, Keys>, fields: Record<string, unknown> = {}, extra: ExchangeOptions = {}) => {
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
        assert.deepEqual(receiver.counts, { accepted: 1, duplicates: 0, rejected: 0 });
    });

    it("answers a duplicate 200 and does not emit it again", async () => {
        const { receiver, outputs } = receiverFor(wms);
        assert.equal((await sendWms(receiver)).status, 200);
        assert.equal((await sendWms(receiver)).status, 200);
        assert.equal(outputs.events.length, 1);
        assert.deepEqual(receiver.counts, { accepted: 1, duplicates: 1, rejected: 0 });
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
        assert.deepEqual(outputs.events.map((message) => [message.payload.uuid, message.parts?.index, message.parts?.count]), [
            [first.uuid, 0, 2],
            [second.uuid, 1, 2],
        ]);
        assert.equal(outputs.events[0].webhook.verified, false, "no token configured: nothing was verified");
        assert.equal(outputs.rejections.length, 1, "one message for the batch's invalid elements");
        assert.deepEqual(outputs.rejections[0].payload.invalid?.map((entry) => entry.index), [1, 2]);
        assert.equal(outputs.rejections[0].payload.invalidCount, 2);
        assert.equal(outputs.rejections[0].payload.status, 400);
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
    function refused<Event>(res: FakeResponse, outputs: RecordingOutlet<Event>, status: number, reason: RegExp): void {
        assert.equal(res.status, status, res.text);
        assert.match(String(res.json.error), reason);
        const last = outputs.rejections.at(-1);
        assert.equal(last?.payload.status, status);
        assert.equal(last?.webhook.remoteAddress, "203.0.113.7");
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
        await receiver.handle(routed(req, res, HOOK));
        refused(res, outputs, 413, /exceeds the limit of 100 bytes/);
        assert.equal(req.readableLength, 0, "nothing was read");
        assert.equal(res.headers.connection, "close");
    });

    it("413 for a streamed body that grows past the limit", async () => {
        const { receiver, outputs } = receiverFor(wms, { settings: { maxBodyBytes: 100 } });
        const req = new FakeRequest({ headers: signed("{}") });
        const res = new FakeResponse();
        const handled = receiver.handle(routed(req, res, HOOK));
        req.write("x".repeat(60));
        req.write("x".repeat(60));
        await handled;
        refused(res, outputs, 413, /exceeds the limit/);
    });

    it("408 for a body that does not arrive within the body timeout", async () => {
        const { receiver, outputs } = receiverFor(wms, { settings: { bodyTimeoutMs: 50 } });
        const req = new FakeRequest({ headers: signed("{}") });
        const res = new FakeResponse();
        req.write("{");
        await receiver.handle(routed(req, res, HOOK));
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
        const inner: SyncState = { reserve: () => ({ statuses: ["busy"], previousHighest: [undefined], commit() {}, release() {} }) };
        const state = new RecordingState(inner);
        const { receiver, outputs } = receiverFor(wms, { state });
        const res = await sendWms(receiver);
        assert.equal(res.status, 503);
        assert.match(String(res.json.error), /being received/);
        assert.equal(state.released, 1);
        assert.equal(outputs.events.length, 0);
    });

    it("answers 503 when the state cannot be reached", async () => {
        const state = new RecordingState(undefined, { failWith: new Error("connection refused") });
        const { receiver } = receiverFor(wms, { state });
        const res = await sendWms(receiver);
        assert.equal(res.status, 503);
        assert.match(String(res.json.error), /state unavailable/);
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

describe("pipeline: authentication before work", () => {
    it("answers a missing or malformed signature header, or a wrong token, without reading the body", async () => {
        const { receiver: wmsReceiver } = receiverFor(wms);
        for (const headers of [{}, { "x-wms-content-mac": "sha256=abc" }]) {
            const req = new FakeRequest({ headers });
            const res = new FakeResponse();
            req.write("{"); // a body that never ends: it must not be waited for
            await receiver(wmsReceiver, req, res);
            assert.equal(res.status, 401);
            assert.equal(res.headers.connection, "close", "the unread body is not drained");
            assert.equal(wmsReceiver.stats().bodiesArriving, 0);
        }
        const { receiver: tokenReceiver } = receiverFor(synthesis, { secrets: ["t0ken"] });
        const req = new FakeRequest();
        const res = new FakeResponse();
        req.write("[");
        await tokenReceiver.handle(routed(req, res, { path: ["hook", "wrong"], extraPath: ["wrong"], query: "" }));
        assert.equal(res.status, 401);
    });

    it("does not count bodies still arriving against the deliveries it handles at once", async () => {
        const { receiver } = receiverFor(wms, { settings: { maxConcurrent: 1 } });
        const idle = [];
        for (let n = 0; n < 5; n++) {
            const req = new FakeRequest({ headers: signed("{}") });
            req.write("{");
            idle.push({ req, handled: receiver.handle(routed(req, new FakeResponse(), { path: ["hook"], extraPath: [], query: "" })) });
        }
        await sleep(5);
        assert.equal(receiver.stats().bodiesArriving, 5);
        assert.equal((await sendWms(receiver)).status, 200, "a genuine delivery is not refused 429 for them");
        for (const { req } of idle) req.destroy();
        await Promise.all(idle.map(({ handled }) => handled));
        assert.equal(receiver.stats().bodiesArriving, 0);
        assert.equal(receiver.stats().bufferedBytes, 0);
    });

    it("cuts off a silent sender after the idle time, and a trickling one below the minimum rate", async function () {
        this.timeout(10000);
        const { receiver } = receiverFor(wms);
        const silent = new FakeRequest({ headers: signed("{}") });
        const silentAnswer = new FakeResponse();
        silent.write("{");
        const trickling = new FakeRequest({ headers: signed("{}") });
        const tricklingAnswer = new FakeResponse();
        const drip = setInterval(() => trickling.write(" "), 200);
        const started = Date.now();
        await Promise.all([
            receiver.handle(routed(silent, silentAnswer, { path: ["hook"], extraPath: [], query: "" })),
            receiver.handle(routed(trickling, tricklingAnswer, { path: ["hook"], extraPath: [], query: "" })),
        ]);
        clearInterval(drip);
        assert.equal(silentAnswer.status, 408);
        assert.match(String(silentAnswer.json.error), /no body data for 2 seconds/);
        assert.equal(tricklingAnswer.status, 408);
        assert.match(String(tricklingAnswer.json.error), /slower than 16 KiB\/s/);
        assert.ok(Date.now() - started < 3500, "within a couple of seconds, not the 10 s body timeout");
    });

    it("keeps the bytes of bodies arriving under the node's bound, cutting off the oldest to make room", async () => {
        const { receiver } = receiverFor(wms, { settings: { maxBodyBytes: 64, maxBufferedBytes: 600 } });
        const bound = receiver.stats().maxBufferedBytes;
        const readers = [];
        const chunk = "x".repeat(60);
        for (let n = 0; receiver.stats().bufferedBytes + chunk.length <= bound; n++) {
            const req = new FakeRequest({ headers: signed("{}") });
            const res = new FakeResponse();
            readers.push({ req, res, handled: receiver.handle(routed(req, res, HOOK)) });
            req.write(chunk);
            await new Promise(setImmediate);
        }
        const oldest = readers[0];
        const newcomer = new FakeRequest({ headers: signed("{}") });
        const newcomerAnswer = new FakeResponse();
        const handled = receiver.handle(routed(newcomer, newcomerAnswer, { path: ["hook"], extraPath: [], query: "" }));
        newcomer.write(chunk);
        await oldest.handled;
        assert.equal(oldest.res.status, 503, "the body arriving longest made way");
        assert.ok(receiver.stats().bufferedBytes <= bound);
        for (const { req } of readers) req.destroy();
        newcomer.destroy();
        await Promise.all([handled, ...readers.map((reader) => reader.handled)]);
        assert.equal(receiver.stats().bufferedBytes, 0);
    });
});

describe("pipeline: batches stay cheap", () => {
    it("refuses a batch over the node's limit of events (413)", async () => {
        const { receiver, outputs } = receiverFor(synthesis, { secrets: [], settings: { maxBatchEvents: 3 } });
        const res = await exchange(receiver, JSON.stringify(synthesisBatch(4)));
        assert.equal(res.status, 413);
        assert.match(String(res.json.error), /batch of 4 events exceeds the limit of 3/);
        assert.equal(outputs.events.length, 0);
    });

    it("records a batch as its body and the places of the elements emitted: past invalid ones and the event filter's", async () => {
        const filtered = { ...synthesis, wanted: (event: SynthesisEvent) => event.action !== "delete" };
        const { receiver, outputs } = receiverFor(filtered, { secrets: [] });
        const [first, second] = synthesisBatch(2);
        const body = JSON.stringify([first, 0, { ...second, action: "delete" }, { ...second, uuid: `${second!.uuid}-x` }]);
        const res = await exchange(receiver, body);
        assert.deepEqual(res.json, { status: "ok", accepted: 2, duplicates: 0, rejected: 1 });
        const [delivery] = outputs.accepted;
        assert.equal(delivery!.record!.body!.toString(), body, "the bytes as received");
        assert.deepEqual(delivery!.record!.elements, [0, 3]);
        assert.deepEqual(recordedJson(delivery!.record!), outputs.events.map((message) => message.payload));
    });

    it("reports a batch's invalid elements as one message: counts and the first reasons with their indexes", async () => {
        const { receiver, outputs } = receiverFor(synthesis, { secrets: [] });
        const elements = [...synthesisBatch(2), ...Array.from({ length: 998 }, () => 0)];
        const res = await exchange(receiver, JSON.stringify(elements));
        assert.deepEqual(res.json, { status: "ok", accepted: 2, duplicates: 0, rejected: 998 });
        assert.equal(outputs.rejections.length, 1);
        const [message] = outputs.rejections;
        assert.equal(message.payload.invalidCount, 998);
        assert.equal(message.payload.invalid?.length, 10);
        assert.deepEqual(message.payload.invalid?.[0], { index: 2, reason: "event must be a JSON object" });
        assert.match(message.payload.reason, /^998 events of the batch invalid; first, at 2:/);
    });

    it("keeps the event loop free: the largest deliveries within the default limits take well under 100 ms", async () => {
        const { monitorEventLoopDelay } = require("node:perf_hooks");
        const { receiver } = receiverFor(synthesis, { secrets: [] });
        const megabyte = DEFAULT_SETTINGS.maxBodyBytes;
        const bodies = {
            "zeros over the batch limit": `[${Array.from({ length: (megabyte - 2) / 2 }, () => "0").join(",")}]`,
            "1,000 invalid objects": JSON.stringify(Array.from({ length: 1000 }, (_, n) => ({ uuid: "", action: "x".repeat(900), n }))),
            "1,000 valid events": JSON.stringify(synthesisBatch(1000).map((event) => ({ ...event, location: "x".repeat(900) }))),
        };
        for (const [name, body] of Object.entries(bodies)) {
            assert.ok(Buffer.byteLength(body) <= megabyte, `${name}: ${Buffer.byteLength(body)} bytes`);
            const histogram = monitorEventLoopDelay({ resolution: 5 });
            histogram.enable();
            const res = await exchange(receiver, body, { headers: { "content-length": String(Buffer.byteLength(body)) } });
            await sleep(20);
            histogram.disable();
            assert.ok([200, 413].includes(res.status), `${name}: ${res.status}`);
            const worstMs = histogram.max / 1e6;
            assert.ok(worstMs < 100, `${name}: the event loop was held for ${worstMs.toFixed(1)} ms`);
        }
    });
});

describe("pipeline: concurrency", () => {
    it("answers 429 with Retry-After past the deliveries it handles at once", async () => {
        const state = new RecordingState(undefined, { delayMs: 50 });
        const { receiver, outputs } = receiverFor(wms, { settings: { maxConcurrent: 1 }, state });
        const first = sendWms(receiver, { sequence: 0 });
        await sleep(10);
        const second = await sendWms(receiver, { sequence: 1 });
        assert.equal(second.status, 429);
        assert.equal(second.headers["retry-after"], "1");
        assert.equal(outputs.rejections.at(-1)?.payload.status, 429);
        assert.equal((await first).status, 200);
        assert.equal((await sendWms(receiver, { sequence: 1 })).status, 200, "the slot is free again");
    });
});

describe("pipeline: the outcome of a delivery, decided without effects", () => {
    const info = { receivedAt: "2026-11-24T10:00:00.000Z", deliveryId: "d-1", verified: true, test: false };
    const event = (sequence: number) => JSON.parse(wmsBody({ sequence })) as WmsEvent;

    it("emits the new events with their gaps, counts the seen ones, and answers as the provider does", () => {
        const wanted = [event(3), event(1), event(4)];
        const identities = wanted.map((value) => ({ key: `s#${value.sequence}`, stream: { name: "s", position: value.sequence } }));
        const reservation: Pick<Reservation, "statuses" | "previousHighest"> = { statuses: ["new", "seen", "new"], previousHighest: [0, undefined, 3] };
        const outcome = deliveryOutcome(wms, wms.options({}), { wanted, elements: undefined, identities, reservation, invalid: [], info, remoteAddress: "203.0.113.7" });
        assert.deepEqual(outcome.events.map((message) => [message.payload.sequence, message.webhook.missing]), [[3, [1, 2]], [4, []]]);
        assert.equal(outcome.elements, undefined, "not a batch: the body is the record of the event");
        assert.equal(outcome.duplicates, 1);
        assert.deepEqual(outcome.answer, { status: 200, body: { status: "ok" } });
        assert.deepEqual(outcome.rejections, []);
    });

    it("numbers a batch's parts over the events it emits, and sums its invalid elements in one message", () => {
        const wanted = synthesisBatch(3);
        const invalid = [{ index: 1, reason: "uuid: too short" }, { index: 5, reason: "event must be a JSON object" }];
        const outcome = deliveryOutcome(synthesis, {}, { wanted, elements: [0, 2, 3], identities: [undefined, undefined, undefined], reservation: undefined, invalid, info, remoteAddress: undefined });
        assert.deepEqual(outcome.elements, [0, 2, 3], "where each emitted event sits in the body's array");
        assert.deepEqual(outcome.events.map((message) => message.parts), [0, 1, 2].map((index) => ({ id: "d-1", index, count: 3, type: "array", len: 1 })));
        assert.equal(outcome.rejections.length, 1);
        assert.deepEqual(outcome.rejections[0].payload.invalid, invalid);
        assert.deepEqual(outcome.answer.body, { status: "ok", accepted: 3, duplicates: 0, rejected: 2 });
    });

    it("records the places of a batch's new elements only: one seen before is not the record of anything emitted", () => {
        const wanted = synthesisBatch(3);
        const identities = wanted.map((value) => ({ key: value.uuid }));
        const outcome = deliveryOutcome(synthesis, {}, { wanted, elements: [1, 3, 4], identities, reservation: { statuses: ["new", "seen", "new"], previousHighest: [undefined, undefined, undefined] }, invalid: [], info, remoteAddress: undefined });
        assert.deepEqual(outcome.elements, [1, 4]);
        assert.deepEqual(outcome.events.map((message) => message.payload.uuid), [wanted[0]!.uuid, wanted[2]!.uuid]);
    });

    it("refuses (503) when another delivery still holds one of the events", () => {
        const wanted = synthesisBatch(2);
        const identities = wanted.map((value) => ({ key: value.uuid }));
        assert.throws(
            () => deliveryOutcome(synthesis, {}, { wanted, elements: [0, 1], identities, reservation: { statuses: ["new", "busy"], previousHighest: [undefined, undefined] }, invalid: [], info, remoteAddress: undefined }),
            (error: unknown) => error instanceof Rejection && error.status === 503,
        );
    });
});

describe("pipeline: what the delivery log is told, and replays", () => {
    it("reports each delivery once it is answered: accepted, duplicate, refused", async () => {
        const { receiver, outputs } = receiverFor(wms);
        await sendWms(receiver);
        await sendWms(receiver);
        await exchange(receiver, wmsBody(), { headers: signed(wmsBody({ sequence: 9 })) });
        const [accepted, duplicate, refused] = outputs.deliveries;
        assert.equal(outputs.deliveries.length, 3);
        assert.deepEqual([accepted?.status, accepted?.accepted, accepted?.duplicates, accepted?.verified], [200, 1, 0, true]);
        assert.equal(accepted?.deliveryId, outputs.events[0]?.webhook.deliveryId, "the record joins the messages emitted under its id");
        assert.deepEqual([duplicate?.status, duplicate?.accepted, duplicate?.duplicates], [200, 0, 1]);
        assert.deepEqual([refused?.status, refused?.reason, refused?.remoteAddress], [401, "X-WMS-Content-MAC does not match the body", "203.0.113.7"]);
    });

    it("reports a delivery refused after its messages were handed over (a deploy in between) as refused", async () => {
        const { receiver, outputs } = receiverFor(wms, { arrive: () => false });
        await sendWms(receiver);
        assert.equal(outputs.events.length, 1);
        assert.deepEqual(outputs.deliveries.map((record) => record.status), [503]);
    });

    it("accepts events again for a replay against the schema, naming where one no longer passes, never quoting it", () => {
        const batch = synthesisBatch(2);
        assert.equal(reacceptedEvents(synthesis, {}, batch).length, 2);
        assert.throws(() => reacceptedEvents(synthesis, {}, [{ uuid: "", note: "secret text" }]), (error: Error) => /not replayable: uuid/.test(error.message) && !error.message.includes("secret text"));
        assert.throws(() => reacceptedEvents(synthesis, {}, ["not an object"]), /not replayable: the event is not a JSON object/);
    });

    it("accepts again only what the node would accept now: the provider's checks and event filter with its current options, without time-bound checks", () => {
        const elsewhere = mentraSession({ websocketUrl: "wss://attacker.example/ws", mentraOSWebsocketUrl: "wss://attacker.example/ws", augmentOSWebsocketUrl: "wss://attacker.example/ws" });
        assert.throws(() => reacceptedEvents(mentra, mentra.options({}), [elsewhere]), (error: Error) => /not replayable: the node's checks refuse it now/.test(error.message) && !error.message.includes("attacker"));
        assert.equal(reacceptedEvents(mentra, mentra.options({}), [mentraSession()]).length, 1);
        const old = JSON.parse(wmsBody({ timestamp: Math.floor(Date.now() / 1000) - 7200 })) as unknown;
        assert.equal(reacceptedEvents(wms, wms.options({}), [old]).length, 1, "an event's age is not checked again");
    });
});
