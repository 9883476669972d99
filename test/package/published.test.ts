// The package as published: `npm pack` (which builds first), the tarball's contents, and the
// tarball installed with npm into a fresh user directory of a real Node-RED: 4.1 on Node 20
// and 5.0 on Node 22 (which loads nodes with import()). The four receivers load, the examples
// are listed, a signed event of each provider is accepted, and TypeScript code can import
// the event types.
import assert = require("node:assert/strict");
import { execFileSync } from "node:child_process";
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");

import { NodeRedProcess, Collector, request, PACKAGE_ROOT, type FlowNode } from "../support/node-red-process.js";
import { nodeBinary, nodeRedRelease, npm, NODE_RED_5 } from "../support/runtimes.js";
import { sampleDelivery, sampleNames, signDelivery } from "../../nodes/providers/signing.js";
import { PROVIDERS } from "../../nodes/providers/index.js";

const PACKAGE = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { name: string; version: string; "node-red": { nodes: Record<string, string> } };
const RECEIVER_TYPES = PROVIDERS.map((provider) => provider.nodeType);
/** A node's secret: Standard Webhooks takes whsec_ keys. */
const secretFor = (provider: string) => (provider === "standard" ? "whsec_cHVibGlzaGVkLXBhY2thZ2Utc2VjcmV0LTI0Yg==" : "published-package-secret");

interface Packed {
    tarball: string;
    files: string[];
}

