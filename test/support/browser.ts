// Debian's Chromium driven by playwright-core, headless, with no network beyond loopback.
import fs = require("node:fs");
import path = require("node:path");
import { chromium, type Browser, type Page } from "playwright-core";
import { PACKAGE_ROOT } from "./paths.js";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SCREENSHOTS = path.join(PACKAGE_ROOT, "test-results", "screenshots");

function launchBrowser(): Promise<Browser> {
    return chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    });
}

async function screenshot(page: Page, name: string): Promise<void> {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

export { launchBrowser, screenshot, CHROMIUM, SCREENSHOTS };
