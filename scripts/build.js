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
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-b", root], { stdio: "inherit" });

fs.chmodSync(path.join(dist, "bin", "verified-webhooks.js"), 0o755);

const { PROVIDERS } = require(path.join(nodesOut, "providers", "index.js"));
const { DEFAULT_SETTINGS } = require(path.join(nodesOut, "receive", "pipeline.js"));
const { DEFAULT_LOG_LIMITS } = require(path.join(nodesOut, "log", "delivery-log.js"));
const { DEFAULT_MAX_ATTEMPTS } = require(path.join(nodesOut, "node-red", "node-deliveries.js"));

/** Node types that are not receivers, each with its own source files in nodes/node-red/. */
const OTHER_NODE_TYPES = ["webhook-state"];

// Node-RED finds node files through package.json, so its node-red.nodes follows the list of
// providers: the build writes it when a provider was added or removed (commit the change).
const packageFile = path.join(root, "package.json");
const packageText = fs.readFileSync(packageFile, "utf8");
const packageJson = JSON.parse(packageText);
const nodeTypes = [...PROVIDERS.map((provider) => provider.nodeType), ...OTHER_NODE_TYPES];
const nodeFiles = Object.fromEntries(nodeTypes.map((type) => [type, `dist/nodes/${type}.js`]));
if (JSON.stringify(packageJson["node-red"].nodes) !== JSON.stringify(nodeFiles)) {
    packageJson["node-red"].nodes = nodeFiles;
    fs.writeFileSync(packageFile, `${JSON.stringify(packageJson, null, 2)}\n`);
    console.log(`build: package.json's node-red.nodes now lists ${nodeTypes.join(", ")} (from nodes/providers/index.ts)`);
}

/**
 * A receiver's editor file: the one template, with the provider's editor metadata
 * (nodes/providers/<name>.editor.html) and the defaults the runtime uses. It keeps the literal
 * RED.nodes.registerType("<type>", {…}) that the Flow Library validator reads.
 */
function editorFile(provider) {
    const metadata = fs.readFileSync(path.join(root, "nodes", "providers", `${provider.name}.editor.html`), "utf8");
    const meta = (name) => {
        const found = new RegExp(`<meta name="${name}" content="([^"]*)">`).exec(metadata);
        if (!found) throw new Error(`${provider.name}.editor.html: no <meta name="${name}">`);
        return found[1];
    };
    const optionalMeta = (name) => new RegExp(`<meta name="${name}" content="([^"]*)">`).exec(metadata)?.[1] ?? "";
    const section = (id) => new RegExp('<template id="' + id + '">\\n([\\s\\S]*?)</template>').exec(metadata)?.[1] ?? "";
    const indent = (text, spaces) => text.split("\n").filter(Boolean).map((line) => `${" ".repeat(spaces)}${line.trim()}\n`).join("");
    const values = {
        type: provider.nodeType,
        provider: provider.name,
        paletteLabel: meta("palette-label"),
        icon: meta("icon"),
        path: meta("path"),
        // Words the palette's filter should also find the node by (the provider's company, the senders it serves).
        search: optionalMeta("search"),
        tokenInPath: provider.pathToken === true,
        rows: section("rows"),
        defaults: indent(section("defaults"), 16),
        batchRow: provider.batches
            ? [
                  '    <div class="form-row">',
                  '        <label for="node-input-maxBatchEvents"><i class="fa fa-list"></i> <span data-i18n="webhook.label.maxBatchEvents"></span></label>',
                  '        <input type="text" id="node-input-maxBatchEvents" style="width:100px"> <span data-i18n="webhook.label.perBatch"></span>',
                  "    </div>",
                  "",
              ].join("\n")
            : "",
        batchDefault: provider.batches ? `                maxBatchEvents: { value: ${DEFAULT_SETTINGS.maxBatchEvents}, validate: RED.validators.number(true) },\n` : "",
        maxBodyKiB: DEFAULT_SETTINGS.maxBodyBytes / 1024,
        dedupSeconds: DEFAULT_SETTINGS.windowMs / 1000,
        bodyTimeoutSeconds: DEFAULT_SETTINGS.bodyTimeoutMs / 1000,
        maxConcurrent: DEFAULT_SETTINGS.maxConcurrent,
        logDeliveries: DEFAULT_LOG_LIMITS.maxDeliveries,
        logHours: DEFAULT_LOG_LIMITS.maxAgeMs / 3_600_000,
        // A provider that never retries (SynthesisVR) loses what a crash loses: its node keeps deliveries by default.
        persist: provider.retries === false,
        maxAttempts: DEFAULT_MAX_ATTEMPTS,
        secretRequired: provider.secretRequired,
    };
    const template = fs.readFileSync(path.join(root, "nodes", "node-red", "editor-template.html"), "utf8");
    return template.replace(/\{\{(\w+)\}\}/g, (_, key) => {
        if (!(key in values)) throw new Error(`editor-template.html: no value for {{${key}}}`);
        return String(values[key]);
    });
}

// Each receiver's runtime file: the same shell for every provider of the one list.
for (const provider of PROVIDERS) {
    const type = JSON.stringify(provider.nodeType);
    fs.writeFileSync(
        path.join(nodesOut, `${provider.nodeType}.js`),
        [
            '"use strict";',
            `// Generated by scripts/build.js: the ${provider.nodeType} node, from the list in nodes/providers/index.ts.`,
            'const { registerReceiverNode } = require("./node-red/receiver-node.js");',
            'const { providerNamed } = require("./providers/index.js");',
            `const provider = providerNamed(${type});`,
            `if (!provider) throw new Error("no provider for " + ${type});`,
            "module.exports = (RED) => registerReceiverNode(RED, provider);",
            "",
        ].join("\n"),
    );
}

// Node-RED loads a node's .js beside its .html: the others' runtime files are in nodes/node-red/.
for (const type of OTHER_NODE_TYPES) {
    fs.writeFileSync(
        path.join(nodesOut, `${type}.js`),
        ['"use strict";', `// Generated by scripts/build.js: the ${type} node, from nodes/node-red/${type}.ts.`, `module.exports = require("./node-red/${type}.js");`, ""].join("\n"),
    );
}

for (const type of nodeTypes) {
    const provider = PROVIDERS.find((candidate) => candidate.nodeType === type);
    const html = provider ? editorFile(provider) : fs.readFileSync(path.join(root, "nodes", "node-red", `${type}.html`), "utf8");
    fs.writeFileSync(path.join(nodesOut, `${type}.html`), html);
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
        // Code in running text is marked so that it wraps in the help sidebar (webhook-editor.css).
        if (fs.existsSync(help)) fs.writeFileSync(path.join(to, `${type}.html`), withSharedSections(fs.readFileSync(help, "utf8"), from).replace(/<code>/g, '<code class="verified-webhooks-code">'));
    }
}

// JSON Schema of each provider's msg.payload, from the zod schemas the nodes validate with.
const schemasOut = path.join(dist, "schemas");
fs.mkdirSync(schemasOut, { recursive: true });
const { payloadJsonSchemas } = require(path.join(nodesOut, "providers", "json-schemas.js"));
for (const [provider, schema] of Object.entries(payloadJsonSchemas())) {
    fs.writeFileSync(path.join(schemasOut, `${provider}.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