/** Packs the package as `npm publish` would; returns the tarball's path and its file list. */
function pack(destination: string): Packed {
    const output = execFileSync("npm", ["pack", "--json", "--pack-destination", destination, "--loglevel=error"], {
        cwd: PACKAGE_ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    // The prepack build prints to stdout before npm's JSON.
    const [result] = JSON.parse(output.slice(output.indexOf("\n[") + 1)) as { filename: string; files: { path: string }[] }[];
    assert.ok(result, "npm pack's report");
    return { tarball: path.join(destination, result.filename), files: result.files.map((file) => file.path) };
}

describe("the published package", function () {
    this.timeout(240000);
    let packed: Packed;
    let workDir: string;

    before(() => {
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-pack-"));
        packed = pack(workDir);
    });
    after(() => fs.rmSync(workDir, { recursive: true, force: true }));

    it("holds what Node-RED and users' code need, and nothing else", () => {
        const { files } = packed;
        const languages = fs.readdirSync(path.join(PACKAGE_ROOT, "locales"));
        const expected = [
            "package.json",
            "README.md",
            "LICENSE",
            "CHANGELOG.md",
            "resources/webhook-editor.js",
            "resources/webhook-log.js",
            "resources/webhook-editor.css",
            "dist/index.js",
            "dist/index.d.ts",
            "dist/bin/verified-webhooks.js",
            ...fs.readdirSync(path.join(PACKAGE_ROOT, "examples")).map((file) => `examples/${file}`),
            ...fs.readdirSync(path.join(PACKAGE_ROOT, "icons")).map((file) => `dist/nodes/icons/${file}`),
            ...PROVIDERS.map((provider) => `dist/schemas/${provider.name}.json`),
            ...Object.keys(PACKAGE["node-red"].nodes).flatMap((type) => [
                `dist/nodes/${type}.js`,
                `dist/nodes/${type}.html`,
                ...languages.map((language) => `dist/nodes/locales/${language}/${type}.json`),
            ]),
        ];
        for (const file of expected) assert.ok(files.includes(file), `the tarball holds ${file}`);
        // Compiled JavaScript and its type declarations, editor files, catalogues, icons and
        // the documents; no TypeScript sources, tests, source maps or build configuration.
        const allowed = /^(dist\/.+\.(js|d\.ts|html|json|svg|lua)|resources\/[^/]+\.(js|css)|examples\/[^/]+\.json|package\.json|README\.md|LICENSE|CHANGELOG\.md)$/;
        const unexpected = files.filter((file) => !allowed.test(file) || (/\.ts$/.test(file) && !/\.d\.ts$/.test(file)));
        assert.deepEqual(unexpected, []);
        assert.ok(!files.some((file) => /^(test|bench|scripts|nodes|locales|icons|dist\/test)\//.test(file) || /tsconfig|tsbuildinfo|\.mocharc|\.map$/.test(file)));
    });

    const runtimes = [
        { name: "Node-RED 4.1 on Node 20", nodeRed: () => path.dirname(require.resolve("node-red/package.json")), node: () => nodeBinary("20") },
        { name: `Node-RED ${NODE_RED_5} on Node 22`, nodeRed: () => nodeRedRelease(NODE_RED_5), node: () => nodeBinary("22") },
    ];
    for (const runtime of runtimes) {
        describe(`installed from the tarball into ${runtime.name}`, () => {
            let nodeRed: NodeRedProcess;
            let collector: Collector;

            before(async () => {
                collector = await new Collector().start();
                nodeRed = await new NodeRedProcess({ tarball: packed.tarball, nodeRedDir: runtime.nodeRed(), nodeBinary: runtime.node() }).start();
            });
            after(async () => {
                await nodeRed?.stop();
                await collector?.stop();
            });

            it("runs the expected Node-RED on the expected Node", async () => {
                const settings = (await request<{ version: string }>(nodeRed.adminUrl("/settings"))).json;
                const wantedMajor = runtime.name.includes("5.0") ? "5" : "4";
                assert.equal(settings.version.split(".")[0], wantedMajor);
                assert.match(nodeRed.log, runtime.name.includes("Node 22") ? /Node\.js\s+version: v22\./ : /Node\.js\s+version: v20\./);
                const installed = JSON.parse(fs.readFileSync(path.join(nodeRed.userDir, "node_modules", PACKAGE.name, "package.json"), "utf8"));
                assert.equal(installed.version, PACKAGE.version);
                assert.ok(!fs.lstatSync(path.join(nodeRed.userDir, "node_modules", PACKAGE.name)).isSymbolicLink(), "a real install, not a link");
            });

            it("loads the four receivers and the shared-state node, with their catalogues", async () => {
                const response = await request<{ module: string; name: string; err?: string; enabled: boolean; types: string[] }[]>(nodeRed.adminUrl("/nodes"), { headers: { accept: "application/json" } });
                const sets = response.json.filter((set) => set.module === PACKAGE.name);
                assert.deepEqual(sets.map((set) => set.name).sort(), Object.keys(PACKAGE["node-red"].nodes).sort());
                for (const set of sets) {
                    assert.equal(set.err, undefined, `${set.name}: ${set.err}`);
                    assert.equal(set.enabled, true);
                }
                const types = sets.flatMap((set) => set.types);
                for (const type of [...RECEIVER_TYPES, "webhook-state"]) assert.ok(types.includes(type), `${type} is registered`);
                // The editor gets each node's definition, help and icon from the installed files.
                const editor = await request(nodeRed.adminUrl("/nodes"), { headers: { accept: "text/html" } });
                for (const type of RECEIVER_TYPES) {
                    assert.ok(editor.text.includes(`RED.nodes.registerType("${type}"`), `${type} editor definition served`);
                    assert.ok(editor.text.includes(`data-help-name="${type}"`), `${type} help served`);
                }
                const catalogue = await request(nodeRed.adminUrl(`/locales/${PACKAGE.name}/wms-webhook?lng=de`));
                assert.equal(typeof catalogue.json?.["wms-webhook"], "object", "the German catalogue of wms-webhook");
                const icon = await request(nodeRed.adminUrl(`/icons/${PACKAGE.name}/wms.svg`));
                assert.equal(icon.status, 200);
                assert.match(String(icon.headers["content-type"]), /svg/);
                const script = await request(nodeRed.adminUrl(`/resources/${PACKAGE.name}/webhook-editor.js`));
                assert.equal(script.status, 200);
            });

            it("lists the examples in Import → Examples", async () => {
                const modules = (await request<string[]>(nodeRed.adminUrl("/library/examples/flows/"))).json;
                assert.ok(modules.includes(PACKAGE.name), `examples of ${modules.join(", ")}`);
                const listed = (await request<(string | { fn?: string })[]>(nodeRed.adminUrl(`/library/examples/flows/${PACKAGE.name}`))).json;
                const names = listed.map((entry) => (typeof entry === "string" ? entry : entry.fn)).filter(Boolean);
                const expected = fs.readdirSync(path.join(PACKAGE_ROOT, "examples")).map((file) => file.replace(/\.json$/, ""));
                assert.deepEqual(names.sort(), expected.sort());
                const flow = await request<unknown>(nodeRed.adminUrl(`/library/examples/flows/${PACKAGE.name}/${encodeURIComponent(expected[0]!)}`));
                assert.ok(Array.isArray(flow.json) && flow.json.length > 0);
            });

            it("accepts a signed event of each provider, and refuses a forged one", async () => {
                const receivers: FlowNode[] = PROVIDERS.map(({ name, nodeType }) => ({ id: name, type: nodeType, path: `/${name}`, credentials: { secret: secretFor(name) } }));
                await nodeRed.deploy(collector.tappedTab("published", receivers));
                for (const provider of PROVIDERS) {
                    const eventName = sampleNames(provider)[0]!;
                    const delivery = await sampleDelivery(provider, eventName, secretFor(provider.name));
                    const accepted = await nodeRed.post(`/${provider.name}${delivery.pathSuffix}`, delivery.body, delivery.headers);
                    assert.equal(accepted.status, 200, `${provider.name}: ${accepted.text}`);
                    const [message] = await collector.waitFor(`${provider.name}:1`, 1);
                    assert.equal(message.webhook.provider, provider.name);
                    assert.equal(message.webhook.verified, true);
                    assert.equal(message.topic, eventName);

                    const forged = await signDelivery(provider, provider.samples[eventName]!(), "not-the-secret");
                    const refused = await nodeRed.post(`/${provider.name}${forged.pathSuffix}`, forged.body, forged.headers);
                    assert.ok([401, 403, 404].includes(refused.status), `${provider.name} forged: ${refused.status}`);
                }
            });
        });
    }

    it("gives TypeScript code the event types, type guards and JSON Schemas", function () {
        const consumer = fs.mkdtempSync(path.join(workDir, "consumer-"));
        fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "commonjs" }));
        // A Node.js project of a user's: their own @types/node, and this package from the tarball.
        const typesNode = `@types/node@${(require("@types/node/package.json") as { version: string }).version}`;
        npm(["install", "--prefer-offline", packed.tarball, typesNode], consumer);
        fs.writeFileSync(
            path.join(consumer, "tsconfig.json"),
            JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "ES2022", strict: true, types: ["node"], skipLibCheck: false, outDir: "out", resolveJsonModule: true } }),
        );
        const tsc = require.resolve("typescript/bin/tsc");
        const compile = (source: string): string => {
            fs.writeFileSync(path.join(consumer, "use.ts"), source);
            try {
                execFileSync(process.execPath, [tsc, "-p", consumer], { cwd: consumer, encoding: "utf8", stdio: "pipe" });
                return "";
            } catch (error) {
                return (error as { stdout?: string }).stdout || String(error);
            }
        };
        const good = `import { isEvent, isWmsEvent, isKnownMeshAgentEvent, type EventOf, type MessageOf, type WmsEvent, type WmsMessage, type MentraEvent, type SynthesisMessage, type MeshAgentEvent } from "${PACKAGE.name}";
import wmsSchema = require("${PACKAGE.name}/schemas/wms.json");
export function sequenceOf(value: unknown): number | undefined {
    if (isWmsEvent(value)) return value.sequence; // narrowed: a number
    return undefined;
}
export function sessionOf(msg: WmsMessage): string { return msg.payload.sessionId + msg.webhook.deliveryId; }
export function typeOf(event: MentraEvent): string { return event.type === "stop_request" ? event.reason : event.sessionId; }
export function indexOf(msg: SynthesisMessage): number { return msg.parts.index; }
export function pathOf(event: MeshAgentEvent): string | undefined {
    // Events MeshAgent adds later have any name: a documented one narrows once known.
    if (!isKnownMeshAgentEvent(event)) return undefined;
    return event.event === "storage.file.updated" ? event.data.path : undefined;
}
// A provider added later is reached through the one list: its name types its events.
export function standardType(value: unknown): string | undefined {
    return isEvent("standard", value) ? value.type : undefined;
}
export const topicOf = (msg: MessageOf<"standard">): string => { const event: EventOf<"standard"> = msg.payload; return msg.topic + String(event.type); };
export const guards = { isKnownMeshAgentEvent, title: wmsSchema.title };
const example: WmsEvent = { timestamp: 1, sessionId: "s", sequence: 0, event: "MEASUREMENT_CREATED", severity: "INFO" };
export default example;
`;
        assert.equal(compile(good), "");
        // And the guards and schemas work at run time, from the installed package.
        const built = require(path.join(consumer, "out", "use.js")) as {
            sequenceOf(value: unknown): number | undefined;
            standardType(value: unknown): string | undefined;
            pathOf(value: unknown): string | undefined;
            guards: { title: string; isKnownMeshAgentEvent(value: unknown): boolean };
        };
        assert.equal(built.sequenceOf({ timestamp: 1, sessionId: "s", sequence: 7, event: "E", severity: "INFO" }), 7);
        assert.equal(built.sequenceOf({ sessionId: "s" }), undefined);
        assert.equal(built.guards.title, "NuraLogix WMS event");
        assert.equal(built.standardType({ type: "invoice.paid", data: {} }), "invoice.paid");
        assert.equal(built.standardType({ type: 7 }), undefined);
        assert.equal(built.guards.isKnownMeshAgentEvent({ event: "storage.file.updated", data: { participant_id: "p" } }), false);
        assert.equal(built.pathOf({ event: "storage.file.updated", data: { path: "notes/a.md" } }), "notes/a.md");
        assert.equal(built.pathOf({ event: "agent.spawned", data: { path: "x" } }), undefined);

        // The types are real: wrong code does not compile.
        assert.match(compile(`import type { WmsEvent } from "${PACKAGE.name}";\nexport const bad: WmsEvent = { timestamp: 1, sessionId: 2, sequence: 0, event: "E", severity: "LOUD" };\n`), /TS2322/);
        // Only a stop_request has a reason (other fields of other events are unknown, not any).
        assert.match(compile(`import type { MentraEvent } from "${PACKAGE.name}";\nexport const reason = (event: MentraEvent): string => event.reason;\n`), /TS2322/);
        assert.match(compile(`import { isEvent } from "${PACKAGE.name}";\nexport const unknown = (value: unknown) => isEvent("stripe", value);\n`), /TS2345/, "only listed providers");
    });
});
