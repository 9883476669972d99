"use strict";
// Slow and abusive clients against a real Node-RED, through raw sockets.
const assert = require("node:assert/strict");
const net = require("node:net");
const { startedForSuite } = require("../support/node-red-process");
const { synthesisBatch } = require("../support/fixtures");

/** Opens a connection, writes `head` (and optionally part of a body), and collects the answer. */
function rawRequest(port, head, initialBody = "") {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    const answered = new Promise((resolve) => {
        socket.on("data", (chunk) => (received += chunk));
        socket.on("close", () => resolve(received));
        socket.on("error", () => resolve(received));
    });
    socket.write(head + initialBody);
    return {
        socket,
        answered,
        /** Resolves once a complete status line has arrived. */
        async status() {
            while (!/^HTTP\/1\.1 (\d{3})/.test(received)) {
                if (socket.destroyed) break;
                await new Promise((resolve) => setTimeout(resolve, 10));
            }
            return Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1]);
        },
        get text() {
            return received;
        },
    };
}

const head = (path, length, extra = "") =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;

describe("end to end: slow and abusive clients", function () {
    this.timeout(60000);
    const suite = startedForSuite();
    let nodeRed;
    let collector;

    before(async () => {
        ({ nodeRed, collector } = suite);
        const tab = "tab-abuse";
        const [tapNodes, wires] = collector.tap("slow", tab);
        const [tapNodes2, wires2] = collector.tap("capped", tab, 400, 300);
        await nodeRed.deploy([
            { id: tab, type: "tab", label: "abuse" },
            { id: "slow", type: "synthesis-webhook", z: tab, path: "/slow", bodyTimeoutSeconds: 1, wires },
            { id: "capped", type: "synthesis-webhook", z: tab, path: "/capped", maxConcurrent: 2, bodyTimeoutSeconds: 20, wires: wires2 },
            ...tapNodes,
            ...tapNodes2,
        ]);
    });

    it("cuts off a body that trickles in (408), with one message on output 2", async () => {
        const body = JSON.stringify(synthesisBatch(1));
        const request = rawRequest(nodeRed.port, head("/slow", body.length), body.slice(0, 10));
        const trickle = setInterval(() => request.socket.destroyed || request.socket.write(" "), 300);
        try {
            assert.equal(await request.status(), 408);
            await request.answered; // the connection is closed after the answer
            assert.match(request.text, /body not received within 1 seconds/);
            assert.match(request.text, /Connection: close/i);
        } finally {
            clearInterval(trickle);
        }
        const [msg] = await collector.waitFor("slow:2", 1);
        assert.equal(msg.payload.status, 408);
        assert.equal((await collector.settle("slow:1")).length, 0);
    });

    it("refuses a declared Content-Length over the limit before reading the body (413)", async () => {
        const request = rawRequest(nodeRed.port, head("/slow", 50 * 1024 * 1024));
        assert.equal(await request.status(), 413, "answered with no body byte sent");
        await request.answered;
        assert.match(request.text, /exceeds the limit/);
    });

    it("answers 429 with Retry-After past the cap on concurrent deliveries, and serves those it took", async () => {
        const body = JSON.stringify(synthesisBatch(2));
        const held = [rawRequest(nodeRed.port, head("/capped", body.length), body.slice(0, 5)), rawRequest(nodeRed.port, head("/capped", body.length), body.slice(0, 5))];
        await new Promise((resolve) => setTimeout(resolve, 200));
        const third = rawRequest(nodeRed.port, head("/capped", body.length, "Connection: close\r\n"), body);
        assert.equal(await third.status(), 429);
        assert.match(third.text, /Retry-After: 1/i);
        for (const request of held) request.socket.write(body.slice(5));
        assert.deepEqual(await Promise.all(held.map((request) => request.status())), [200, 200]);
        held.forEach((request) => request.socket.end());
        const again = rawRequest(nodeRed.port, head("/capped", body.length, "Connection: close\r\n"), body);
        assert.equal(await again.status(), 200, "the cap frees up once deliveries finish");
        const rejected = await collector.waitFor("capped:2", 1);
        assert.equal(rejected[0].payload.status, 429);
    });
});
