// The Redis stores' Lua scripts as files: each says what its KEYS and ARGV are, its includes and
// constants are filled in, and what is sent to Redis carries no comment.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import { luaScript } from "../../../nodes/redis/lua.js";
import { PACKAGE_ROOT } from "../../support/paths.js";

const FOLDERS = ["dedup", "keep"].map((folder) => path.join(PACKAGE_ROOT, "nodes", folder, "lua"));

describe("Lua scripts", () => {
    for (const folder of FOLDERS) {
        for (const file of fs.readdirSync(folder).filter((name) => name.endsWith(".lua"))) {
            const name = file.slice(0, -4);
            it(`${path.basename(path.dirname(folder))}/lua/${file}: says what it is given, and loads whole`, () => {
                const text = fs.readFileSync(path.join(folder, file), "utf8");
                assert.match(text, /^--\[\[/, "it opens with its header");
                const included = /^--\[\[ Included:/.test(text);
                if (!included) assert.match(text, /KEYS\[1\][\s\S]*\]\]/, "the header names its KEYS");
                const script = luaScript(folder, name, { PAGE: 200, FIELDS_PER_EVENT: 8 });
                assert.doesNotMatch(script, /\{\{|@include|--/, "constants and includes filled in, no comment sent");
                assert.ok(script.length > 0);
            });
        }
    }

    it("takes in an include and fills constants, and names a constant it lacks", () => {
        const folder = fs.mkdtempSync(path.join(os.tmpdir(), "vw-lua-"));
        try {
            fs.writeFileSync(path.join(folder, "part.lua"), "--[[ Included: a part. ]]\nlocal function two() return 2 end\n");
            fs.writeFileSync(path.join(folder, "main.lua"), "--[[ A script.\n  KEYS[1] a key ]]\n-- @include part\n-- a note\nreturn two() + {{N}}\n");
            assert.equal(luaScript(folder, "main", { N: 3 }), "local function two() return 2 end\nreturn two() + 3");
            assert.throws(() => luaScript(folder, "main"), /main\.lua: no value for \{\{N\}\}/);
        } finally {
            fs.rmSync(folder, { recursive: true, force: true });
        }
    });
});
