// A node's options, read with their defaults.
import assert = require("node:assert/strict");
import { keepOption, receiverSettings } from "../../../nodes/node-red/node-options.js";

describe("node options", () => {
    it("reads Keep deliveries until handled as keep, or as the persist of a flow saved by 0.2, else leaves it to the provider", () => {
        assert.equal(keepOption({ keep: true }), true);
        assert.equal(keepOption({ keep: "false", persist: true }), false, "keep says it: persist is an older name");
        assert.equal(keepOption({ persist: "true" }), true);
        assert.equal(keepOption({ keep: "", persist: false }), false);
        assert.equal(keepOption({}), undefined);
        assert.equal(keepOption({ keep: "", persist: "" }), undefined, "a node the dialog saved with no choice: the provider's default");
    });

    it("fills receiver settings from options, with defaults for blanks", () => {
        assert.deepEqual(receiverSettings({}), { maxBodyBytes: 1024 * 1024, windowMs: 600_000, bodyTimeoutMs: 10_000, maxConcurrent: 256, maxBatchEvents: 1000, maxEntries: 100_000 });
        assert.equal(receiverSettings({ bodyTimeoutSeconds: "0.5", maxConcurrent: "2" }).bodyTimeoutMs, 500);
        assert.equal(receiverSettings({ maxConcurrent: "2" }).maxConcurrent, 2);
        assert.equal(receiverSettings({ maxBodyKiB: "64", dedupSeconds: "" }).maxBodyBytes, 64 * 1024);
        assert.equal(receiverSettings({ maxBodyKiB: "-1" }).maxBodyBytes, 1024 * 1024);
    });
});
