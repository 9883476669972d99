#!/usr/bin/env node
// `npm test` and `npm run test:<layer>`: builds the package and compiles the tests (type-
// checked against the package's own types, into dist/test/), makes sure the system programs
// the chosen layers use are there (installing Debian's packages when it can, naming them
// when it cannot), then runs those layers in one mocha run.
//
//   node scripts/test.js                 every layer
//   node scripts/test.js unit e2e        some layers
//   node scripts/test.js --check         only check (and install) what every layer needs
//
// This is the one list of what the tests need from the system; .ci/run only calls npm test.
"use strict";
const { execFileSync, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

/** Each layer's tests, and what it needs beyond Node.js and the npm packages. */
const LAYERS = {
    unit: { spec: "dist/test/unit/**/*.test.js", needs: [] },
    nodes: { spec: "dist/test/nodes/**/*.test.js", needs: [] },
    e2e: { spec: "dist/test/e2e/**/*.test.js", needs: ["python3", "curl", "redis-server"] },
    browser: { spec: "dist/test/browser/**/*.test.js", needs: ["chromium"] },
    package: { spec: "dist/test/package/**/*.test.js", needs: [] },
};

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Programs the tests run, where they are looked for, and the Debian package that provides each. */
const PROGRAMS = {
    python3: { found: () => onPath("python3"), debian: "python3", why: "produces MeshAgent's bodies with Python's own json.dumps" },
    curl: { found: () => onPath("curl"), debian: "curl", why: "runs the curl commands npm start prints" },
    "redis-server": { found: () => onPath("redis-server"), debian: "redis-server", why: "shared state between two Node-RED instances" },
    // CHROMIUM_PATH names another browser binary; only the default one can be installed here.
    chromium: { found: () => isExecutable(CHROMIUM), debian: process.env.CHROMIUM_PATH ? undefined : "chromium", why: `the editor in a real browser (${CHROMIUM})` },
};

function isExecutable(file) {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

function onPath(program) {
    return (process.env.PATH || "").split(path.delimiter).some((dir) => dir && isExecutable(path.join(dir, program)));
}

/** Installs the Debian packages itself when it can (root with apt-get); otherwise stops, naming what is missing. */
function ensurePrograms(names) {
    const missing = names.filter((name) => !PROGRAMS[name].found());
    if (missing.length === 0) return;
    const packages = missing.map((name) => PROGRAMS[name].debian).filter(Boolean);
    const canInstall = process.getuid?.() === 0 && onPath("apt-get") && packages.length === missing.length;
    const list = missing.map((name) => `${name} (${PROGRAMS[name].why})`).join(", ");
    if (canInstall) {
        console.log(`The tests need ${list}: installing the Debian packages ${packages.join(" ")} with apt-get.`);
        const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
        // apt-get's chatter is shown only when it fails.
        const run = (args) => {
            const result = spawnSync("apt-get", args, { stdio: ["ignore", "pipe", "pipe"], env, encoding: "utf8" });
            if (result.status !== 0) process.stderr.write(`${result.stdout}${result.stderr}`);
            return result.status === 0;
        };
        if (run(["update", "-qq"]) && run(["install", "-y", "-qq", "--no-install-recommends", ...packages])) {
            const still = missing.filter((name) => !PROGRAMS[name].found());
            if (still.length === 0) return;
            fail(`still missing after apt-get install: ${still.join(", ")}`);
        }
        fail(`apt-get could not install ${packages.join(" ")}`);
    }
    const how = packages.length ? `install with: sudo apt-get install ${packages.join(" ")}` : "set CHROMIUM_PATH to a Chromium that exists";
    fail(`missing for the tests: ${list}; ${how} (or run the layers that need none: npm run test:unit, test:nodes, test:package)`);
}

function fail(message) {
    console.error(`npm test: ${message}`);
    process.exit(1);
}

function main(args) {
    const checkOnly = args.includes("--check");
    const names = args.filter((arg) => !arg.startsWith("--"));
    for (const name of names) if (!LAYERS[name]) fail(`unknown test layer ${name}: one of ${Object.keys(LAYERS).join(", ")}`);
    const layers = names.length ? names : Object.keys(LAYERS);
    ensurePrograms([...new Set(layers.flatMap((name) => LAYERS[name].needs))]);
    if (checkOnly) return 0;

    execFileSync(process.execPath, [path.join(root, "scripts", "build.js")], { stdio: "inherit", cwd: root });
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-b", "test"], { stdio: "inherit", cwd: root });
    const mocha = require.resolve("mocha/bin/mocha.js");
    const result = spawnSync(process.execPath, [mocha, ...layers.map((name) => LAYERS[name].spec)], { stdio: "inherit", cwd: root });
    return result.status ?? 1;
}

process.exitCode = main(process.argv.slice(2));
