// A newcomer's first hour, in a real browser at the two window sizes people use: the Webhooks
// tab fits and says what happened (search as one types, pages, marks, links to nodes, details
// that start with the payload, Replay failed that asks first), test events that are new each
// time and a repeat that says it is a duplicate, a dialog that says why a field is invalid,
// the URL with its token, the help, the palette's search. Screenshots: test-results/screenshots.
import type { Browser, Page } from "playwright-core";
import assert = require("node:assert/strict");
import { NodeRedProcess, type FlowNode } from "../support/node-red-process.js";
import { launchBrowser, screenshot } from "../support/browser.js";
import { synthesisBatch } from "../support/fixtures.js";

const SETTINGS = 'module.exports = { flowFile: "flows.json", telemetry: { enabled: false }, editorTheme: { tours: false } };';
const MAIN = "tab-first-hour";
const STORAGE = "tab-storage";
const TOKEN = "tok-123";

/** WMS measurements, and SynthesisVR sessions kept until handled by a store on another tab that fails while its database is down. */
const FLOW: FlowNode[] = [
    { id: MAIN, type: "tab", label: "First hour" },
    { id: STORAGE, type: "tab", label: "Storage" },
    { id: "measurements", type: "wms-webhook", z: MAIN, name: "measurements", path: "/measurements", x: 140, y: 80, wires: [["measurements-debug"], []], credentials: { secret: "first-hour-wms-secret" } },
    { id: "measurements-debug", type: "debug", z: MAIN, name: "every measurement", active: true, complete: "payload", x: 400, y: 80, wires: [] },
    { id: "sessions", type: "synthesis-webhook", z: MAIN, name: "sessions", path: "/sessions", keep: true, x: 140, y: 160, wires: [["to-storage"], []], credentials: { secret: TOKEN } },
    { id: "to-storage", type: "link out", z: MAIN, name: "", mode: "link", links: ["from-sessions"], x: 320, y: 160, wires: [] },
    { id: "from-sessions", type: "link in", z: STORAGE, name: "", links: ["to-storage"], x: 100, y: 80, wires: [["store-session"]] },
    {
        id: "store-session",
        type: "function",
        z: STORAGE,
        name: "store session",
        func: 'if (msg.payload.action === "delete" && !global.get("databaseUp")) throw new Error("database down");\nreturn msg;',
        outputs: 1,
        x: 300,
        y: 80,
        wires: [[]],
    },
    { id: "database-up", type: "inject", z: STORAGE, name: "database back up", props: [{ p: "payload" }], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", payload: "true", payloadType: "bool", x: 130, y: 160, wires: [["set-database"]] },
    { id: "set-database", type: "change", z: STORAGE, name: "", rules: [{ t: "set", p: "databaseUp", pt: "global", to: "payload", tot: "msg" }], x: 340, y: 160, wires: [[]] },
];

describe("a newcomer's first hour in the editor", function () {
    this.timeout(240000);
    let nodeRed: NodeRedProcess;
    let browser: Browser;
    let page: Page;
    const pageErrors: string[] = [];

    async function openEditor(width: number, height: number, locale = "en-US"): Promise<{ page: Page; scripts: string[] }> {
        const opened = await (await browser.newContext({ viewport: { width, height }, locale })).newPage();
        const scripts: string[] = [];
        opened.on("request", (request) => {
            if (/webhook-(editor|log)\.js/.test(request.url())) scripts.push(request.url());
        });
        opened.on("pageerror", (error) => pageErrors.push(error.message));
        await opened.goto(nodeRed.adminUrl("/"));
        await opened.waitForSelector('.red-ui-palette-node[data-palette-type="wms-webhook"]', { timeout: 30000 });
        await opened.waitForTimeout(500);
        return { page: opened, scripts };
    }

    before(async () => {
        nodeRed = await new NodeRedProcess({ settings: SETTINGS }).start();
        await nodeRed.deploy(FLOW);
        browser = await launchBrowser();
        ({ page } = await openEditor(1400, 900));
    });
    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
    });
    afterEach(async function () {
        const test = this.currentTest;
        if (test?.state === "failed" && page) {
            await screenshot(page, `failed-first-hour-${test.title.replace(/\W+/g, "-").slice(0, 80)}`);
            // Close whatever dialog was left open, for the next test.
            if (await page.locator("#node-dialog-cancel").isVisible()) await page.click("#node-dialog-cancel");
        }
    });

    const rows = () => page.locator(".verified-webhooks-log-row");

    async function showTab(on: Page = page) {
        await on.click("#red-ui-tab-verified-webhooks-link-button");
        await on.waitForSelector(".verified-webhooks-log", { state: "visible" });
    }

    async function search(text: string) {
        const box = page.locator(".verified-webhooks-log-search");
        if (!(await box.isVisible())) await showTab();
        await box.fill("");
        await box.pressSequentially(text, { delay: 20 });
    }

    async function openDialog(id: string) {
        await page.evaluate((nodeId) => RED.workspaces.show(RED.nodes.node(nodeId)!.z), id);
        await page.locator(`[id="${id}"] .red-ui-flow-node`).first().dblclick();
        await page.waitForSelector("#node-input-path", { state: "visible" });
        await page.waitForTimeout(400); // the runtime's check of path and secret
    }

    async function closeDialog(ok = false) {
        await page.click(ok ? "#node-dialog-ok" : "#node-dialog-cancel");
        await page.waitForSelector("#node-input-path", { state: "detached" });
    }

    for (const [width, height] of [
        [1400, 900],
        [1920, 1080],
    ] as const) {
        it(`at ${width}×${height}: the tab's icon sits beside debug, its toolbar and footer fit, and the shared scripts load once`, async () => {
            const { page: sized, scripts } = await openEditor(width, height);
            try {
                assert.deepEqual(scripts.map((url) => url.replace(/.*\//, "")).sort(), ["webhook-editor.js", "webhook-log.js"], "each shared script is fetched once, not once per receiver type");
                const icon = sized.locator("#red-ui-tab-verified-webhooks-link-button");
                assert.ok(await icon.isVisible(), "the icon is in the sidebar's row, not only in its menu");
                const order = await sized.evaluate(() => [...document.querySelectorAll<HTMLElement>(".red-ui-tab-link-buttons a")].filter((link) => link.offsetWidth > 0).map((link) => link.id));
                assert.equal(order.indexOf("red-ui-tab-verified-webhooks-link-button"), order.indexOf("red-ui-tab-debug-link-button") + 1, order.join(", "));
                await showTab(sized);
                for (const selector of [".verified-webhooks-log-replay-failed", ".verified-webhooks-log-range"]) {
                    const box = (await sized.locator(selector).boundingBox())!;
                    assert.ok(box.y >= 0 && box.y + box.height <= height, `${selector} is inside the window: ${JSON.stringify(box)} in ${height}`);
                    const footer = (await sized.locator("#red-ui-sidebar-footer").boundingBox())!;
                    assert.ok(box.y >= footer.y - 1 && box.y + box.height <= footer.y + footer.height + 1, `${selector} fits the footer: ${JSON.stringify(box)} in ${JSON.stringify(footer)}`);
                }
                // The toolbar's controls show their whole text.
                const clipped = await sized.evaluate(() => {
                    const canvas = document.createElement("canvas").getContext("2d")!;
                    return [...document.querySelectorAll<HTMLSelectElement>(".verified-webhooks-log-toolbar select")].filter((select) => {
                        canvas.font = getComputedStyle(select).font;
                        const text = select.options[select.selectedIndex]?.text ?? "";
                        return canvas.measureText(text).width + 24 > select.clientWidth;
                    }).map((select) => select.className);
                });
                assert.deepEqual(clipped, []);
                assert.ok(((await sized.locator(".verified-webhooks-log-search").boundingBox())?.width ?? 0) >= 150, "the search box has room");
                await screenshot(sized, `11-webhooks-tab-${width}x${height}`);
            } finally {
                await sized.close();
            }
        });
    }

    it("sends a new event with each test, says so, and says a repeat on purpose is a duplicate, linked in the tab", async () => {
        await openDialog("measurements");
        await page.selectOption("#node-input-test-event", "MEASUREMENT_CREATED");
        for (let time = 0; time < 2; time++) {
            await page.click("#node-input-send-test");
            await page.locator(".red-ui-notification:has-text('a new event')").nth(time).waitFor();
        }
        await page.click("#node-input-repeat-test");
        const duplicate = page.locator(".red-ui-notification:has-text('is a duplicate: the node had it already, and nothing reached the flow')");
        await duplicate.waitFor();
        await screenshot(page, "12-test-event-duplicate");
        await closeDialog();
        await duplicate.locator("a.verified-webhooks-show-delivery").click();
        const selected = page.locator(".verified-webhooks-log-row.selected");
        await selected.waitFor();
        assert.equal(await selected.getAttribute("data-outcome"), "duplicate");
        // The row links to the delivery it repeats, which is the second test, and shows its key.
        const repeats = selected.locator(".verified-webhooks-log-mark-duplicate[data-link]");
        const original = await repeats.getAttribute("data-link");
        assert.ok(original);
        await repeats.click();
        await page.waitForSelector(`.verified-webhooks-log-row.selected[data-delivery="${original}"]`);
        assert.match(await page.locator(".verified-webhooks-log-row.selected .verified-webhooks-log-events").innerText(), /^MEASUREMENT_CREATED · [0-9a-f]{25} #\d+$/);
        assert.match(await page.locator(".verified-webhooks-log-row.selected .verified-webhooks-log-node").innerText(), /^measurements$/);
        // The node's status counts it apart.
        await page.evaluate(() => RED.workspaces.show("tab-first-hour"));
        await page.waitForSelector('[id="measurements"] .red-ui-flow-node-status-label:has-text("1 duplicate")');
    });

    it("filters as one types: a prefix, in any case; says when nothing matches; closes the details of a delivery no longer listed", async () => {
        for (const event of ["CONSTRAINT_VIOLATION", "INTERMEDIATE_RESULTS"]) {
            const sent = await page.evaluate(async (name) => (await fetch("verified-webhooks/measurements/test", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ event: name }) })).json(), event);
            assert.equal(sent.outcome, "accepted");
        }
        await showTab();
        await search("measurement_");
        await page.waitForFunction(() => {
            const shown = [...document.querySelectorAll(".verified-webhooks-log-row .verified-webhooks-log-events")].map((element) => element.textContent ?? "");
            return shown.length >= 2 && shown.every((text) => text.startsWith("MEASUREMENT_CREATED"));
        });
        await rows().first().click();
        await page.waitForSelector(".verified-webhooks-log-details", { state: "visible" });
        await search("constraint");
        await page.waitForFunction(() => {
            const shown = [...document.querySelectorAll(".verified-webhooks-log-row .verified-webhooks-log-events")].map((element) => element.textContent ?? "");
            return shown.length === 1 && shown[0]!.startsWith("CONSTRAINT_VIOLATION");
        });
        assert.equal(await page.locator(".verified-webhooks-log-details").isVisible(), false, "the delivery shown is no longer listed");
        await search("MEASUREMENT_*");
        await page.waitForFunction(() => document.querySelectorAll(".verified-webhooks-log-row").length >= 2);
        await search("no-such-event");
        await page.waitForSelector(".verified-webhooks-log-empty:has-text('No delivery matches')");
        await screenshot(page, "13-webhooks-tab-no-match");
        await search("");
        await page.waitForFunction(() => document.querySelectorAll(".verified-webhooks-log-row").length >= 5);
    });

    it("pages through more deliveries than fit, with the total, and loads the rest", async () => {
        for (let index = 0; index < 110; index++) {
            const batch = synthesisBatch(1, "create").map((event) => ({ ...event, uuid: `page-${index}` }));
            assert.equal((await nodeRed.post(`/sessions/${TOKEN}`, JSON.stringify(batch))).status, 200);
        }
        await page.click(".verified-webhooks-log-refresh");
        const count = page.locator(".verified-webhooks-log-count");
        await page.waitForFunction(() => /^100 of 1\d\d deliveries$/.test(document.querySelector(".verified-webhooks-log-count")?.textContent ?? ""));
        const total = Number(/of (\d+)/.exec(await count.innerText())![1]);
        assert.ok(total >= 114, `${total}`);
        await page.locator(".verified-webhooks-log-more").scrollIntoViewIfNeeded();
        await screenshot(page, "14-webhooks-tab-load-more");
        await page.click(".verified-webhooks-log-more");
        await page.waitForFunction((expected) => document.querySelectorAll(".verified-webhooks-log-row").length === expected, total);
        assert.equal(await count.innerText(), `${total} of ${total} deliveries`);
        assert.equal(await page.locator(".verified-webhooks-log-more").count(), 0);
        const ids = await rows().evaluateAll((elements) => elements.map((element) => element.getAttribute("data-delivery")));
        assert.equal(new Set(ids).size, ids.length, "no delivery listed twice");
    });

    it("names and reveals the node that failed, marks a redelivery and a replayed failure in the row, and starts the details with the payload", async () => {
        const failing = synthesisBatch(1, "delete").map((event) => ({ ...event, uuid: "session-to-store" }));
        assert.equal((await nodeRed.post(`/sessions/${TOKEN}`, JSON.stringify(failing))).status, 200);
        await search("delete");
        const failedRow = page.locator('.verified-webhooks-log-row[data-flow="failed"]').first();
        await failedRow.waitFor();
        assert.match(await failedRow.locator(".verified-webhooks-log-failure").innerText(), /^failed in store session: Error: database down|^failed in store session: database down/);
        assert.match(await failedRow.locator(".verified-webhooks-log-events").innerText(), /^delete · session-to-store$/);
        await failedRow.locator(".verified-webhooks-log-failure a.verified-webhooks-log-node").click();
        await page.waitForFunction(() => RED.workspaces.active() === "tab-storage");

        // A full deploy: the node starts again and emits the kept event it had not handled.
        await page.evaluate(() => RED.workspaces.show("tab-first-hour"));
        const flows = await nodeRed.flows();
        await nodeRed.deploy(flows.flows);
        await page.waitForSelector('.verified-webhooks-log-row[data-flow="failed"] .verified-webhooks-log-mark-redelivered:has-text("redelivered · attempt 2")', { timeout: 15000 });

        // The database is back: Replay failed, after a confirmation naming the count.
        await page.evaluate(() => RED.workspaces.show("tab-storage"));
        await page.locator('[id="database-up"] .red-ui-flow-node-button').click();
        await page.waitForTimeout(300);
        await page.selectOption(".verified-webhooks-log-range", "15");
        await page.click(".verified-webhooks-log-replay-failed");
        const confirm = page.locator(".red-ui-notification:has-text('Replay 1 failed event(s) of 1 delivery(ies)')");
        await confirm.waitFor();
        await confirm.locator("button:has-text('Cancel')").click();
        await page.waitForTimeout(500);
        assert.equal(await page.locator('.verified-webhooks-log-row[data-replay="true"]').count(), 0, "Cancel replays nothing");
        await page.click(".verified-webhooks-log-replay-failed");
        await confirm.waitFor();
        await confirm.locator("button:has-text('Replay failed')").click();
        await page.waitForSelector('.verified-webhooks-log-row:not([data-replay="true"]) .verified-webhooks-log-mark-replayed:has-text("handled by a replay")', { timeout: 10000 });
        await page.waitForSelector('.verified-webhooks-log-row[data-replay="true"] .verified-webhooks-log-mark-replay');
        await screenshot(page, "15-webhooks-tab-marks");

        // The details: the event's payload first, then what became of it, then the record.
        await page.locator('.verified-webhooks-log-row:not([data-replay="true"]):has(.verified-webhooks-log-mark-replayed)').first().click();
        await page.waitForSelector(".verified-webhooks-log-details-event");
        const order = await page.evaluate(() => {
            const body = document.querySelector(".verified-webhooks-log-details-body")!;
            const event = body.querySelector(".verified-webhooks-log-details-event")!;
            const payload = event.querySelector(".red-ui-debug-msg-element, .red-ui-debug-msg-object-entry, .red-ui-debug-msg-object-header")!;
            const fate = event.querySelector(".verified-webhooks-log-fate")!;
            const record = body.querySelector(".verified-webhooks-log-details-record-title")!;
            return {
                payloadBeforeFate: Boolean(payload.compareDocumentPosition(fate) & Node.DOCUMENT_POSITION_FOLLOWING),
                fateBeforeRecord: Boolean(fate.compareDocumentPosition(record) & Node.DOCUMENT_POSITION_FOLLOWING),
                payloadText: event.textContent ?? "",
                fateText: fate.textContent ?? "",
            };
        });
        assert.ok(order.payloadBeforeFate && order.fateBeforeRecord, JSON.stringify(order));
        assert.match(order.payloadText, /session-to-store/);
        assert.match(order.fateText, /handled by replay [0-9a-f]{8}/);
        await screenshot(page, "16-webhooks-tab-details");
    });

    it("shows the date beside the time once a delivery is not from today", async () => {
        const later = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: "en-US" })).newPage();
        try {
            // Tomorrow, as far as this page is concerned.
            await later.clock.install({ time: new Date(Date.now() + 36 * 3600 * 1000) });
            await later.goto(nodeRed.adminUrl("/"));
            await later.waitForSelector('.red-ui-palette-node[data-palette-type="wms-webhook"]', { timeout: 30000 });
            await showTab(later);
            const stamp = await later.locator(".verified-webhooks-log-row .red-ui-debug-msg-date").first().innerText();
            const today = new Date().toLocaleDateString("en-US");
            assert.ok(stamp.startsWith(today), `${stamp} shows the date ${today}`);
        } finally {
            await later.close();
        }
    });

    it("says in the dialog and at deploy why a node cannot listen: a WMS node without its secret, a Standard secret of the wrong form, a path the editor owns", async () => {
        await page.evaluate(() => {
            RED.workspaces.show("tab-first-hour");
            RED.nodes.import([
                { id: "no-secret-wms", type: "wms-webhook", z: "tab-first-hour", name: "unsigned WMS", path: "/unsigned-wms", x: 140, y: 260, wires: [[], []] },
                { id: "wrong-standard", type: "standard-webhook", z: "tab-first-hour", name: "billing", path: "/billing", x: 140, y: 320, wires: [[], []] },
            ]);
            RED.nodes.dirty(true);
            RED.view.redraw(true);
        });
        // The red triangle, with the reason, before any deploy.
        await page.waitForFunction(() => RED.nodes.node("no-secret-wms")?.valid === false);
        const errors = await page.evaluate(() => RED.nodes.node("no-secret-wms")!.validationErrors);
        assert.deepEqual(errors, ["this provider signs its webhooks: the node needs its secret"], JSON.stringify(errors));
        await page.waitForSelector('[id="no-secret-wms"] .red-ui-flow-node-error:not(.hide)');

        await openDialog("no-secret-wms");
        assert.equal((await page.locator(".verified-webhooks-problem-secret").innerText()).trim(), "this provider signs its webhooks: the node needs its secret");
        await page.fill("#node-input-secret", "a MAC secret");
        await page.waitForSelector(".verified-webhooks-problem-secret", { state: "hidden" });
        // A path an editor route owns.
        await page.fill("#node-input-path", "/flows");
        await page.waitForSelector(".verified-webhooks-problem-path:has-text('belongs to the editor or admin API (/flows)')");
        assert.ok(await page.locator("#node-input-path.input-error").count(), "the field is marked too");
        await screenshot(page, "17-dialog-path-owned");
        await page.fill("#node-input-path", "/unsigned-wms");
        await page.waitForSelector(".verified-webhooks-problem-path", { state: "hidden" });
        await closeDialog(true);
        await page.waitForFunction(() => RED.nodes.node("no-secret-wms")?.valid === true);

        await openDialog("wrong-standard");
        await page.fill("#node-input-secret", "not-a-signing-key!");
        await page.waitForSelector(".verified-webhooks-problem-secret:has-text('secret 1 is not whsec_<base64> or whpk_<base64>')");
        await screenshot(page, "18-dialog-secret-form");
        await closeDialog(true);
        await page.waitForFunction(() => RED.nodes.node("wrong-standard")?.valid === false);

        // Deploy warns of it, as of any misconfigured node.
        await page.click("#red-ui-header-button-deploy");
        const warning = page.locator(".red-ui-notification:has-text('not properly configured')");
        await warning.waitFor();
        assert.match(await warning.innerText(), /billing/);
        await warning.locator("button").first().click(); // cancel
        await page.evaluate(() => {
            RED.nodes.remove("no-secret-wms");
            RED.nodes.remove("wrong-standard");
        });
    });

    it("shows the defaults of options a flow leaves out, Max. attempts only when keeping, and few tips", async () => {
        await page.evaluate(() => {
            RED.nodes.import([{ id: "from-0-1", type: "wms-webhook", z: "tab-first-hour", name: "from 0.1.0", path: "/old-wms", x: 140, y: 380, wires: [[], []] }]);
            RED.view.redraw(true);
        });
        await openDialog("from-0-1");
        assert.equal(await page.inputValue("#node-input-logDeliveries"), "1000");
        assert.equal(await page.inputValue("#node-input-logHours"), "24");
        assert.equal(await page.locator("#node-input-keep").isChecked(), false);
        assert.equal(await page.locator("#node-input-maxAttempts").isVisible(), false, "Max. attempts only when keeping");
        await page.check("#node-input-keep");
        assert.equal(await page.locator("#node-input-maxAttempts").isVisible(), true);
        assert.equal(await page.inputValue("#node-input-maxAttempts"), "5");
        const tips = await page.locator(".form-tips:not(.verified-webhooks-problem):visible").count();
        assert.ok(tips <= 4, `${tips} tips`);
        await screenshot(page, "19-dialog-defaults");
        await closeDialog();
        await page.evaluate(() => RED.nodes.remove("from-0-1"));

        // A SynthesisVR node keeps by default.
        await openDialog("sessions");
        assert.equal(await page.locator("#node-input-keep").isChecked(), true);
        assert.equal(await page.locator("#node-input-maxAttempts").isVisible(), true);
        await closeDialog();

        // A flow saved by 0.2 says persist: the dialog shows what it says, and saves it as keep.
        await page.evaluate(() => {
            RED.nodes.import([{ id: "from-0-2", type: "synthesis-webhook", z: "tab-first-hour", name: "from 0.2.0", path: "/old-sessions", persist: false, x: 140, y: 440, wires: [[], []] }]);
            RED.view.redraw(true);
        });
        await openDialog("from-0-2");
        assert.equal(await page.locator("#node-input-keep").isChecked(), false, "persist: false, not SynthesisVR's default");
        await closeDialog(true);
        const saved = await page.evaluate(() => {
            const node = RED.nodes.node("from-0-2") as unknown as { keep?: unknown; persist?: unknown };
            return { keep: node.keep, persist: node.persist };
        });
        assert.deepEqual(saved, { keep: false, persist: "" });
        await page.evaluate(() => RED.nodes.remove("from-0-2"));
    });

    it("shows the URL to paste with its token, masked until revealed, and copies it whole", async () => {
        await page.evaluate(() => {
            const copied: string[] = [];
            (window as unknown as { copied: string[] }).copied = copied;
            RED.clipboard.copyText = (value: string) => {
                copied.push(value);
                return true;
            };
        });
        await openDialog("sessions");
        const url = page.locator("#node-input-webhook-url");
        await page.waitForFunction(() => (document.querySelector<HTMLInputElement>("#node-input-webhook-url")?.value ?? "").endsWith("/sessions/••••••••"));
        await screenshot(page, "20-dialog-url-masked");
        await page.click("#node-input-copy-url");
        await page.waitForFunction(() => (window as unknown as { copied: string[] }).copied.length === 1);
        const copied = await page.evaluate(() => (window as unknown as { copied: string[] }).copied[0]!);
        assert.equal(copied, nodeRed.nodeUrl(`/sessions/${TOKEN}`));
        assert.equal((await nodeRed.post(new URL(copied).pathname, JSON.stringify(synthesisBatch(1, "create").map((event) => ({ ...event, uuid: "pasted-url" }))))).status, 200, "the copied URL is the one to paste");
        await page.click("#node-input-reveal-url");
        await page.waitForFunction((expected) => document.querySelector<HTMLInputElement>("#node-input-webhook-url")?.value === expected, nodeRed.nodeUrl(`/sessions/${TOKEN}`));
        // A token typed now shows as typed.
        await page.fill("#node-input-secret", "new-token");
        await page.waitForFunction(() => (document.querySelector<HTMLInputElement>("#node-input-webhook-url")?.value ?? "").endsWith("/sessions/new-token"));
        assert.ok((await url.inputValue()).endsWith("/sessions/new-token"));
        await closeDialog();
    });

    it("finds the nodes by the names people search for: nuralogix, svix, openai", async () => {
        const filter = page.locator('input[placeholder="filter nodes"]');
        for (const [term, type] of [
            ["nuralogix", "wms-webhook"],
            ["svix", "standard-webhook"],
            ["openai", "standard-webhook"],
        ] as const) {
            await filter.fill("");
            await filter.pressSequentially(term, { delay: 10 });
            await page.waitForTimeout(400);
            assert.ok(await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).isVisible(), `${term} finds ${type}`);
        }
        await screenshot(page, "21-palette-search-openai");
        await filter.fill("");
    });

    it("documents msg.webhook.test, the --secret-env form, redelivery after a deploy and SynthesisVR's default, in lines that fit the sidebar", async () => {
        await page.click("#red-ui-tab-help-link-button");
        const tree = page.locator(".red-ui-treeList-label");
        await tree.filter({ hasText: /^node-red-contrib-verified-webhooks$/ }).first().click();
        await tree.filter({ hasText: /^SynthesisVR$/, visible: true }).first().click();
        await page.waitForFunction(() => document.body.innerText.includes("is on by default for this node"));
        const help = await page.evaluate(() => {
            const container = [...document.querySelectorAll<HTMLElement>(".red-ui-help")].find((element) => element.offsetParent)!;
            const scroller = container.closest<HTMLElement>(".red-ui-sidebar-help-stack, .red-ui-panels, .red-ui-help-info") ?? container;
            const right = container.getBoundingClientRect().right + 1;
            const tooWide = [...container.querySelectorAll<HTMLElement>("*")].filter((element) => element.getBoundingClientRect().right > right).map((element) => `${element.tagName}: ${(element.textContent ?? "").slice(0, 60)}`);
            return { text: container.innerText, wide: scroller.scrollWidth > scroller.clientWidth + 1, tooWide };
        });
        assert.match(help.text, /test: true on a test event/);
        assert.match(help.text, /--secret-env VW_SECRET/);
        assert.doesNotMatch(help.text, /--secret …/);
        assert.match(help.text, /after a restart, a crash, a hard stop or a deploy/);
        assert.match(help.text, /Keep deliveries until handled is on by default for this node/);
        assert.deepEqual(help.tooWide, [], "no line wider than the sidebar");
        assert.equal(help.wide, false, "the help does not scroll sideways");
        await screenshot(page, "22-help-synthesis");
    });

    for (const [locale, label] of [
        ["de-DE", "Gemeinsamer Zustand"],
        ["ja-JP", "共有状態"],
    ] as const) {
        it(`names the shared-state configuration node in ${locale}`, async () => {
            const { page: localized } = await openEditor(1400, 900, locale);
            try {
                const shown = await localized.evaluate(() => {
                    const definition = RED.nodes.getType("webhook-state");
                    const paletteLabel = definition.paletteLabel;
                    return typeof paletteLabel === "function" ? paletteLabel.call(definition) : paletteLabel;
                });
                assert.equal(shown, label);
            } finally {
                await localized.close();
            }
        });
    }

    it("raised no error in the page", () => {
        assert.deepEqual(pageErrors, []);
    });
});

