// The "Webhooks" sidebar tab in a real browser, as a new user meets it: a flow breaks on some
// events, the tab shows them failed, the flow is fixed (a button on the workspace), and
// "Replay failed" sends them through again, handled this time.
import type { Browser, Page } from "playwright-core";
import assert = require("node:assert/strict");
import { NodeRedProcess, type FlowNode } from "../support/node-red-process.js";
import { launchBrowser, screenshot } from "../support/browser.js";
import { synthesisBatch } from "../support/fixtures.js";

const SETTINGS = 'module.exports = { flowFile: "flows.json", telemetry: { enabled: false }, editorTheme: { tours: false } };';
const TAB = "tab-orders";

/** Orders are stored by a function that fails while the database is down; an inject node brings it back. */
const FLOW: FlowNode[] = [
    { id: TAB, type: "tab", label: "Orders" },
    { id: "orders-in", type: "synthesis-webhook", z: TAB, name: "orders", path: "/orders", x: 140, y: 100, wires: [["store-fn"], []] },
    {
        id: "store-fn",
        type: "function",
        z: TAB,
        name: "store order",
        func: 'if (msg.payload.action === "delete" && !global.get("databaseUp")) throw new Error("database down");\nreturn msg;',
        outputs: 1,
        x: 360,
        y: 100,
        wires: [["stored-debug"]],
    },
    { id: "stored-debug", type: "debug", z: TAB, name: "stored", active: true, complete: "payload", x: 580, y: 100, wires: [] },
    {
        id: "fix-inject",
        type: "inject",
        z: TAB,
        name: "database back up",
        props: [{ p: "payload" }],
        repeat: "",
        crontab: "",
        once: false,
        onceDelay: 0.1,
        topic: "",
        payload: "true",
        payloadType: "bool",
        x: 160,
        y: 200,
        wires: [["fix-change"]],
    },
    { id: "fix-change", type: "change", z: TAB, name: "", rules: [{ t: "set", p: "databaseUp", pt: "global", to: "payload", tot: "msg" }], x: 380, y: 200, wires: [[]] },
];

