"use strict";
// In-memory HTTP exchanges for the pipeline: a request that is a real readable stream (its
// body written at the test's pace) and a response that records what was answered.
const { PassThrough } = require("node:stream");

class FakeRequest extends PassThrough {
    constructor({ method = "POST", headers = {}, remoteAddress = "203.0.113.7" } = {}) {
        super();
        this.method = method;
        this.headers = { "content-type": "application/json", ...headers };
        this.socket = { remoteAddress };
    }
}

class FakeResponse {
    constructor() {
        this.headers = {};
        this.headersSent = false;
        this.status = 0;
        this.text = undefined;
        this.answered = new Promise((resolve) => (this.resolveAnswered = resolve));
    }

    setHeader(name, value) {
        this.headers[name.toLowerCase()] = value;
    }

    writeHead(status, headers = {}) {
        this.status = status;
        for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
        this.headersSent = true;
    }

    end(text = "") {
        this.text = String(text);
        this.resolveAnswered(this);
    }

    get json() {
        return JSON.parse(this.text);
    }
}

/**
 * A request for `receiver` with `body` (a string, Buffer, or undefined to leave the body
 * unfinished); resolves once the receiver is done with it.
 */
async function exchange(receiver, body, { method, headers, remoteAddress, path = ["hook"], extraPath = [], query = "" } = {}) {
    const req = new FakeRequest({ method, headers, remoteAddress });
    const res = new FakeResponse();
    if (body !== undefined) req.end(body);
    await receiver.handle({ req, res, path, extraPath, query });
    return res;
}

module.exports = { FakeRequest, FakeResponse, exchange };
