// The layout the README's sections name: only nodes/node-red/ imports Node-RED (or Express),
// so every other folder can be tested, and reused, without it.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import path = require("node:path");
import { PACKAGE_ROOT } from "../support/paths.js";

const NODES = path.join(PACKAGE_ROOT, "nodes");
const SHELL = path.join(NODES, "node-red");

function sourcesUnder(folder: string): string[] {
    return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(folder, entry.name);
        if (entry.isDirectory()) return sourcesUnder(full);
        return entry.name.endsWith(".ts") ? [full] : [];
    });
}

/** The module names a TypeScript source imports (import, import type, export from, require). */
function importsOf(text: string): string[] {
    return [...text.matchAll(/(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*|^import\s+)["']([^"']+)["']/gm)].map((match) => match[1]!);
}

const NODE_RED_MODULE = /^(node-red|@node-red\/.*|express|express-serve-static-core)$/;

describe("layout", () => {
    it("only nodes/node-red/ imports Node-RED or Express", () => {
        const offenders = sourcesUnder(NODES)
            .filter((file) => !file.startsWith(SHELL + path.sep))
            .flatMap((file) => importsOf(fs.readFileSync(file, "utf8")).filter((name) => NODE_RED_MODULE.test(name)).map((name) => `${path.relative(PACKAGE_ROOT, file)}: ${name}`));
        assert.deepEqual(offenders, []);
    });

    it("the check sees an import of Node-RED, in each form it may take", () => {
        for (const line of ['import type { NodeAPI } from "node-red";', 'import RED = require("node-red");', 'export { x } from "@node-red/util";', 'import "express";']) {
            assert.ok(importsOf(line).some((name) => NODE_RED_MODULE.test(name)), line);
        }
    });

    it("the Node-RED shell does import Node-RED: the check looks where it should", () => {
        assert.ok(sourcesUnder(SHELL).some((file) => importsOf(fs.readFileSync(file, "utf8")).includes("node-red")));
    });

    it("keeps each source file under 400 lines: a maintainer reads one decision at a time", () => {
        const long = sourcesUnder(NODES)
            .map((file) => ({ file: path.relative(PACKAGE_ROOT, file), lines: fs.readFileSync(file, "utf8").split("\n").length }))
            .filter(({ lines }) => lines > 400);
        assert.deepEqual(long, []);
    });
});
