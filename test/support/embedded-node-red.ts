// Node-RED embedded in an application of its own, as Node-RED's documentation shows: the
// application creates the Express app and the server, and mounts RED.httpAdmin and
// RED.httpNode itself. The user directory's settings.js exports Node-RED's settings plus
// `embed(app, RED)`, which does the mounting. Arguments as red.js: --userDir DIR --port N.
import http = require("node:http");
import path = require("node:path");
import RED = require("node-red");
import type expressModule = require("express");

// Node-RED's own Express, as an embedding application shares it.
const express = require(require.resolve("express", { paths: [path.dirname(require.resolve("node-red/package.json"))] })) as typeof expressModule;

interface EmbeddingSettings {
    userDir?: string;
    embed(app: expressModule.Express, red: typeof RED): void;
}

const argument = (name: string): string => {
    const value = process.argv[process.argv.indexOf(name) + 1];
    if (value === undefined) throw new Error(`${name} is required`);
    return value;
};
const userDir = argument("--userDir");
const port = Number(argument("--port"));
const settings = require(path.join(userDir, "settings.js")) as EmbeddingSettings;
settings.userDir = userDir;

const app = express();
const server = http.createServer(app);
RED.init(server, settings as unknown as Parameters<typeof RED.init>[1]);
settings.embed(app, RED);
server.listen(port, "127.0.0.1", () => RED.start());
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => void RED.stop().then(() => process.exit(0)));