describe("the Webhooks tab comes and goes with the receivers in the palette", function () {
    this.timeout(120000);
    let nodeRed: NodeRedProcess;
    let browser: Browser;

    before(async () => {
        nodeRed = await new NodeRedProcess({ settings: SETTINGS }).start();
        browser = await launchBrowser();
    });
    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
    });

    it("is added once, removed when the module's nodes are disabled, and added again when they are enabled", async () => {
        const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: "en-US" })).newPage();
        const pageErrors: string[] = [];
        page.on("pageerror", (error) => pageErrors.push(error.message));
        await page.goto(nodeRed.adminUrl("/"));
        await page.waitForSelector('.red-ui-palette-node[data-palette-type="wms-webhook"]', { timeout: 30000 });
        const tabs = () => page.evaluate(() => ({ tabs: document.querySelectorAll("#red-ui-tab-verified-webhooks").length, footers: document.querySelectorAll(".verified-webhooks-log-footer").length }));
        assert.deepEqual(await tabs(), { tabs: 1, footers: 1 }, "one tab, though five receiver types were added");
        const setEnabled = async (enabled: boolean) => {
            const answer = await fetch(nodeRed.adminUrl("/nodes/node-red-contrib-verified-webhooks"), { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ enabled }) });
            assert.equal(answer.status, 200, await answer.text());
        };
        await setEnabled(false);
        await page.waitForFunction(() => document.querySelectorAll("#red-ui-tab-verified-webhooks").length === 0);
        assert.deepEqual(await tabs(), { tabs: 0, footers: 0 }, "the tab and its footer are gone");
        await setEnabled(true);
        await page.waitForFunction(() => document.querySelectorAll("#red-ui-tab-verified-webhooks").length === 1);
        assert.deepEqual(await tabs(), { tabs: 1, footers: 1 });
        await page.click("#red-ui-tab-verified-webhooks-link-button");
        await page.waitForSelector(".verified-webhooks-log-empty:has-text('No deliveries yet')");
        assert.deepEqual(pageErrors, []);
    });
});
