// The layout the README's sections name: only nodes/node-red/ imports Node-RED (or Express),
// so every other folder can be tested, and reused, without it.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import path = require("node:path");
import ts = require("typescript");
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

/**
 * The functions of a source longer than `maxLines` (declaration to closing brace), named as
 * a maintainer would look for them. A function's lines include those of the functions it
 * holds: a closure is part of what one reads to follow it.
 */
export function longFunctions(fileName: string, text: string, maxLines: number): { name: string; lines: number }[] {
    const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
    const found: { name: string; lines: number }[] = [];
    const nameOf = (node: ts.Node): string => {
        const named = node as ts.Node & { name?: ts.Node };
        if (named.name) return named.name.getText(source);
        if (ts.isConstructorDeclaration(node)) return "constructor";
        const parent = node.parent;
        if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
        return `(function at line ${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1})`;
    };
    const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && (node as ts.Node & { body?: ts.Node }).body) {
            const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
            const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
            if (last - first + 1 > maxLines) found.push({ name: nameOf(node), lines: last - first + 1 });
        }
        ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
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

    it("keeps each function under 60 lines (data tables aside: they are not functions)", () => {
        const long = sourcesUnder(NODES).flatMap((file) =>
            longFunctions(file, fs.readFileSync(file, "utf8"), 60).map(({ name, lines }) => `${path.relative(PACKAGE_ROOT, file)}: ${name} (${lines} lines)`),
        );
        assert.deepEqual(long, []);
    });

    it("the function check counts what it should: a long method, a long closure, not a long table", () => {
        const body = Array.from({ length: 61 }, (_, index) => `    step(${index});`).join("\n");
        const table = Array.from({ length: 80 }, (_, index) => `    k${index}: ${index},`).join("\n");
        const text = `class A {\n  run() {\n${body}\n  }\n}\nconst later = () => {\n${body}\n};\nconst TABLE = {\n${table}\n};\nfunction short() { return 1; }\n`;
        assert.deepEqual(
            longFunctions("sample.ts", text, 60).map(({ name }) => name),
            ["run", "later"],
        );
    });
});
