"use strict";
// The deliveries npm run bench and npm run profile send: unique, signed as each provider
// signs, with the one secret both give their receivers; and the node both wire receivers to.
const path = require("node:path");
const { createHash, createHmac } = require("node:crypto");

const SECRET = "bench-mac-secret";

/** A WMS event of exactly 190 bytes, unique by session, signed. */
function wmsDelivery(n) {
    const base = { timestamp: Math.floor(Date.now() / 1000), sessionId: "", sequence: 0, event: "MEASUREMENT_CREATED", severity: "INFO", payload: { measurementId: "f0c8ca8d-111d-4dcf-a69d-46ed39a2db06" } };
    const skeleton = JSON.stringify(base).length;
    const sessionId = `s${n}-`.padEnd(190 - skeleton, "x");
    const body = JSON.stringify({ ...base, sessionId });
    return { body, headers: { "content-type": "application/json", "x-wms-content-mac": `hmac-sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` } };
}

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const JWT_HEADER = b64url({ alg: "HS256", typ: "JWT" });

/** A MeshAgent storage event in Python json.dumps format with its HS256 JWT, unique by path. */
function meshagentDelivery(n) {
    const { toPythonJson } = require(path.join(__dirname, "..", "dist", "nodes", "samples.js"));
    const body = toPythonJson({ event: "storage.file.updated", data: { path: `notes/file-${n}.md`, participant_id: "p-42" } });
    const claims = b64url({ sha256: createHash("sha256").update(body).digest("hex") });
    const signature = createHmac("sha256", SECRET).update(`${JWT_HEADER}.${claims}`).digest("base64url");
    return { body, headers: { "content-type": "application/json", "meshagent-signature": `Bearer ${JWT_HEADER}.${claims}.${signature}` } };
}

// A core node that does nothing: a junction with nothing after it. (A `function` node that
// returns null is no no-op: running its script in a VM context costs several microseconds
// a message, which is the downstream flow's cost, not the receiver's.) BENCH_SINK=function
// puts that `function` node there instead, as a comparison with a function-node sink does.
const FUNCTION_SINK = process.env.BENCH_SINK === "function";
const SINK = FUNCTION_SINK ? { id: "no-op", type: "function", func: "return null;", outputs: 0, wires: [] } : { id: "no-op", type: "junction", wires: [] };
const SINK_NAME = FUNCTION_SINK ? "a function node (return null)" : "a junction";

module.exports = { SECRET, wmsDelivery, meshagentDelivery, SINK, SINK_NAME };
