#!/usr/bin/env node
// `npm start`: a local Node-RED (the devDependency) at http://127.0.0.1:1880 with this
// package installed and the example flows deployed, then each webhook URL with the
// command-line signer's command (and the equivalent curl) that sends a signed sample.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const packageName = require(path.join(root, "package.json")).name;
const port = Number(process.env.PORT || 1880);
const userDir = path.resolve(process.env.NODE_RED_USER_DIR || path.join(root, ".node-red-dev"));
const base = `http://127.0.0.1:${port}`;
const { sampleDelivery, sampleNames, curlCommand } = require(path.join(root, "dist", "nodes", "providers", "signing.js"));
const { providerNamed } = require(path.join(root, "dist", "nodes", "providers", "index.js"));

/** The provider of a flow node that is one of this package's receivers. */
const providerOf = (node) => (typeof node.type === "string" ? providerNamed(node.type) : undefined);

// Older runs wrote "// Settings of the local development Node-RED started by `npm start`."
const SETTINGS_HEADER = "// Settings of the local ";

function prepareUserDir() {
    fs.mkdirSync(path.join(userDir, "node_modules"), { recursive: true });
    const link = path.join(userDir, "node_modules", packageName);
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(root, link, "dir");
    // The demo opens straight onto the example flows: no update-notification prompt (telemetry
    // off, so nothing asks for consent) and no first-run tour. Our own settings file is
    // rewritten, so an older run's is brought up to date; a user's own is left alone.
    const settings = path.join(userDir, "settings.js");
    if (fs.existsSync(settings) && !fs.readFileSync(settings, "utf8").startsWith(SETTINGS_HEADER)) return;
    fs.writeFileSync(
        settings,
        [
            `${SETTINGS_HEADER}Node-RED that \`npm start\` runs (rewritten by scripts/start.js).`,
            "module.exports = {",
            '    uiHost: "127.0.0.1",',
            '    flowFile: "flows.json",',
            '    credentialSecret: "verified-webhooks-local-development",',
            "    telemetry: { enabled: false, updateNotification: false },",
            "    editorTheme: { tours: false },",
            "};",
            "",
        ].join("\n"),
    );
}

function call(method, urlPath, body) {
    return new Promise((resolve, reject) => {
        const req = http.request(
            `${base}${urlPath}`,
            { method, headers: { "content-type": "application/json", "Node-RED-API-Version": "v2" } },
            (res) => {
                const chunks = [];
                res.on("data", (chunk) => chunks.push(chunk));
                res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
            },
        );
        req.on("error", reject);
        if (body !== undefined) req.write(JSON.stringify(body));
        req.end();
    });
}

