// A bug in the pipeline is answered 500 and reported by where it happened, never by what the request held.
import assert = require("node:assert/strict");
import { Readable } from "node:stream";
import { Receiver, DEFAULT_SETTINGS } from "../../../nodes/receive/pipeline.js";
import { synthesis } from "../../../nodes/providers/synthesis.js";
import { FakeResponse, routed } from "../../support/exchange.js";
import type { FakeRequest } from "../../support/exchange.js";
import { recordingOutlet } from "../../support/outlet.js";

describe("internal errors", () => {
    it("are reported by where they happened, never by their message", async () => {
        const broken = { ...synthesis, eventName: () => { throw new TypeError("secret body content"); } };
        const reported: string[] = [];
        const receiver = new Receiver(broken, {}, [], DEFAULT_SETTINGS, recordingOutlet(), { scope: "x", onInternalError: (where) => reported.push(where) });
        const body = JSON.stringify([{ uuid: "u", action: "create" }]);
        // A plain readable stream as the request: what the pipeline reads of a request is all it has.
        const req = Object.assign(Readable.from([Buffer.from(body)]), { method: "POST", headers: { "content-length": String(body.length) }, socket: {} });
        const res = new FakeResponse();
        await receiver.handle(routed(req as unknown as FakeRequest, res, { path: ["x"], extraPath: [], query: "" }));
        assert.equal(res.status, 500);
        assert.equal(reported.length, 1);
        assert.match(reported[0], /^TypeError at internal-errors\.test\.js:\d+$/);
        assert.ok(!reported[0].includes("secret") && !String(res.text).includes("secret"));
    });
});