describe("the Webhooks sidebar tab in a real browser", function () {
    this.timeout(120000);
    let nodeRed: NodeRedProcess;
    let browser: Browser;
    let page: Page;

    before(async () => {
        nodeRed = await new NodeRedProcess({ settings: SETTINGS }).start();
        await nodeRed.deploy(FLOW);
        browser = await launchBrowser();
        page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: "en-US" })).newPage();
        await page.goto(nodeRed.adminUrl("/"));
        await page.waitForSelector('.red-ui-palette-node[data-palette-type="synthesis-webhook"]', { timeout: 30000 });
    });
    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
    });
    afterEach(async function () {
        const test = this.currentTest;
        if (test?.state === "failed" && page) await screenshot(page, `failed-log-${test.title.replace(/\W+/g, "-")}`);
    });

    const rows = () => page.locator(".verified-webhooks-log-row");

    it("lists deliveries live, shows the failed ones, filters, and replays them once the flow is fixed", async () => {
        // Its icon sits beside debug and info when the sidebar has room; otherwise in the sidebar's tab menu.
        const icon = page.locator("#red-ui-tab-verified-webhooks-link-button");
        if (await icon.isVisible()) await icon.click();
        else {
            await page.click("#red-ui-sidebar .red-ui-tab-link-button-menu");
            await page.click("#red-ui-tabs-menu-option-verified-webhooks");
        }
        await page.waitForSelector(".verified-webhooks-log", { state: "visible" });

        const batch = [...synthesisBatch(2, "create"), ...synthesisBatch(1, "delete")].map((event, index) => ({ ...event, uuid: `ui-${index}` }));
        assert.equal((await nodeRed.post("/orders", JSON.stringify(batch))).status, 200);
        assert.equal((await nodeRed.post("/orders", "{not json")).status, 400);
        // Live: both appear without a reload, the accepted one marked failed in the flow.
        await page.waitForSelector('.verified-webhooks-log-row[data-outcome="accepted"][data-flow="failed"]', { timeout: 10000 });
        await page.waitForSelector('.verified-webhooks-log-row[data-outcome="rejected"]');
        await screenshot(page, "07-webhooks-tab-failed");

        // Only the failed ones.
        await page.selectOption(".verified-webhooks-log-status-filter", "failed");
        await page.waitForFunction(() => document.querySelectorAll(".verified-webhooks-log-row").length === 1);
        assert.equal(await rows().first().getAttribute("data-flow"), "failed");

        // Its details: the failing event and why.
        await rows().first().click();
        await page.waitForSelector(".verified-webhooks-log-details", { state: "visible" });
        await page.waitForFunction(() => (document.querySelector(".verified-webhooks-log-details")?.textContent ?? "").includes("database down"));
        assert.ok(await page.locator(".verified-webhooks-log-replay-button").isVisible(), "an accepted delivery can be replayed");

        // Fix the flow: the database is back (the inject node's button), then Replay failed.
        await page.locator('[id="fix-inject"] .red-ui-flow-node-button').click();
        await page.waitForTimeout(300);
        await page.selectOption(".verified-webhooks-log-range", "15");
        await page.click(".verified-webhooks-log-replay-failed");
        // It says what it will replay, and waits for a yes.
        const confirm = page.locator(".red-ui-notification:has-text('Replay 1 failed event(s) of 1 delivery(ies) of the last 15 minutes?')");
        await confirm.waitFor();
        await screenshot(page, "10-webhooks-tab-replay-failed-confirm");
        await confirm.locator("button:has-text('Replay failed')").click();
        await page.waitForSelector(".red-ui-notification:has-text('Replayed 1 failed event')");

        // The replay is a delivery of its own, handled; nothing failed is left to replay.
        await page.selectOption(".verified-webhooks-log-status-filter", "");
        await page.waitForSelector('.verified-webhooks-log-row[data-replay="true"][data-flow="handled"]', { timeout: 10000 });
        await screenshot(page, "08-webhooks-tab-replayed");
        await page.click(".verified-webhooks-log-replay-failed");
        await page.waitForSelector(".red-ui-notification:has-text('No failed event to replay of the last 15 minutes')");

        // Filter by event name as one types: a prefix, in any case.
        await page.locator(".verified-webhooks-log-search").pressSequentially("DEL");
        await page.waitForFunction(() => {
            const shown = [...document.querySelectorAll(".verified-webhooks-log-row .verified-webhooks-log-events")].map((element) => element.textContent ?? "");
            return shown.length === 2 && shown.every((text) => text.includes("delete"));
        });
    });

    it("replays one delivery from its details pane", async () => {
        await page.fill(".verified-webhooks-log-search", "");
        await page.selectOption(".verified-webhooks-log-status-filter", "accepted");
        // The list reloads with the filter: count once it shows accepted deliveries only.
        await page.waitForFunction(() => {
            const shown = [...document.querySelectorAll(".verified-webhooks-log-row")];
            return shown.length > 0 && shown.every((row) => row.getAttribute("data-outcome") === "accepted");
        });
        const before = await rows().count();
        await page.locator('.verified-webhooks-log-row[data-replay="false"]').first().click();
        await page.click(".verified-webhooks-log-replay-button");
        await page.waitForSelector(".red-ui-notification:has-text('Replayed 3 event')");
        await page.waitForFunction((count) => document.querySelectorAll(".verified-webhooks-log-row").length === count + 1, before);
    });

    it("shows every reason and payload as text: nothing a sender wrote runs, nor passes for Node-RED's own encodings", async () => {
        const hostile = [
            {
                ...synthesisBatch(1, "create")[0],
                uuid: `hostile-${Date.now()}`,
                note: '<img src=x onerror="window.__xss = 1">',
                spoof: { __enc__: true, type: "function", data: "alert(1)" },
            },
        ];
        assert.equal((await nodeRed.post("/orders", JSON.stringify(hostile))).status, 200);
        await page.selectOption(".verified-webhooks-log-status-filter", "accepted");
        await page.fill(".verified-webhooks-log-search", "");
        const row = page.locator('.verified-webhooks-log-row[data-replay="false"]').first();
        await row.click();
        await page.waitForSelector(".verified-webhooks-log-details-body");
        // A refusal whose reason quotes markup, as a server reason could (route answered here).
        await page.route("**/verified-webhooks/deliveries/*/replay", (route) =>
            route.fulfill({ status: 409, contentType: "application/json", body: JSON.stringify({ error: 'not replayable: <img src=x onerror="window.__xss = 2">' }) }),
        );
        await page.click(".verified-webhooks-log-replay-button");
        await page.waitForSelector('.red-ui-notification:has-text("<img src=x")');
        await page.unroute("**/verified-webhooks/deliveries/*/replay");
        await screenshot(page, "09-webhooks-tab-text-only");
        assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, "no script ran");
        assert.equal(await page.locator(".red-ui-notification img, .verified-webhooks-log-details img").count(), 0);
    });
});
