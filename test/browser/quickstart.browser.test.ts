// What a new user sees after `npm start`: the editor, straight onto the example flows, with
// no update-notification prompt and no first-run tour in front of them.
import type { Browser } from "playwright-core";
import assert = require("node:assert/strict");
import { launchBrowser, screenshot } from "../support/browser.js";
import { quickStartForSuite } from "../support/quickstart.js";

describe("npm start in a real browser", function () {
    this.timeout(90000);
    const started = quickStartForSuite();
    let browser: Browser;

    before(async () => {
        browser = await launchBrowser();
    });
    after(async () => browser?.close());

    it("opens straight onto the example flows", async () => {
        const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: "en-US" })).newPage();
        await page.goto(`${started.url}/`);
        await page.waitForSelector('.red-ui-palette-node[data-palette-type="wms-webhook"]', { timeout: 30000 });
        await page.waitForSelector("#red-ui-workspace-chart .red-ui-flow-node", { state: "attached", timeout: 30000 });
        // The consent prompt and the tour come up a moment after the editor has loaded.
        await page.waitForTimeout(2500);
        await screenshot(page, "npm-start");
        const popovers = await page.locator(".red-ui-popover:visible, .red-ui-tourGuide-popover:visible").count();
        assert.equal(popovers, 0, "no dialog over the flows");
        assert.equal(await page.evaluate(() => RED.settings.telemetryEnabled), false);
        const tabs = await page.evaluate(() => {
            const labels: string[] = [];
            RED.nodes.eachWorkspace((tab) => {
                labels.push(tab.label);
            });
            return labels;
        });
        assert.ok(tabs.some((label) => /WMS/.test(label)), `the example tabs: ${tabs.join(", ")}`);
        await page.close();
    });
});
