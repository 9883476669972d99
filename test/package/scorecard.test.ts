// The Flow Library scorecard (`node-red-dev validate`) checks, run here on package.json,
// the editor files and examples/ as that tool reads them. It needs the network for a few
// facts (the latest Node-RED, the latest version of each dependency); these come from the
// Node-RED releases this package is tested on and from the lockfile, and from the npm
// registry as well when it answers.
import assert = require("node:assert/strict");
import { execFileSync } from "node:child_process";
import fs = require("node:fs");
import path = require("node:path");
import acorn = require("acorn");
import walk = require("acorn-walk");
import semver = require("semver");
import type { CallExpression, Expression, Node as AcornNode } from "acorn";
import { NODE_RED_5 } from "../support/runtimes.js";
import { PACKAGE_ROOT as ROOT } from "../support/paths.js";

interface PackageJson {
    name: string;
    license: string;
    keywords: string[];
    repository: { url: string };
    bugs: { url: string };
    engines: { node: string };
    dependencies: Record<string, string>;
    "node-red": { version: string; nodes: Record<string, string> };
}
interface Lockfile {
    packages: Record<string, { version: string; dev?: boolean; engines?: { node?: string } }>;
}
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as PackageJson;
const LOCK = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as Lockfile;
/** node-red-dev's list of packages known to break Node-RED. */
const BAD_PACKAGES: Record<string, string> = { "agent-base": "<6.0.0" };

