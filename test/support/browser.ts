"use strict";
// Debian's Chromium driven by playwright-core, headless, with no network beyond loopback.
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SCREENSHOTS = path.join(__dirname, "..", "..", "test-results", "screenshots");

function launchBrowser() {
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

async function screenshot(page, name) {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

module.exports = { launchBrowser, screenshot, CHROMIUM, SCREENSHOTS };
