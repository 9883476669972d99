#!/usr/bin/env node
"use strict";
// Node-RED embedded in an application of its own, as Node-RED's documentation shows: the
// application creates the Express app and the server, and mounts RED.httpAdmin and
// RED.httpNode itself. The user directory's settings.js exports Node-RED's settings plus
// `embed(app, RED)`, which does the mounting. Arguments as red.js: --userDir DIR --port N.
const http = require("node:http");
const path = require("node:path");
const express = require(require.resolve("express", { paths: [path.dirname(require.resolve("node-red/package.json"))] }));
const RED = require("node-red");

const argument = (name) => process.argv[process.argv.indexOf(name) + 1];
const userDir = argument("--userDir");
const port = Number(argument("--port"));
const settings = require(path.join(userDir, "settings.js"));
settings.userDir = userDir;

const app = express();
const server = http.createServer(app);
RED.init(server, settings);
settings.embed(app, RED);
server.listen(port, "127.0.0.1", () => RED.start());
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => RED.stop().then(() => process.exit(0)));
