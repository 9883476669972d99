// Send test event posts only to this server.
import assert = require("node:assert/strict");
import { selfUrl } from "../../../nodes/node-red/test-events.js";

describe("test events", () => {
    it("builds the test event's URL on this server's origin, whatever the path", () => {
        for (const path of ["//127.0.0.1:9/steal", "/\\127.0.0.1:9/steal", "/..//evil.example/", "/x?y#z"]) {
            const url = selfUrl("http://127.0.0.1:1880", path);
            assert.equal(url.origin, "http://127.0.0.1:1880", path);
        }
        assert.equal(selfUrl("https://[::1]:8443", "/wms/tok").href, "https://[::1]:8443/wms/tok");
    });

});
