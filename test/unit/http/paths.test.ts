// Node paths: which a node may listen on.
import assert = require("node:assert/strict");
import { normalisePath, isSafePath } from "../../../nodes/http/paths.js";

describe("node paths", () => {
    it("refuses node paths that could make the node's URL mean another place", () => {
        for (const path of ["/\\127.0.0.1:9/steal", "/a\tb", "/a b", "/a\u0000", "/a?b", "/a#b", "/../admin", "/a/./b", "/a/..", ".."]) {
            assert.equal(isSafePath(path), false, JSON.stringify(path));
            assert.equal(normalisePath(path), undefined, JSON.stringify(path));
        }
        for (const path of ["/wms", "/hooks/a.b", "/...", "/a..b", "/mentra/_x-1~"]) assert.equal(isSafePath(path), true, path);
    });

});
