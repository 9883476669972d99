// Secrets and tokens, and the lists and paths typed into a node's dialog.
import assert = require("node:assert/strict");
import { parseSecrets, urlTokenOf, matchesAnyDigest, tokenDigests, withoutSuffix } from "../../../nodes/receive/secrets.js";
import { parseList } from "../../../nodes/receive/options-lists.js";
import { normalisePath } from "../../../nodes/http/paths.js";

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

    it("names the token a URL takes: the first secret line, or the variable a ${ENV} line names, never its value", () => {
        assert.deepEqual(urlTokenOf("\n  tok-1 \ntok-2"), { token: "tok-1", env: null });
        assert.deepEqual(urlTokenOf("${SESSION_TOKEN}\nother"), { token: null, env: "SESSION_TOKEN" });
        assert.deepEqual(urlTokenOf(undefined), { token: null, env: null });
        assert.deepEqual(urlTokenOf("  \n "), { token: null, env: null });
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

});
