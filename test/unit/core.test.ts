import assert = require("node:assert/strict");
import { Readable } from "node:stream";
import { MemoryState, skippedPositions, MAX_MISSING_LISTED } from "../../nodes/dedup/state.js";
import { wms } from "../../nodes/providers/wms.js";
import { standard } from "../../nodes/providers/standard.js";
import { Receiver, DEFAULT_SETTINGS } from "../../nodes/receive/pipeline.js";
import { synthesis } from "../../nodes/providers/synthesis.js";
import { FakeResponse, routed } from "../support/exchange.js";
import type { FakeRequest } from "../support/exchange.js";
import { parseSecrets, matchesAnyDigest, tokenDigests, withoutSuffix } from "../../nodes/receive/secrets.js";
import { parseList } from "../../nodes/receive/options-lists.js";
import { normalisePath, isSafePath } from "../../nodes/http/route-table.js";
import { selfUrl } from "../../nodes/node-red/test-events.js";
import { receiverSettings } from "../../nodes/node-red/node-options.js";
import { recordingOutlet } from "../support/outlet.js";

function clock(start = 1_000_000): [{ now: number }, () => number] {
    const time = { now: start };
    return [time, () => time.now];
}

describe("MemoryState", () => {
    const limits = { windowMs: 1000, maxEntries: 10 };
    const statuses = (state: MemoryState, ...keys: string[]) => state.reserve("scope", keys.map((key) => ({ key }))).statuses;

    it("remembers an identity for the window, then forgets it", () => {
        const [time, now] = clock();
        const state = new MemoryState(limits, now);
        assert.deepEqual(statuses(state, "a"), ["new"]);
        assert.deepEqual(statuses(state, "a", "b", "b"), ["seen", "new", "seen"], "within one delivery too");
        time.now += 999;
        assert.deepEqual(statuses(state, "a"), ["seen"]);
        time.now += 2;
        assert.deepEqual(statuses(state, "a"), ["new"]);
    });

    it("remembers an identity past the window while a copy could still pass the time check (an event stamped ahead)", () => {
        const [time, now] = clock();
        const state = new MemoryState(limits, now);
        assert.deepEqual(state.reserve("scope", [{ key: "ahead", until: time.now + 5000 }, { key: "plain" }]).statuses, ["new", "new"]);
        time.now += 2000; // past the window
        assert.deepEqual(statuses(state, "ahead", "plain"), ["seen", "new"]);
        time.now += 3001;
        assert.deepEqual(statuses(state, "ahead"), ["new"]);
        // The providers say until when: WMS by the event's timestamp and Max. age, Standard Webhooks by its header and tolerance.
        const wmsOptions = wms.options({ maxAgeSeconds: 300 });
        assert.equal(wms.passesTimeCheckUntil!({ timestamp: 2_000_000_000 } as never, {} as never, wmsOptions), (2_000_000_000 + 300) * 1000);
        assert.equal(wms.passesTimeCheckUntil!({ timestamp: 2_000_000_000 } as never, {} as never, wms.options({ maxAgeSeconds: 0 })), undefined, "no age check: the window alone");
        const signedAt = { headers: { "webhook-id": "msg_1", "webhook-timestamp": "2000000000" } };
        assert.equal(standard.passesTimeCheckUntil!({} as never, signedAt as never, standard.options({ toleranceSeconds: 300 })), (2_000_000_000 + 300) * 1000);
        const svix = { headers: { "svix-id": "msg_1", "svix-timestamp": "2000000000" } };
        assert.equal(standard.passesTimeCheckUntil!({} as never, svix as never, standard.options({ toleranceSeconds: 60 })), (2_000_000_000 + 60) * 1000, "Svix's header names too");
    });

    it("forgets a released reservation, so the sender's retry is new", () => {
        const state = new MemoryState(limits);
        const reservation = state.reserve("one", [{ key: "b" }]);
        reservation.release();
        assert.deepEqual(state.reserve("one", [{ key: "b" }]).statuses, ["new"], "a retry after a release is new");
    });

    it("never holds more than maxEntries, dropping the oldest", () => {
        const state = new MemoryState({ windowMs: 60_000, maxEntries: 100 });
        for (let i = 0; i < 10_000; i++) state.reserve("scope", [{ key: `key-${i}` }]);
        assert.ok(state.size <= 100, `size ${state.size}`);
        assert.deepEqual(statuses(state, "key-9999"), ["seen"], "recent identities are kept");
        assert.deepEqual(statuses(state, "key-0"), ["new"], "the oldest were dropped");
    });

    it("tracks the highest position per stream, for gaps, repeats and late arrivals", () => {
        const state = new MemoryState({ windowMs: 60_000, maxEntries: 1000 });
        const observe = (name: string, position: number) => {
            const { statuses: [status], previousHighest: [previous] } = state.reserve("wms", [{ key: `${name}#${position}`, stream: { name, position } }]);
            return status === "new" ? skippedPositions(previous ?? -1, position) : status;
        };
        assert.deepEqual(observe("s1", 0), { missing: [], missingCount: 0 });
        assert.deepEqual(observe("s1", 1), { missing: [], missingCount: 0 });
        assert.equal(observe("s1", 1), "seen");
        assert.deepEqual(observe("s1", 4), { missing: [2, 3], missingCount: 2 });
        assert.deepEqual(observe("s1", 3), { missing: [], missingCount: 0 }, "a late event is emitted");
        assert.equal(observe("s1", 3), "seen");
        assert.deepEqual(observe("s2", 2), { missing: [0, 1], missingCount: 2 }, "streams are separate; what was missed before the first is reported");
    });

    it("lists at most MAX_MISSING_LISTED skipped positions of a huge jump", () => {
        const jump = skippedPositions(-1, 1_000_000_000);
        assert.equal(jump.missing.length, MAX_MISSING_LISTED);
        assert.equal(jump.missingCount, 1_000_000_000);
    });
});

