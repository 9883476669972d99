// Slow and abusive clients against a real Node-RED, through raw sockets.
import assert = require("node:assert/strict");
import net = require("node:net");
import { request, startedForSuite, NodeRedProcess, Collector } from "../support/node-red-process.js";
import { synthesisBatch, wmsBody } from "../support/fixtures.js";
import { wmsSignature } from "../../nodes/providers/wms.js";
import type { Receiver } from "../../nodes/receive/pipeline.js";

/** What the stats admin route answers: a receiver's counts, load and bytes arriving. */
type Stats = ReturnType<Receiver<unknown, unknown, unknown>["stats"]>;

/** Opens a connection, writes `head` (and optionally part of a body), and collects the answer. */
function rawRequest(port: number, head: string, initialBody = "") {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    const answered = new Promise<string>((resolve) => {
        socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
        socket.on("close", () => resolve(received));
        socket.on("error", () => resolve(received));
    });
    socket.write(head + initialBody);
    return {
        socket,
        answered,
        /** Resolves once a complete status line has arrived. */
        async status(): Promise<number> {
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

const head = (path: string, length: number, extra = "") =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;

describe("end to end: slow and abusive clients", function () {
    this.timeout(60000);
    const suite = startedForSuite();
    let nodeRed: NodeRedProcess;
    let collector: Collector;

    before(async () => {
        ({ nodeRed, collector } = suite);
        const tab = "tab-abuse";
        const [tapNodes, wires] = collector.tap("slow", tab);
        const [tapNodes2, wires2] = collector.tap("capped", tab, 400, 300);
        await nodeRed.deploy([
            { id: tab, type: "tab", label: "abuse" },
            { id: "slow", type: "synthesis-webhook", z: tab, path: "/slow", bodyTimeoutSeconds: 1, wires },
            { id: "capped", type: "synthesis-webhook", z: tab, path: "/capped", maxConcurrent: 2, bodyTimeoutSeconds: 20, wires: wires2 },
            { id: "mac", type: "wms-webhook", z: tab, path: "/mac", wires: [[], []], credentials: { secret: "abuse-secret" } },
            { id: "loop", type: "synthesis-webhook", z: tab, path: "/loop", wires: [["loop-sink"], ["loop-sink"]] },
            { id: "loop-sink", type: "junction", z: tab, wires: [] },
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

    it("never holds Node-RED's event loop for 100 ms with a delivery within the default limits", async function () {
        this.timeout(30000);
        const megabyte = 1024 * 1024;
        const bodies = {
            "zeros (over the batch limit)": `[${Array.from({ length: (megabyte - 2) / 2 }, () => "0").join(",")}]`,
            "1,000 invalid objects": JSON.stringify(Array.from({ length: 1000 }, (_, n) => ({ uuid: "", action: "x".repeat(900), n }))),
            "1,000 valid events": JSON.stringify(synthesisBatch(1000).map((event, n) => ({ ...event, uuid: `loop-${n}`, location: "x".repeat(900) }))),
            "deep nesting": `${"[".repeat(100000)}${"]".repeat(100000)}`,
        };
        // A probe that Node-RED answers on its event loop, every 5 ms: its slowest answer bounds how long the loop was held.
        let probing = true;
        const latencies: number[] = [];
        const probe = (async () => {
            while (probing) {
                const started = process.hrtime.bigint();
                await request(nodeRed.adminUrl("/verified-webhooks/samples"));
                latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
                await new Promise((resolve) => setTimeout(resolve, 5));
            }
        })();
        try {
            await new Promise((resolve) => setTimeout(resolve, 200));
            for (const [name, body] of Object.entries(bodies)) {
                assert.ok(Buffer.byteLength(body) <= megabyte, name);
                for (let round = 0; round < 3; round++) {
                    const response = await request(nodeRed.nodeUrl("/loop"), { method: "POST", headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }, body });
                    assert.ok([200, 400, 413].includes(response.status), `${name}: ${response.status}`);
                }
            }
            await new Promise((resolve) => setTimeout(resolve, 200));
        } finally {
            probing = false;
            await probe;
        }
        const worst = Math.max(...latencies);
        assert.ok(latencies.length > 20, `${latencies.length} probes`);
        assert.ok(worst < 100, `the event loop was held for up to ${worst.toFixed(1)} ms`);
    });

    it("does not count bodies still arriving against the cap on deliveries handled at once", async () => {
        const body = JSON.stringify(synthesisBatch(2));
        const held = [rawRequest(nodeRed.port, head("/capped", body.length), body.slice(0, 5)), rawRequest(nodeRed.port, head("/capped", body.length), body.slice(0, 5))];
        await new Promise((resolve) => setTimeout(resolve, 200));
        const third = rawRequest(nodeRed.port, head("/capped", body.length, "Connection: close\r\n"), body);
        assert.equal(await third.status(), 200, "the two idle bodies took no slot");
        for (const request of held) request.socket.write(body.slice(5));
        assert.deepEqual(await Promise.all(held.map((request) => request.status())), [200, 200]);
        held.forEach((request) => request.socket.end());
    });

    it("keeps answering genuine deliveries within 2 s while 300 connections trickle or idle unauthenticated bodies", async function () {
        this.timeout(30000);
        const stats = async () => (await request<Stats>(nodeRed.adminUrl("/verified-webhooks/nodes/mac/stats"))).json;
        const forged = wmsBody({ sessionId: "forged" });
        const forgedHead = (extra = "") => head("/mac", forged.length, `X-WMS-Content-MAC: hmac-sha256=${"0".repeat(64)}\r\n${extra}`);
        const attackers: ReturnType<typeof rawRequest>[] = [];
        for (let n = 0; n < 300; n++) attackers.push(rawRequest(nodeRed.port, forgedHead(), forged.slice(0, 3)));
        const trickle = setInterval(() => attackers.slice(150).forEach((attacker) => attacker.socket.destroyed || attacker.socket.write(" ")), 300);
        let maxBuffered = 0;
        const watch = setInterval(async () => {
            const { bufferedBytes } = await stats();
            maxBuffered = Math.max(maxBuffered, bufferedBytes);
        }, 100);
        try {
            await new Promise((resolve) => setTimeout(resolve, 500));
            const during = await stats();
            assert.ok(during.bodiesArriving >= 250, `${during.bodiesArriving} bodies arriving`);
            for (let attempt = 0; attempt < 3; attempt++) {
                const body = wmsBody({ sessionId: `genuine-${attempt}` });
                const started = Date.now();
                const answer = await request(nodeRed.nodeUrl("/mac"), {
                    method: "POST",
                    headers: { "content-type": "application/json", "x-wms-content-mac": wmsSignature(body, "abuse-secret") },
                    body,
                });
                assert.equal(answer.status, 200, answer.text);
                assert.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`);
                await new Promise((resolve) => setTimeout(resolve, 300));
            }
            const statuses = await Promise.all(attackers.map((attacker) => attacker.status()));
            assert.ok(statuses.every((status) => status === 408 || status === 401 || status === 503), `attackers got ${[...new Set(statuses)]}`);
            const after = await stats();
            assert.equal(after.bodiesArriving, 0, "every attacker was cut off within the idle time");
            assert.ok(maxBuffered <= after.maxBufferedBytes, `${maxBuffered} bytes buffered, bound ${after.maxBufferedBytes}`);
        } finally {
            clearInterval(trickle);
            clearInterval(watch);
            attackers.forEach((attacker) => attacker.socket.destroy());
        }
    });
});
