// The editor in a real browser (Debian's Chromium, driven by playwright-core) against a
// real Node-RED: what a new user does, click by click. Screenshots: test-results/screenshots.
import type { Browser, Page } from "playwright-core";
import assert = require("node:assert/strict");
import fs = require("node:fs");
import path = require("node:path");
import { NodeRedProcess, PACKAGE_ROOT } from "../support/node-red-process.js";
import { launchBrowser, screenshot } from "../support/browser.js";
import { watchSecret } from "../support/leak-watch.js";
import { runCli } from "../support/cli.js";
import { FakeMentraCloud } from "../support/fake-mentra-cloud.js";

// Node-RED's defaults, less the first-run tour and the update-notification prompt.
const SETTINGS = 'module.exports = { flowFile: "flows.json", telemetry: { enabled: false }, editorTheme: { tours: false } };';

interface ProviderSpec {
    type: string;
    provider: string;
    label: string;
    topic: string;
    secret?: string;
}

const PROVIDERS: ProviderSpec[] = [
    { type: "mentra-webhook", provider: "mentra", label: "Mentra", topic: "session_request" },
    { type: "wms-webhook", provider: "wms", label: "NuraLogix WMS", topic: "MEASUREMENT_CREATED", secret: "ui-wms-secret" },
    { type: "synthesis-webhook", provider: "synthesis", label: "SynthesisVR", topic: "create" },
    { type: "meshagent-webhook", provider: "meshagent", label: "MeshAgent", topic: "room.started", secret: "ui-mesh-secret" },
    { type: "standard-webhook", provider: "standard", label: "Standard Webhooks", topic: "user.created", secret: "whsec_dWktc3RhbmRhcmQtc2VjcmV0LWZvci10aGUtYnJvd3Nlcg==" },
];
/** The Mentra app a user builds by hand, against the tests' fake cloud. */
const CAPTIONS_APP = { packageName: "com.example.captions", apiKey: "browser-captions-api-key" };
const CAPTIONS_SESSION = "jane@example.com-com.example.captions";
/** What a user pastes into an example's signed node: Standard Webhooks takes only whsec_/whpk_ keys. */
const EXAMPLE_SECRETS: Record<string, string> = { "wms-webhook": "example-secret", "meshagent-webhook": "example-secret", "standard-webhook": "whsec_ZXhhbXBsZS1zZWNyZXQtb2YtMjQtYnl0ZXMtKys=" };


