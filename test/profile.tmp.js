const path = require("path");
const fs = require("fs");
const autocannon = require("/work/main/node_modules/autocannon");
const { NodeRedProcess } = require("/work/main/test/support/node-red-process.js");
const { createHmac, createHash } = require("crypto");
const type = process.argv[2] || "wms-webhook";
(async () => {
  const dir = "/tmp/prof-" + type; fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir);
  const nr = await new NodeRedProcess({ nodeArgs: ["--cpu-prof", "--cpu-prof-dir=" + dir] }).start();
  await nr.deploy([{ id: "r", type, path: "/hook", wires: [["n"], []], credentials: { secret: "s" } }, { id: "n", type: "debug", active: false, tosidebar: false, wires: [] }]);
  let i = 0;
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const make = (n) => {
    if (type === "wms-webhook") { const body = JSON.stringify({ timestamp: 1, sessionId: "s" + n, sequence: 0, event: "E", severity: "INFO" }); return { body, headers: { "content-type": "application/json", "x-wms-content-mac": "hmac-sha256=" + createHmac("sha256", "s").update(body).digest("hex") } }; }
    const body = `{"event": "storage.file.updated", "data": {"path": "f${n}", "participant_id": "p"}}`;
    const h = b64({ alg: "HS256", typ: "JWT" }), c = b64({ sha256: createHash("sha256").update(body).digest("hex") });
    return { body, headers: { "content-type": "application/json", "meshagent-signature": `Bearer ${h}.${c}.${createHmac("sha256", "s").update(h + "." + c).digest("base64url")}` } };
  };
  const pool = Array.from({ length: 200000 }, (_, n) => make(n));
  await new Promise((resolve) => autocannon({ url: nr.nodeUrl("/hook"), method: "POST", connections: 16, duration: 5, requests: [{ setupRequest: (req) => ({ ...req, ...pool[i++ % pool.length] }) }] }, (e, r) => { console.log(Math.round(r.requests.average), "req/s", r.non2xx, "non2xx"); resolve(); }));
  await nr.stop();
  const file = fs.readdirSync(dir)[0];
  const prof = JSON.parse(fs.readFileSync(path.join(dir, file)));
  const self = new Map(); const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const dt = prof.timeDeltas; let total = 0;
  prof.samples.forEach((id, k) => { const n = byId.get(id); const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.replace(/.*node_modules\//, "").replace(/.*\/dist\//, "dist/")}:${n.callFrame.lineNumber}`; self.set(key, (self.get(key) || 0) + (dt[k] || 0)); total += dt[k] || 0; });
  [...self].sort((a, b) => b[1] - a[1]).slice(0, 40).forEach(([k, v]) => console.log((100 * v / total).toFixed(1).padStart(5) + "%", k));
  const groups = new Map();
  for (const [k, v] of self) { const g = k.includes("dist/") ? "ours" : /@node-red|node-red\//.test(k) ? "node-red" : /zod/.test(k) ? "zod" : /raw-body|iconv|bytes|http-errors|unpipe/.test(k) ? "raw-body" : /jose/.test(k) ? "jose" : /node:internal\/(http|_http|stream|streams|net)|_http|writev|HTTPParser|parser/i.test(k) ? "node http+streams" : /idle|program|garbage/.test(k) ? k.split(" ")[0] : "other"; groups.set(g, (groups.get(g) || 0) + v); }
  console.log([...groups].sort((a,b)=>b[1]-a[1]).map(([g,v]) => g + " " + (100*v/total).toFixed(1) + "%").join(" | "));
})();
