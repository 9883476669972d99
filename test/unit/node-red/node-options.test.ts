// A node's options, read with their defaults.
import assert = require("node:assert/strict");
import { receiverSettings } from "../../../nodes/node-red/node-options.js";

describe("node options", () => {
    it("fills receiver settings from options, with defaults for blanks", () => {
        assert.deepEqual(receiverSettings({}), { maxBodyBytes: 1024 * 1024, windowMs: 600_000, bodyTimeoutMs: 10_000, maxConcurrent: 256, maxBatchEvents: 1000, maxEntries: 100_000 });
        assert.equal(receiverSettings({ bodyTimeoutSeconds: "0.5", maxConcurrent: "2" }).bodyTimeoutMs, 500);
        assert.equal(receiverSettings({ maxConcurrent: "2" }).maxConcurrent, 2);
        assert.equal(receiverSettings({ maxBodyKiB: "64", dedupSeconds: "" }).maxBodyBytes, 64 * 1024);
        assert.equal(receiverSettings({ maxBodyKiB: "-1" }).maxBodyBytes, 1024 * 1024);
    });
});
