// The message catalogues as the build writes them (dist/nodes/locales/<language>/<type>.json):
// every language has every key English has, and every key the editor files, the shared
// editor rows and the runtime ask for is there.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import path = require("node:path");
import { PROVIDERS } from "../../../nodes/providers/index.js";
import { DIST, PACKAGE_ROOT } from "../../support/paths.js";

const LANGUAGES = ["en-US", "de", "ja"];
const RECEIVER_TYPES = PROVIDERS.map((provider) => provider.nodeType);
/** Every node type the package registers, as package.json lists them for Node-RED. */
const NODE_TYPES = Object.keys((JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { "node-red": { nodes: Record<string, string> } })["node-red"].nodes);

type Catalogue = { [key: string]: string | Catalogue };

function catalogue(language: string, type: string): Catalogue {
    return JSON.parse(fs.readFileSync(path.join(DIST, "nodes", "locales", language, `${type}.json`), "utf8")) as Catalogue;
}

function keysOf(value: Catalogue, prefix = ""): string[] {
    return Object.entries(value).flatMap(([key, child]) => (typeof child === "string" ? [prefix + key] : keysOf(child, `${prefix}${key}.`)));
}

/** The keys of data-i18n attributes ("[html]a.b;[title]c.d" is two). */
function i18nAttributes(text: string): string[] {
    return [...text.matchAll(/data-i18n="([^"]+)"/g)].flatMap((match) => match[1]!.split(";").map((part) => part.replace(/^\[[a-z]+\]/, "")));
}

/** The literal keys of RED._("…") and node._("…") calls. */
function literalKeys(text: string): string[] {
    return [...text.matchAll(/\b_\(\s*["']([a-zA-Z][\w.-]*)["']/g)].map((match) => match[1]!);
}

describe("message catalogues", () => {
    for (const type of NODE_TYPES) {
        it(`${type}: German and Japanese have exactly the keys English has`, () => {
            const english = keysOf(catalogue("en-US", type)).sort();
            assert.ok(english.length > 0);
            for (const language of LANGUAGES.slice(1)) assert.deepEqual(keysOf(catalogue(language, type)).sort(), english, language);
        });
    }

    it("holds every key the editor files and the shared editor rows ask for", () => {
        const sharedRows = fs.readFileSync(path.join(PACKAGE_ROOT, "resources", "webhook-editor.js"), "utf8");
        for (const type of NODE_TYPES) {
            const keys = new Set(keysOf(catalogue("en-US", type)));
            const editorFile = fs.readFileSync(path.join(DIST, "nodes", `${type}.html`), "utf8");
            const asked = [...i18nAttributes(editorFile), ...literalKeys(editorFile)];
            if (RECEIVER_TYPES.includes(type)) asked.push(...i18nAttributes(sharedRows.replaceAll("__TYPE__", type)), ...literalKeys(sharedRows));
            const missing = asked.filter((key) => !keys.has(key));
            assert.deepEqual([...new Set(missing)], [], `${type} lacks keys its editor asks for`);
        }
    });

    it("holds every key the runtime asks for by name", () => {
        // The runtime's strings are asked for in the Node-RED shell, the one folder that imports Node-RED.
        const runtimeFiles = fs.readdirSync(path.join(DIST, "nodes", "node-red")).filter((file) => file.endsWith(".js")).map((file) => path.join("nodes", "node-red", file));
        // A node type's own runtime file reads its own catalogue; the receivers' shared files, a receiver's.
        const keysFor = (type: string) => new Set(keysOf(catalogue("en-US", type)));
        const receiverKeys = keysFor(RECEIVER_TYPES[0]!);
        const missing: string[] = [];
        for (const file of runtimeFiles) {
            const type = path.basename(file, ".js");
            const keys = NODE_TYPES.includes(type) ? keysFor(type) : receiverKeys;
            for (const key of literalKeys(fs.readFileSync(path.join(DIST, file), "utf8"))) if (!keys.has(key)) missing.push(`${file}: ${key}`);
        }
        assert.deepEqual(missing, []);
    });
});
