"use strict";
const assert = require("node:assert/strict");
const { dist } = require("../support/fixtures");
const { SeenWindow, SequenceTracker, MAX_MISSING_LISTED } = dist("core/state.js");
const { parseSecrets, matchesAnyDigest, tokenDigests, parseList } = dist("core/secrets.js");
const { normalisePath } = dist("core/route-table.js");
const { receiverSettings } = dist("core/receiver-node.js");

function clock(start = 1_000_000) {
    const time = { now: start };
    return [time, () => time.now];
}

describe("SeenWindow", () => {
    it("remembers an identity for the window, then forgets it", () => {
        const [time, now] = clock();
        const seen = new SeenWindow({ windowMs: 1000, maxEntries: 10 }, now);
        assert.equal(seen.claim("a"), true);
        assert.equal(seen.claim("a"), false);
        time.now += 999;
        assert.equal(seen.claim("a"), false);
        time.now += 2;
        assert.equal(seen.claim("a"), true);
    });

    it("never holds more than maxEntries, dropping the oldest", () => {
        const [, now] = clock();
        const seen = new SeenWindow({ windowMs: 60_000, maxEntries: 100 }, now);
        for (let i = 0; i < 10_000; i++) seen.claim(`key-${i}`);
        assert.equal(seen.size, 100);
        assert.equal(seen.claim("key-9999"), false, "recent identities are kept");
        assert.equal(seen.claim("key-0"), true, "the oldest were dropped");
    });
});

describe("SequenceTracker", () => {
    const limits = { windowMs: 60_000, maxEntries: 1000 };

    it("reports gaps, repeats and late arrivals per stream", () => {
        const tracker = new SequenceTracker(limits);
        assert.deepEqual(tracker.observe("s1", 0), { duplicate: false, missing: [], missingCount: 0 });
        assert.deepEqual(tracker.observe("s1", 1), { duplicate: false, missing: [], missingCount: 0 });
        assert.deepEqual(tracker.observe("s1", 1), { duplicate: true });
        assert.deepEqual(tracker.observe("s1", 4), { duplicate: false, missing: [2, 3], missingCount: 2 });
        assert.deepEqual(tracker.observe("s1", 3), { duplicate: false, missing: [], missingCount: 0 }, "a late event is emitted");
        assert.deepEqual(tracker.observe("s1", 3), { duplicate: true });
        assert.deepEqual(tracker.observe("s1", 0), { duplicate: true });
        assert.deepEqual(tracker.observe("s2", 0), { duplicate: false, missing: [], missingCount: 0 }, "streams are separate");
    });

    it("reports what was missed before the first event seen", () => {
        const tracker = new SequenceTracker(limits);
        assert.deepEqual(tracker.observe("s", 2), { duplicate: false, missing: [0, 1], missingCount: 2 });
    });

    it("bounds a huge jump and the number of streams", () => {
        const tracker = new SequenceTracker({ windowMs: 60_000, maxEntries: 50 });
        const jump = tracker.observe("s", 1_000_000_000);
        assert.equal(jump.missing.length, MAX_MISSING_LISTED);
        assert.equal(jump.missingCount, 1_000_000_000);
        for (let i = 0; i < 500; i++) tracker.observe(`stream-${i}`, 0);
        assert.equal(tracker.size, 50);
    });

    it("forgets an idle stream after the window", () => {
        const [time, now] = clock();
        const tracker = new SequenceTracker({ windowMs: 1000, maxEntries: 10 }, now);
        tracker.observe("s", 0);
        time.now += 1001;
        assert.equal(tracker.observe("s", 0).duplicate, false);
    });
});

describe("secrets", () => {
    it("reads one secret per line and ${ENV} references", () => {
        const env = { MAC: "from-env", TWO: "x\ny" };
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

    it("fills receiver settings from options, with defaults for blanks", () => {
        assert.deepEqual(receiverSettings({}), { maxBodyBytes: 1024 * 1024, windowMs: 600_000, bodyTimeoutMs: 10_000, maxConcurrent: 256, maxEntries: 100_000 });
        assert.equal(receiverSettings({ bodyTimeoutSeconds: "0.5", maxConcurrent: "2" }).bodyTimeoutMs, 500);
        assert.equal(receiverSettings({ maxConcurrent: "2" }).maxConcurrent, 2);
        assert.equal(receiverSettings({ maxBodyKiB: "64", dedupSeconds: "" }).maxBodyBytes, 64 * 1024);
        assert.equal(receiverSettings({ maxBodyKiB: "-1" }).maxBodyBytes, 1024 * 1024);
    });
});