async function waitForNodeRed(child) {
    for (let attempt = 0; attempt < 300; attempt++) {
        if (child.exitCode !== null) throw new Error("Node-RED exited");
        try {
            const response = await call("GET", "/flows");
            if (response.status === 200) return JSON.parse(response.text);
        } catch {
            // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error("Node-RED did not start");
}

function exampleFlows() {
    const folder = path.join(root, "examples");
    return fs
        .readdirSync(folder)
        .filter((file) => file.endsWith(".json"))
        .sort()
        .flatMap((file) => JSON.parse(fs.readFileSync(path.join(folder, file), "utf8")))
        // The demo secrets of the providers that sign: the printed commands sign with them.
        .map((node) => (providerOf(node)?.demoSecret ? { ...node, credentials: { secret: providerOf(node).demoSecret } } : node));
}

/** The ids of the example nodes this script deployed with demo secrets: only their commands can sign with them. */
const demoNodesFile = path.join(userDir, "verified-webhooks-demo-nodes.json");
function demoNodeIds() {
    // A user directory from before this file was written: the examples' own ids.
    if (!fs.existsSync(demoNodesFile)) return new Set(exampleFlows().filter(providerOf).map((node) => node.id));
    try {
        const ids = JSON.parse(fs.readFileSync(demoNodesFile, "utf8"));
        return new Set(Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : []);
    } catch {
        return new Set();
    }
}

const clock = (ms) => new Date(ms).toLocaleTimeString();

/**
 * The command-line signer's command for a node, and the equivalent curl. `demo`: the node was
 * deployed by this script, with its provider's demo secret (or no token); a user's own node
 * gets the command with a placeholder for its secret, and no curl (it would need the secret).
 */
async function commandsFor(node, demo) {
    const provider = providerOf(node);
    // A sample the node emits, for a node that filters events.
    const options = provider.options(node);
    const eventName = sampleNames(provider).find((name) => !provider.wanted || provider.wanted(provider.samples[name](), options));
    const url = `${base}${node.path}`;
    const signs = provider.secretRequired || provider.demoSecret;
    if (!demo) {
        const secretArgument = signs || provider.pathToken ? ["--secret-env", "YOUR_SECRET"] : [];
        return { url, lines: [["npx verified-webhooks send", provider.name, url, ...secretArgument, "--event", eventName].join(" ") + (secretArgument.length ? "   # YOUR_SECRET: the node's secret or token" : "")] };
    }
    const secret = provider.demoSecret;
    // The secret through the environment, not the command line: it stays out of the process list.
    const send = [...(secret ? [`VW_SECRET=${secret}`] : []), "npx verified-webhooks send", provider.name, url, ...(secret ? ["--secret-env", "VW_SECRET"] : []), "--event", eventName].join(" ");
    const delivery = await sampleDelivery(provider, eventName, secret);
    const lines = [send, curlCommand(url, delivery)];
    // A signed curl line is a snapshot: a provider that checks the time refuses it later, and a
    // second run of it is a duplicate. The npx line signs a new event each time.
    const event = JSON.parse(delivery.body);
    const until = provider.passesTimeCheckUntil?.(event, { headers: delivery.headers, body: Buffer.from(delivery.body), path: [], extraPath: [], query: "" }, options);
    lines.push(
        until !== undefined
            ? `  (the curl line was signed at ${clock(Date.now())} and is refused after ${clock(until)}; run it twice and the second is a duplicate: the npx line sends a new event each time)`
            : "  (run the curl line twice and the second is a duplicate: the npx line sends a new event each time)",
    );
    return { url, lines };
}

async function main() {
    prepareUserDir();
    const redJs = path.join(path.dirname(require.resolve("node-red/package.json")), "red.js");
    const child = spawn(process.execPath, [redJs, "--userDir", userDir, "--port", String(port)], { stdio: "inherit" });
    for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
    child.on("exit", (code) => process.exit(code ?? 0));

    let { flows } = await waitForNodeRed(child);
    if (!flows.some(providerOf)) {
        const examples = exampleFlows();
        const response = await call("POST", "/flows", { flows: [...flows, ...examples] });
        if (response.status !== 200) throw new Error(`deploying the examples failed: ${response.text}`);
        fs.writeFileSync(demoNodesFile, `${JSON.stringify(examples.filter(providerOf).map((node) => node.id))}\n`);
        ({ flows } = JSON.parse((await call("GET", "/flows")).text));
    }

    const demoIds = demoNodeIds();
    const lines = ["", `Node-RED with ${packageName}: ${base}/`, ""];
    const receivers = flows.filter((candidate) => providerOf(candidate) && !candidate.d);
    for (const node of receivers) {
        const { url, lines: commands } = await commandsFor(node, demoIds.has(node.id));
        lines.push(`${node.name || node.type} (${node.type}): ${url}`, ...commands.map((line) => (line.startsWith("  ") ? line : `  ${line}`)), "");
    }
    if (receivers.some((node) => !demoIds.has(node.id))) lines.push("Your own nodes: send with their own secret, as shown (the demo secrets are only the examples').");
    lines.push("The example nodes of providers that sign use each provider module's demo secret; Ctrl-C stops Node-RED.", "");
    console.log(lines.join("\n"));
}

main().catch((error) => {
    console.error(error.message);
    process.exit(1);
});
