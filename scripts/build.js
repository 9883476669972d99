#!/usr/bin/env node
// Builds dist/ as Node-RED loads it: each node's .js beside its editor .html, with
// icons/ and locales/ in the same folder (where Node-RED looks for them).
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const dist = path.join(root, "dist");
const nodesOut = path.join(dist, "nodes");

fs.rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", root], { stdio: "inherit" });

fs.chmodSync(path.join(dist, "bin", "verified-webhooks.js"), 0o755);

const nodeTypes = Object.keys(require(path.join(root, "package.json"))["node-red"].nodes);
for (const type of nodeTypes) {
    fs.copyFileSync(path.join(root, "nodes", `${type}.html`), path.join(nodesOut, `${type}.html`));
}
fs.cpSync(path.join(root, "icons"), path.join(nodesOut, "icons"), { recursive: true });

/**
 * Help sections every receiver shares live once per language in help-common.html, as
 * <!-- fragment: name -->…<!-- /fragment -->; a help page asks for one with
 * <!-- include: name key="value" -->, and {{key}} in the fragment takes the value ("" if none).
 */
function withSharedSections(page, folder) {
    const file = path.join(folder, "help-common.html");
    const fragments = new Map();
    if (fs.existsSync(file)) {
        for (const [, name, text] of fs.readFileSync(file, "utf8").matchAll(/<!-- fragment: ([\w-]+) -->\n([\s\S]*?)\n<!-- \/fragment -->/g)) {
            fragments.set(name, text);
        }
    }
    return page.replace(/<!-- include: ([\w-]+)((?: [\w-]+="[^"]*")*) -->/g, (_, name, attributes) => {
        const fragment = fragments.get(name);
        if (fragment === undefined) throw new Error(`${folder}: no help fragment "${name}"`);
        const values = Object.fromEntries([...attributes.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, key, value]) => [key, value]));
        return fragment.replace(/\{\{([\w-]+)\}\}/g, (__, key) => values[key] ?? "");
    });
}

// Strings every receiver shares live once in common.json; Node-RED wants one catalogue per
// node file, so each node's catalogue is the shared one merged with its own.
const localesIn = path.join(root, "locales");
for (const language of fs.readdirSync(localesIn)) {
    const from = path.join(localesIn, language);
    const to = path.join(nodesOut, "locales", language);
    fs.mkdirSync(to, { recursive: true });
    const readJson = (file) => (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {});
    const common = readJson(path.join(from, "common.json"));
    for (const type of nodeTypes) {
        const catalogue = { ...common, ...readJson(path.join(from, `${type}.json`)) };
        fs.writeFileSync(path.join(to, `${type}.json`), JSON.stringify(catalogue, null, 2));
        const help = path.join(from, `${type}.html`);
        if (fs.existsSync(help)) fs.writeFileSync(path.join(to, `${type}.html`), withSharedSections(fs.readFileSync(help, "utf8"), from));
    }
}

// JSON Schema of each provider's msg.payload, from the zod schemas the nodes validate with.
const schemasOut = path.join(dist, "schemas");
fs.mkdirSync(schemasOut, { recursive: true });
const { payloadJsonSchemas } = require(path.join(nodesOut, "providers", "json-schemas.js"));
for (const [provider, schema] of Object.entries(payloadJsonSchemas())) {
    fs.writeFileSync(path.join(schemasOut, `${provider}.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
