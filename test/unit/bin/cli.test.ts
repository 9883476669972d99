// The command-line signer (verified-webhooks), run as a user runs it, against a plain HTTP
// server in this process: what it sends, byte for byte, and its exit status.
import assert = require("node:assert/strict");
import http = require("node:http");
import net = require("node:net");
import { wmsSignature } from "../../../nodes/providers/wms.js";
import { runCli } from "../../support/cli.js";

describe("the command-line signer", function () {
    let server: http.Server;
    let received: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string };
    let answer: number;

    before(async () => {
        server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (chunk: Buffer) => chunks.push(chunk));
            req.on("end", () => {
                received = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
                res.writeHead(answer, { "content-type": "application/json" });
                res.end('{"ok":true}');
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => {
        answer = 200;
        received = { headers: {}, body: "" };
    });
    const url = (suffix: string) => `http://127.0.0.1:${(server.address() as net.AddressInfo).port}${suffix}`;

    it("signs a WMS sample over its exact bytes", async () => {
        const result = await runCli(["send", "wms", url("/wms"), "--secret", "mac", "--event", "CONSTRAINT_VIOLATION"]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.trim(), '200 {"ok":true}');
        assert.equal(received.url, "/wms");
        assert.equal(received.headers["x-wms-content-mac"], wmsSignature(received.body, "mac"));
        assert.equal(JSON.parse(received.body).event, "CONSTRAINT_VIOLATION");
    });

    it("sends MeshAgent bodies in Python json.dumps format", async () => {
        assert.equal((await runCli(["send", "meshagent", url("/m"), "--secret", "k"])).code, 0);
        assert.match(received.body, /^\{"event": "room\.started", "data": \{"room_name": "caf\\u00e9-standup"/);
        assert.match(String(received.headers["meshagent-signature"]), /^Bearer eyJ/);
    });

    it("posts Mentra to <public URL>/webhook with the token before it, and SynthesisVR arrays", async () => {
        await runCli(["send", "mentra", url("/mentra"), "--secret", "tok"]);
        assert.equal(received.url, "/mentra/tok/webhook");
        assert.equal(JSON.parse(received.body).type, "session_request");
        await runCli(["send", "synthesis", url("/s"), "-e", "delete"]);
        assert.equal(received.url, "/s");
        assert.equal(JSON.parse(received.body)[0].action, "delete");
    });

    it("reads the secret from an environment variable or standard input, keeping it off the command line", async () => {
        const fromEnv = await runCli(["send", "wms", url("/wms"), "--secret-env", "VW_TEST_SECRET"], { env: { VW_TEST_SECRET: "env-mac" } });
        assert.equal(fromEnv.code, 0, fromEnv.stderr);
        assert.equal(received.headers["x-wms-content-mac"], wmsSignature(received.body, "env-mac"));
        const fromStdin = await runCli(["send", "wms", url("/wms"), "--secret", "-"], { input: "stdin-mac\n" });
        assert.equal(fromStdin.code, 0, fromStdin.stderr);
        assert.equal(received.headers["x-wms-content-mac"], wmsSignature(received.body, "stdin-mac"));
        assert.equal(received.headers["x-verified-webhooks-test"], "1", "samples are marked as test events");
        const unset = await runCli(["send", "wms", url("/wms"), "--secret-env", "VW_UNSET_VARIABLE"]);
        assert.equal(unset.code, 2);
        assert.match(unset.stderr, /VW_UNSET_VARIABLE is not set/);
    });

    it("exits 1 when the receiver refuses, 2 on a usage error", async () => {
        answer = 401;
        assert.equal((await runCli(["send", "wms", url("/wms"), "--secret", "x"])).code, 1);
        const usage = await runCli(["send", "stripe", url("/x")]);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /unknown provider stripe/);
        assert.equal((await runCli(["send", "wms", url("/x"), "--event", "NOPE"])).code, 2);
        assert.equal((await runCli(["send", "wms", url("/x"), "--event", "constructor"])).code, 2, "own sample names only");
        assert.equal((await runCli(["send", "wms", "not-a-url"])).code, 2);
        assert.match((await runCli(["events", "synthesis"])).stdout, /^synthesis: create, delete/);
    });

    it("answers --help on standard output with exit status 0, and a usage error with 2", async () => {
        const help = await runCli(["--help"]);
        assert.equal(help.code, 0);
        assert.match(help.stdout, /Exit status/);
        const wrong = await runCli(["frobnicate"]);
        assert.equal(wrong.code, 2);
        assert.match(wrong.stderr, /unknown command frobnicate/);
        assert.equal((await runCli([])).code, 2, "no command");
    });
});