describe("secrets", () => {
    it("takes the longest suffix a path ends with, whatever the order they are listed in", () => {
        const suffixes = [["webhook"], ["api", "_mentraos", "webhook"]];
        for (const listed of [suffixes, [...suffixes].reverse()]) {
            assert.deepEqual(withoutSuffix(["hook", "t0ken", "api", "_mentraos", "webhook"], listed), ["hook", "t0ken"]);
            assert.deepEqual(withoutSuffix(["hook", "webhook"], listed), ["hook"]);
            assert.deepEqual(withoutSuffix(["hook", "t0ken"], listed), ["hook", "t0ken"]);
        }
        assert.deepEqual(withoutSuffix(["webhook"], [[]]), ["webhook"], "an empty suffix removes nothing");
    });

    it("reads one secret per line and ${ENV} references", () => {
        const env: Record<string, string> = { MAC: "from-env", TWO: "x\ny" };
        assert.deepEqual(parseSecrets("  a  \r\n\nb\n${MAC}\n${MISSING}\n${TWO}", (name) => env[name]), ["a", "b", "from-env", "x", "y"]);
        assert.deepEqual(parseSecrets(undefined), []);
        assert.deepEqual(parseSecrets("literal ${NOT} reference"), ["literal ${NOT} reference"]);
    });

    it("compares tokens against every digest", () => {
        const digests = tokenDigests(["one", "two"]);
        assert.ok(matchesAnyDigest("two", digests));
        assert.ok(!matchesAnyDigest("tw", digests));
        assert.ok(!matchesAnyDigest("", tokenDigests([])));
    });

    it("parses lists and paths as typed in a dialog", () => {
        assert.deepEqual(parseList("a, b\nc", ["z"]), ["a", "b", "c"]);
        assert.deepEqual(parseList("  ", ["z"]), ["z"]);
        assert.equal(normalisePath("wms/"), "/wms");
        assert.equal(normalisePath("//a//b"), "/a/b");
        assert.equal(normalisePath("/"), undefined);
        assert.equal(normalisePath(undefined), undefined);
    });

    it("refuses node paths that could make the node's URL mean another place", () => {
        for (const path of ["/\\127.0.0.1:9/steal", "/a\tb", "/a b", "/a\u0000", "/a?b", "/a#b", "/../admin", "/a/./b", "/a/..", ".."]) {
            assert.equal(isSafePath(path), false, JSON.stringify(path));
            assert.equal(normalisePath(path), undefined, JSON.stringify(path));
        }
        for (const path of ["/wms", "/hooks/a.b", "/...", "/a..b", "/mentra/_x-1~"]) assert.equal(isSafePath(path), true, path);
    });

    it("builds the test event's URL on this server's origin, whatever the path", () => {
        for (const path of ["//127.0.0.1:9/steal", "/\\127.0.0.1:9/steal", "/..//evil.example/", "/x?y#z"]) {
            const url = selfUrl("http://127.0.0.1:1880", path);
            assert.equal(url.origin, "http://127.0.0.1:1880", path);
        }
        assert.equal(selfUrl("https://[::1]:8443", "/wms/tok").href, "https://[::1]:8443/wms/tok");
    });

    it("fills receiver settings from options, with defaults for blanks", () => {
        assert.deepEqual(receiverSettings({}), { maxBodyBytes: 1024 * 1024, windowMs: 600_000, bodyTimeoutMs: 10_000, maxConcurrent: 256, maxBatchEvents: 1000, maxEntries: 100_000 });
        assert.equal(receiverSettings({ bodyTimeoutSeconds: "0.5", maxConcurrent: "2" }).bodyTimeoutMs, 500);
        assert.equal(receiverSettings({ maxConcurrent: "2" }).maxConcurrent, 2);
        assert.equal(receiverSettings({ maxBodyKiB: "64", dedupSeconds: "" }).maxBodyBytes, 64 * 1024);
        assert.equal(receiverSettings({ maxBodyKiB: "-1" }).maxBodyBytes, 1024 * 1024);
    });
});

describe("internal errors", () => {
    it("are reported by where they happened, never by their message", async () => {
        const broken = { ...synthesis, eventName: () => { throw new TypeError("secret body content"); } };
        const reported: string[] = [];
        const receiver = new Receiver(broken, {}, [], DEFAULT_SETTINGS, recordingOutlet(), { scope: "x", onInternalError: (where) => reported.push(where) });
        const body = JSON.stringify([{ uuid: "u", action: "create" }]);
        // A plain readable stream as the request: what the pipeline reads of a request is all it has.
        const req = Object.assign(Readable.from([Buffer.from(body)]), { method: "POST", headers: { "content-length": String(body.length) }, socket: {} });
        const res = new FakeResponse();
        await receiver.handle(routed(req as unknown as FakeRequest, res, { path: ["x"], extraPath: [], query: "" }));
        assert.equal(res.status, 500);
        assert.equal(reported.length, 1);
        assert.match(reported[0], /^TypeError at core\.test\.js:\d+$/);
        assert.ok(!reported[0].includes("secret") && !String(res.text).includes("secret"));
    });
});