/** The npm registry's answer, or undefined when it cannot be reached. */
function registry<Answer>(args: string[]): Answer | undefined {
    try {
        return JSON.parse(execFileSync("npm", ["view", ...args, "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20000 })) as Answer;
    } catch {
        return undefined;
    }
}

/**
 * Node definitions as the validator reads them: RED.nodes.registerType("<literal>", {…})
 * in each <script type="text/javascript"> of the node's editor file, with the properties
 * it reads written inline.
 */
function nodeDefinitions(htmlFile: string): Record<string, { category: unknown }> {
    const html = fs.readFileSync(htmlFile, "utf8");
    const scripts = [...html.matchAll(/<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi)].map((match) => match[1] ?? "");
    assert.ok(scripts.length > 0, `${htmlFile}: no <script type="text/javascript">`);
    const definitions: Record<string, { category: unknown }> = {};
    const nameOf = (node: AcornNode | null | undefined) => (node?.type === "Identifier" ? (node as acorn.Identifier).name : undefined);
    for (const script of scripts) {
        walk.simple(acorn.parse(script, { ecmaVersion: "latest" }), {
            CallExpression(call: CallExpression) {
                if (call.callee.type !== "MemberExpression" || nameOf(call.callee.property) !== "registerType") return;
                const [type, definition] = call.arguments;
                assert.ok(type?.type === "Literal", `${htmlFile}: the type is a literal`);
                assert.ok(definition?.type === "ObjectExpression", `${htmlFile}: the definition is an object literal`);
                const properties: Record<string, Expression> = {};
                for (const property of definition.properties) {
                    assert.ok(property.type === "Property", `${htmlFile}: no spread in the definition`);
                    const key = nameOf(property.key);
                    assert.ok(key, `${htmlFile}: properties named by identifiers`);
                    properties[key] = property.value as Expression;
                }
                const typeName = String(type.value);
                for (const inline of ["defaults", "credentials"]) {
                    if (properties[inline]) assert.equal(properties[inline].type, "ObjectExpression", `${typeName}: ${inline} written inline`);
                }
                for (const literal of ["icon", "color", "inputs", "outputs", "category"]) {
                    if (properties[literal]) assert.equal(properties[literal].type, "Literal", `${typeName}: ${literal} written as a literal`);
                }
                const category = properties.category;
                definitions[typeName] = { category: category?.type === "Literal" ? category.value : undefined };
            },
        });
    }
    assert.ok(Object.keys(definitions).length > 0, `${htmlFile}: no type definitions found`);
    return definitions;
}

describe("Flow Library scorecard", () => {
    it("has a licence, a repository and a bugs link", () => {
        assert.equal(PACKAGE.license, "Apache-2.0");
        assert.ok(fs.existsSync(path.join(ROOT, "LICENSE")));
        assert.match(PACKAGE.repository.url, /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
        assert.match(PACKAGE.bugs.url, /^https:\/\//);
    });

    it("uses a scoped or node-red-contrib- name and the node-red keyword", () => {
        assert.match(PACKAGE.name, /^(@[a-z\d][\w.-]*\/[a-z\d][\w.-]*|node-red-contrib-[a-z\d][\w.-]*)$/);
        assert.ok(PACKAGE.keywords.includes("node-red"));
    });

    it("declares a Node-RED version that the latest Node-RED and every tested one satisfy", () => {
        const declared = PACKAGE["node-red"].version;
        const tested = [(require("node-red/package.json") as { version: string }).version, NODE_RED_5];
        const latest = registry<Record<string, string>>(["node-red", "dist-tags"]);
        const supported = latest ? Object.entries(latest).filter(([tag]) => /maintenance|^latest$/.test(tag)).map(([, version]) => version) : [];
        for (const version of [...tested, ...supported]) assert.ok(semver.satisfies(version, declared), `Node-RED ${version} satisfies ${declared}`);
        // No claim below what is tested.
        assert.ok(semver.gte(semver.minVersion(declared) ?? "0.0.0", "4.1.0"));
    });

    it("declares a Node.js range that admits the lowest Node the latest Node-RED needs, and starts where testing starts", () => {
        const declared = PACKAGE.engines.node;
        const latestNodeRedEngines = registry<{ node?: string }>(["node-red@latest", "engines"])?.node ?? ">=22.9";
        const lowestNeeded = semver.minVersion(latestNodeRedEngines);
        assert.ok(lowestNeeded && semver.satisfies(lowestNeeded, declared), `Node ${String(lowestNeeded)} satisfies ${declared}`);
        const lowestDeclared = semver.minVersion(declared);
        assert.ok(lowestDeclared);
        assert.equal(lowestDeclared.major, 20, "the lowest Node tested is 20");
        // Every production dependency runs there too.
        for (const name of Object.keys(PACKAGE.dependencies)) {
            const engines = LOCK.packages[`node_modules/${name}`]?.engines?.node;
            if (engines) assert.ok(semver.subset(declared, engines) || semver.satisfies(lowestDeclared, engines), `${name} needs Node ${engines}`);
        }
    });

    it("has at most 6 production dependencies, none known to break Node-RED anywhere in their tree", () => {
        assert.ok(Object.keys(PACKAGE.dependencies).length <= 6);
        const production = Object.entries(LOCK.packages).filter(([location, entry]) => location.startsWith("node_modules/") && !entry.dev);
        assert.ok(production.length > Object.keys(PACKAGE.dependencies).length, "the lockfile lists the production tree");
        for (const [location, entry] of production) {
            const name = location.slice(location.lastIndexOf("node_modules/") + "node_modules/".length);
            if (BAD_PACKAGES[name]) assert.ok(!semver.satisfies(entry.version, BAD_PACKAGES[name]), `${name}@${entry.version}`);
        }
    });

    it("asks for dependency ranges that accept their latest versions", () => {
        for (const [name, range] of Object.entries(PACKAGE.dependencies)) {
            const locked = LOCK.packages[`node_modules/${name}`]?.version ?? "none";
            assert.ok(semver.satisfies(locked, range), `${name}@${locked} satisfies ${range}`);
            const latest = registry<string>([name, "version"]);
            if (latest !== undefined) assert.ok(semver.satisfies(latest, range), `${name}'s latest, ${latest}, satisfies ${range}`);
        }
    });

    it("has editor files the validator can read, and an example using every node that is not a config node", () => {
        const definitions: Record<string, { category: unknown }> = {};
        for (const file of Object.values(PACKAGE["node-red"].nodes)) {
            // The validator reads the .html beside each .js of the package as published.
            Object.assign(definitions, nodeDefinitions(path.join(ROOT, file.replace(/\.js$/, ".html"))));
        }
        assert.deepEqual(Object.keys(definitions).sort(), Object.keys(PACKAGE["node-red"].nodes).sort());
        const examples = fs.readdirSync(path.join(ROOT, "examples"));
        assert.ok(examples.length > 0);
        const used = new Set(examples.flatMap((file) => (JSON.parse(fs.readFileSync(path.join(ROOT, "examples", file), "utf8")) as { type: string }[]).map((node) => node.type)));
        const needingExamples = Object.keys(definitions).filter((type) => definitions[type]?.category !== "config");
        assert.equal(needingExamples.length, 7, "five receivers, mentra in, mentra out");
        for (const type of needingExamples) assert.ok(used.has(type), `an example uses ${type}`);
    });
});