describe("the editor in a real browser", function () {
    this.timeout(180000);
    let nodeRed: NodeRedProcess;
    let browser: Browser;
    let page: Page;
    const pageErrors: string[] = [];

    before(async () => {
        watchSecret(...PROVIDERS.map((spec) => spec.secret).filter((secret) => secret !== undefined), ...Object.values(EXAMPLE_SECRETS), CAPTIONS_APP.apiKey);
        nodeRed = await new NodeRedProcess({ settings: SETTINGS }).start();
        browser = await launchBrowser();
        page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: "en-US" })).newPage();
        page.on("pageerror", (error) => pageErrors.push(error.message));
        await page.goto(nodeRed.adminUrl("/"));
        await page.waitForSelector('.red-ui-palette-node[data-palette-type="wms-webhook"]', { timeout: 30000 });
    });

    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
    });

    afterEach(async function () {
        const test = this.currentTest;
        if (test?.state === "failed" && page) {
            await screenshot(page, `failed-${test.title.replace(/\W+/g, "-")}`);
            await page.keyboard.press("Escape"); // close whatever dialog was left open
        }
    });

    /** Drags a node type from the palette onto the workspace at (x, y); returns its id. */
    async function dragFromPalette(type: string, x: number, y: number): Promise<string> {
        const filter = page.locator('input[placeholder="filter nodes"]');
        await filter.fill("");
        await filter.pressSequentially(type.replace(/-webhook$/, ""), { delay: 10 });
        const source = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).first();
        // The palette re-lays itself out as it filters: let it settle before grabbing a node.
        await page.waitForTimeout(400);
        await source.scrollIntoViewIfNeeded();
        const box = await source.boundingBox();
        assert.ok(box, `${type} is in the palette`);
        const before = await page.evaluate((t) => RED.nodes.filterNodes({ type: t }).map((node) => node.id), type);
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        await page.mouse.down();
        for (let step = 1; step <= 15; step++) {
            await page.mouse.move(box.x + ((x - box.x) * step) / 15, box.y + ((y - box.y) * step) / 15);
        }
        await page.mouse.up();
        await filter.fill("");
        const ids = await page.evaluate((t) => RED.nodes.filterNodes({ type: t }).map((node) => node.id), type);
        const added = ids.filter((id) => !before.includes(id));
        assert.equal(added.length, 1, `dragged one ${type}`);
        return added[0]!;
    }

    /** Draws a wire from output `port` of one node to the input of another, with the mouse. */
    async function wire(fromId: string, toId: string, port = 0) {
        const from = await page.locator(`[id="${fromId}"] .red-ui-flow-port-output`).nth(port).boundingBox();
        const to = await page.locator(`[id="${toId}"] .red-ui-flow-port-input`).first().boundingBox();
        assert.ok(from && to, "both ports are on the workspace");
        await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
        await page.mouse.down();
        for (let step = 1; step <= 10; step++) {
            await page.mouse.move(from.x + ((to.x - from.x) * step) / 10 + 3, from.y + ((to.y - from.y) * step) / 10 + 3);
        }
        await page.mouse.up();
    }

    async function openDialog(id: string) {
        await page.locator(`[id="${id}"] .red-ui-flow-node`).first().dblclick();
        await page.waitForSelector("#node-input-path", { state: "visible" });
    }

    /**
     * Closes the node's edit tray with its OK or Cancel button and waits until it is gone: on a
     * loaded machine a click can land while the tray is still sliding in, and the tray's shade
     * would then stop every later click.
     */
    async function closeTray(button: "#node-dialog-ok" | "#node-dialog-cancel") {
        await page.click(button);
        for (let attempt = 1; ; attempt++) {
            try {
                await page.waitForSelector("#red-ui-editor-shade", { state: "hidden", timeout: 5000 });
                return;
            } catch (error) {
                if (attempt === 3) throw error;
                if (await page.locator(button).isVisible()) await page.click(button);
            }
        }
    }

    async function deploy() {
        await page.click("#red-ui-header-button-deploy");
        await page.waitForSelector(".red-ui-notification:has-text('Successfully deployed')", { timeout: 15000 });
        // Let the runtime start the flows before anything is sent to them.
        await page.waitForTimeout(500);
    }

    async function showDebugSidebar() {
        await page.click("#red-ui-tab-debug-link-button");
        await page.waitForSelector(".red-ui-debug-content", { state: "visible" });
    }

    const debugMessages = () => page.locator(".red-ui-debug-content .red-ui-debug-msg");

    it("drags each receiver from the palette, configures and wires it, deploys, and shows a signed event in the debug sidebar", async () => {
        const placed: (ProviderSpec & { receiver: string; debug: string })[] = [];
        for (const [index, spec] of PROVIDERS.entries()) {
            const y = 150 + index * 100;
            const receiver = await dragFromPalette(spec.type, 330, y);
            const debug = await dragFromPalette("debug", 680, y);
            await wire(receiver, debug, 0);
            await openDialog(receiver);
            await page.fill("#node-input-path", `/ui/${spec.provider}`);
            assert.match(await page.inputValue("#node-input-webhook-url"), new RegExp(`^http://127\\.0\\.0\\.1:${nodeRed.port}/ui/${spec.provider}$`));
            if (spec.secret) await page.fill("#node-input-secret", spec.secret);
            await closeTray("#node-dialog-ok");
            placed.push({ ...spec, receiver, debug });
        }
        const links = await page.evaluate(() => {
            const found: [string, number, string][] = [];
            RED.nodes.eachLink((link) => {
                found.push([link.source.id, link.sourcePort, link.target.id]);
            });
            return found;
        });
        for (const { receiver, debug } of placed) assert.ok(links.some(([s, p, t]) => s === receiver && p === 0 && t === debug), "wired");
        await screenshot(page, "01-four-receivers-wired");
        await deploy();

        for (const spec of placed) {
            const args = ["send", spec.provider, nodeRed.nodeUrl(`/ui/${spec.provider}`), "--event", spec.topic];
            if (spec.secret) args.push("--secret", spec.secret);
            const result = await runCli(args);
            assert.equal(result.code, 0, `${spec.provider}: ${result.stdout}${result.stderr}`);
        }
        await showDebugSidebar();
        for (const spec of placed) {
            await debugMessages().filter({ hasText: spec.topic }).first().waitFor({ timeout: 10000 });
        }
        await screenshot(page, "02-debug-sidebar-events");
        const statuses = await page.locator(".red-ui-flow-node-status-label").allTextContents();
        assert.ok(statuses.some((text) => /\/ui\/wms · 1 ok · 0 rejected/.test(text)), statuses.join(" | "));
    });

    it("sends a test event from the node's dialog and from the button on the node", async () => {
        const receiver = await page.evaluate(() => RED.nodes.filterNodes({ type: "wms-webhook" })[0]!.id);
        await openDialog(receiver);
        await page.waitForSelector("#node-input-test-event option[value='CONSTRAINT_VIOLATION']", { state: "attached" });
        await page.selectOption("#node-input-test-event", "CONSTRAINT_VIOLATION");
        await page.click("#node-input-send-test");
        await page.waitForSelector(".red-ui-notification:has-text('Test event CONSTRAINT_VIOLATION sent: 200')");
        await screenshot(page, "03-test-event-from-dialog");
        await closeTray("#node-dialog-cancel");
        await showDebugSidebar();
        await debugMessages().filter({ hasText: "CONSTRAINT_VIOLATION" }).first().waitFor({ timeout: 10000 });

        // Mentra's sample carries a fresh timestamp, so it is a new event (SynthesisVR's would be a duplicate).
        const mentra = await page.evaluate(() => RED.nodes.filterNodes({ type: "mentra-webhook" })[0]!.id);
        const before = await debugMessages().filter({ hasText: "session_request" }).count();
        await page.locator(`[id="${mentra}"] .red-ui-flow-node-button`).click();
        await page.waitForSelector(".red-ui-notification:has-text('Test event session_request sent: 200')");
        await page.waitForFunction(
            ({ count }) => [...document.querySelectorAll(".red-ui-debug-content .red-ui-debug-msg")].filter((el) => el.textContent?.includes("session_request")).length > count,
            { count: before },
        );
        await screenshot(page, "04-test-event-from-node-button");
    });

    it("adds a shared-state node from a receiver's dialog, with its take-over time", async () => {
        const receiver = await page.evaluate(() => RED.nodes.filterNodes({ type: "synthesis-webhook" })[0]!.id);
        await openDialog(receiver);
        await page.click("#node-input-btn-state-add"); // Node-RED 4.1's add button beside a config node select
        await page.waitForSelector("#node-config-input-claimSeconds", { state: "visible" });
        assert.equal(await page.inputValue("#node-config-input-claimSeconds"), "10");
        assert.equal((await page.locator("label[for='node-config-input-claimSeconds']").textContent())?.trim(), "Take over after");
        await page.fill("#node-config-input-claimSeconds", "12");
        await screenshot(page, "05-shared-state-dialog");
        await page.click("#node-config-dialog-ok");
        await page.waitForSelector("#node-config-input-claimSeconds", { state: "detached" });
        await closeTray("#node-dialog-cancel");
        const state = await page.evaluate(() => {
            const found: { claimSeconds: unknown }[] = [];
            RED.nodes.eachConfig((node) => {
                if (node.type === "webhook-state") found.push({ claimSeconds: node.claimSeconds });
            });
            return found;
        });
        assert.deepEqual(state, [{ claimSeconds: "12" }]);
        // Not deployed: no Redis runs here (the examples below must deploy cleanly).
        await page.evaluate(() => {
            const added: string[] = [];
            RED.nodes.eachConfig((node) => {
                if (node.type === "webhook-state") added.push(node.id);
            });
            for (const id of added) RED.nodes.remove(id);
        });
    });

    it("builds a live-captions app by hand: the webhook joins the session, what the wearer says shows on the glasses", async () => {
        const cloud = await FakeMentraCloud.start(CAPTIONS_APP);
        try {
            await page.evaluate(() => RED.workspaces.add());
            const webhook = await dragFromPalette("mentra-webhook", 330, 200);
            const captions = await dragFromPalette("mentra-in", 330, 360);
            const glasses = await dragFromPalette("mentra-out", 700, 360);
            await wire(captions, glasses, 0);

            await openDialog(webhook);
            await page.fill("#node-input-path", "/ui/captions");
            await page.fill("#node-input-allowedHosts", "127.0.0.1");
            await page.check("#node-input-allowInsecureWs");
            await page.click("#node-input-btn-app-add"); // a new Mentra app, from the webhook's own dialog
            await page.waitForSelector("#node-config-input-packageName", { state: "visible" });
            await page.fill("#node-config-input-packageName", CAPTIONS_APP.packageName);
            await page.fill("#node-config-input-apiKey", CAPTIONS_APP.apiKey);
            await screenshot(page, "23-mentra-app-dialog");
            await page.click("#node-config-dialog-ok");
            await page.waitForSelector("#node-config-input-packageName", { state: "detached" });
            await closeTray("#node-dialog-ok");

            // The other two: the app just made, picked from their App list; the stream and layout keep their defaults.
            const app = await page.evaluate(() => {
                let id = "";
                RED.nodes.eachConfig((node) => {
                    if (node.type === "mentra-app") id = node.id;
                });
                return id;
            });
            for (const [id, field] of [[captions, "#node-input-stream"], [glasses, "#node-input-layout"]] as const) {
                await page.locator(`[id="${id}"] .red-ui-flow-node`).first().dblclick();
                await page.waitForSelector(field, { state: "visible" });
                await page.selectOption("#node-input-app", app);
                await closeTray("#node-dialog-ok");
            }
            await deploy();

            const answer = await nodeRed.post("/ui/captions/webhook", JSON.stringify({ type: "session_request", sessionId: CAPTIONS_SESSION, userId: "jane@example.com", timestamp: new Date().toISOString(), mentraOSWebsocketUrl: cloud.url }));
            assert.equal(answer.status, 200);
            await cloud.waitFor("tpa_connection_init", 1, 2000);
            assert.deepEqual((await cloud.waitFor("subscription_update"))[0]!.frame.subscriptions, ["transcription:en-US"]);
            cloud.sendData(CAPTIONS_SESSION, "transcription:en-US", { type: "transcription", text: "built by hand", isFinal: true, startTime: 0, endTime: 500 });
            const [display] = await cloud.waitFor("display_event");
            assert.deepEqual(display!.frame.layout, { layoutType: "text_wall", text: "built by hand" });
            await page.waitForFunction(() => [...document.querySelectorAll(".red-ui-flow-node-status-label")].some((el) => /1 session/.test(el.textContent ?? "")), undefined, { timeout: 5000 });
            // The workspace scrolled as the dialogs opened: bring the three nodes into view for the picture.
            await page.evaluate((ids) => {
                const nodes = ids.map((id) => RED.nodes.node(id) as unknown as { x: number; y: number });
                const chart = document.getElementById("red-ui-workspace-chart")!;
                chart.scrollLeft = Math.max(0, Math.min(...nodes.map((node) => node.x)) - 150);
                chart.scrollTop = Math.max(0, Math.min(...nodes.map((node) => node.y)) - 100);
            }, [webhook, captions, glasses]);
            await screenshot(page, "24-live-captions-built-by-hand");
        } finally {
            await cloud.stop();
        }
    });

    it("imports each example from Import > Examples and deploys it", async () => {
        const examples = fs.readdirSync(path.join(PACKAGE_ROOT, "examples")).map((file) => file.replace(/\.json$/, "")).sort();
        assert.equal(examples.length, 7);
        const nodeCount = () => page.evaluate(() => {
            let count = 0;
            RED.nodes.eachNode(() => { count++; });
            return count;
        });
        for (const example of examples) {
            const before = await nodeCount();
            await page.click("#red-ui-header-button-sidemenu");
            await page.click("#menu-item-import");
            await page.click("#red-ui-clipboard-dialog-import-tabs a:has-text('Examples')");
            const tree = page.locator("#red-ui-clipboard-dialog .red-ui-treeList-label");
            await tree.filter({ hasText: /^node-red-contrib-verified-webhooks$/ }).first().click();
            await tree.filter({ hasText: example }).first().click();
            await page.click("#red-ui-clipboard-dialog-ok");
            await page.waitForSelector("#red-ui-clipboard-dialog", { state: "hidden" });
            // Imported nodes follow the mouse until placed; examples with a tab open as a new flow.
            await page.mouse.click(600, 600);
            // The dialog closes before the editor has fetched the example: wait until its nodes are in.
            await page.waitForFunction((count) => {
                let now = 0;
                RED.nodes.eachNode(() => { now++; });
                return now > count;
            }, before);
        }
        const imported = await page.evaluate(() => {
            const receivers: { id: string; type: string; z: string }[] = [];
            RED.nodes.eachNode((node) => {
                if (/-webhook$/.test(node.type) && !/^\/ui\//.test(String(node.path))) receivers.push({ id: node.id, type: node.type, z: node.z });
            });
            return receivers;
        });
        assert.deepEqual([...new Set(imported.map((node) => node.type))].sort(), PROVIDERS.map((spec) => spec.type).sort(), "the examples use every node type");

        // The examples leave the secrets of the signed providers to the user, as a user would fill them in.
        for (const node of imported.filter((candidate) => EXAMPLE_SECRETS[candidate.type])) {
            await page.evaluate((z) => RED.workspaces.show(z), node.z);
            await openDialog(node.id);
            await page.fill("#node-input-secret", EXAMPLE_SECRETS[node.type]!);
            await closeTray("#node-dialog-ok");
        }
        await screenshot(page, "05-examples-imported");
        await deploy();
        await page.waitForTimeout(500);
        assert.deepEqual(nodeRed.log.split("\n").filter((line) => /\[error\]|\[warn\] \[/.test(line)), [], "every example deploys cleanly");
        const result = await runCli(["send", "wms", nodeRed.nodeUrl("/wms"), "--secret", "example-secret"]);
        assert.equal(result.code, 0, result.stdout);
        assert.equal(pageErrors.length, 0, pageErrors.join("\n"));
    });

    for (const [locale, outputs] of [["en-US", "Outputs"], ["de-DE", "Ausgaben"], ["ja-JP", "出力"]]) {
        it(`shows each node's help in the sidebar in ${locale}`, async () => {
            const localized = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, locale })).newPage();
            try {
                await localized.goto(nodeRed.adminUrl("/"));
                await localized.waitForSelector('.red-ui-palette-node[data-palette-type="wms-webhook"]', { timeout: 30000 });
                await localized.click("#red-ui-tab-help-link-button");
                const tree = localized.locator(".red-ui-treeList-label");
                await tree.filter({ hasText: /^node-red-contrib-verified-webhooks$/ }).first().click();
                for (const { label, type } of PROVIDERS) {
                    // Only the help tree: an example tab of the same name is listed, hidden, in the info outline.
                    await tree.filter({ hasText: new RegExp(`^${label}$`), visible: true }).first().click();
                    // The help of this node type, in this language, with its Outputs section.
                    await localized.waitForFunction(
                        ({ heading, type }) => {
                            const headings = [...document.querySelectorAll<HTMLElement>(".red-ui-help h3, .red-ui-sidebar-help-stack h3, h3")].filter((el) => el.offsetParent);
                            const text = document.body.innerText;
                            return headings.some((el) => el.textContent?.trim() === heading) && text.includes("deliveryId") && (type !== "wms-webhook" || text.includes("X-WMS-Content-MAC"));
                        },
                        { heading: outputs, type },
                    );
                    const helpText = await localized.evaluate(() => [...document.querySelectorAll("h3")].filter((el) => el.offsetParent).map((el) => el.textContent?.trim() ?? ""));
                    assert.ok(helpText.length >= 4, `${type}: ${helpText.join(", ")}`);
                }
                await screenshot(localized, `06-help-${locale}`);
            } catch (error) {
                await screenshot(localized, `failed-help-${locale}`);
                throw error;
            } finally {
                await localized.close();
            }
        });
    }
});
