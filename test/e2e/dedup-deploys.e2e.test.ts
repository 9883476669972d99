// "A captured delivery is never emitted twice", across what users do between a delivery and
// its retry: a full deploy (the editor's default), a "modified nodes" and a "modified flows"
// deploy, the node deleted and added again on the same path, and a restart of Node-RED (the
// identities are kept in LMDB in the user directory). A real Node-RED, signed WMS deliveries
// as WMS sends them, and a SynthesisVR batch.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import { Collector, NodeRedProcess, sleep, type FlowNode } from "../support/node-red-process.js";
import { FLUSH_INTERVAL_MS } from "../../nodes/dedup/identity-journal.js";
import { signedWms, synthesisBatch } from "../support/fixtures.js";

const TAB = "tab-dedup";
const SECRET = "dedup-wms-secret";

function flows(collector: Collector, wmsName = "measurements", withWms = true): FlowNode[] {
    const receivers: FlowNode[] = [
        ...(withWms ? [{ id: "wms-in", type: "wms-webhook", name: wmsName, path: "/wms", credentials: { secret: SECRET } }] : []),
        { id: "orders-in", type: "synthesis-webhook", name: "orders", path: "/orders", keep: false },
    ];
    return collector.tappedTab(TAB, receivers);
}

describe("end to end: a retry after a deploy or a restart is answered and not emitted again", function () {
    this.timeout(90000);
    let collector: Collector;
    let nodeRed: NodeRedProcess;
    const userDirs: string[] = [];

    before(async () => {
        collector = await new Collector().start();
        nodeRed = await new NodeRedProcess().start();
        userDirs.push(nodeRed.userDir);
    });
    after(async () => {
        await nodeRed?.stop();
        await collector?.stop();
        for (const dir of userDirs) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Sends the same deliveries again: each answered 200, nothing more reaches the flow. */
    async function retriedAndNotEmitted(wms: [string, Record<string, string>], batch: string, when: string) {
        const wmsAnswer = await nodeRed.post("/wms", wms[0], wms[1]);
        assert.equal(wmsAnswer.status, 200, `${when}: ${wmsAnswer.text}`);
        const batchAnswer = await nodeRed.post("/orders", batch);
        assert.equal(batchAnswer.status, 200, `${when}: ${batchAnswer.text}`);
        assert.equal(batchAnswer.json.duplicates, 2, `${when}: the batch's events are duplicates`);
        assert.equal((await collector.settle("wms-in:1", 300)).length, 1, `${when}: the WMS event was emitted again`);
        assert.equal(collector.list("orders-in:1").length, 2, `${when}: the batch was emitted again`);
    }

    it("after full, nodes and flows deploys, after the node is deleted and added again, and after a restart", async () => {
        await nodeRed.deploy(flows(collector));
        const wms = signedWms(SECRET, { sessionId: `dedup-${Date.now()}`, sequence: 7 });
        const batch = JSON.stringify(synthesisBatch(2).map((event, index) => ({ ...event, uuid: `dedup-${Date.now()}-${index}` })));
        assert.equal((await nodeRed.post("/wms", wms[0], wms[1])).status, 200);
        assert.equal((await nodeRed.post("/orders", batch)).status, 200);
        await collector.waitFor("wms-in:1", 1);
        await collector.waitFor("orders-in:1", 2);
        await retriedAndNotEmitted(wms, batch, "a plain retry");

        await nodeRed.deploy(flows(collector), "full");
        await retriedAndNotEmitted(wms, batch, "after a full deploy");
        await nodeRed.deploy(flows(collector, "renamed"), "nodes");
        await retriedAndNotEmitted(wms, batch, "after a modified-nodes deploy");
        await nodeRed.deploy(flows(collector, "renamed again"), "flows");
        await retriedAndNotEmitted(wms, batch, "after a modified-flows deploy");
        await nodeRed.deploy(flows(collector, "gone", false));
        await nodeRed.deploy(flows(collector));
        await retriedAndNotEmitted(wms, batch, "after the node was deleted and added again");

        // A WMS event later in the same session still comes through, and a gap is still a gap.
        const next = signedWms(SECRET, { sessionId: JSON.parse(wms[0]).sessionId, sequence: 8 });
        assert.equal((await nodeRed.post("/wms", next[0], next[1])).status, 200);
        await collector.waitFor("wms-in:1", 2);

        // A restart: stopped as a service manager stops it, then started in the same user directory.
        const userDir = nodeRed.userDir;
        await sleep(2 * FLUSH_INTERVAL_MS); // a crash forgets at most the identities of the last flush interval
        await nodeRed.kill();
        nodeRed = await new NodeRedProcess({ userDir }).start();
        await nodeRed.deploy(flows(collector));
        collector.clear();
        for (const delivery of [wms, next]) {
            const answer = await nodeRed.post("/wms", delivery[0], delivery[1]);
            assert.equal(answer.status, 200, `after a restart: ${answer.text}`);
        }
        const batchAnswer = await nodeRed.post("/orders", batch);
        assert.equal(batchAnswer.json.duplicates, 2, "after a restart: the batch's events are duplicates");
        assert.deepEqual(await collector.settle("wms-in:1", 300), [], "after a restart: nothing emitted again");
        assert.deepEqual(collector.list("orders-in:1"), []);
        const later = signedWms(SECRET, { sessionId: JSON.parse(wms[0]).sessionId, sequence: 9 });
        assert.equal((await nodeRed.post("/wms", later[0], later[1])).status, 200);
        const [emitted] = await collector.waitFor<{ payload: { sequence: number }; missing?: number[] }>("wms-in:1", 1);
        assert.equal(emitted!.payload.sequence, 9);
    });
});
