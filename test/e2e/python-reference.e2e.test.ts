// MeshAgent's sender is Python: its bodies and tokens made by Python itself, not by our
// reading of its format, must verify.
import assert = require("node:assert/strict");
import { execFileSync } from "node:child_process";
import { meshagentEvent, toPythonJson } from "../support/fixtures.js";
import { meshagent, meshagentSignature } from "../../nodes/providers/meshagent.js";

// Python's own json.dumps and an HS256 JWT built with hmac/hashlib, as PyJWT encodes it.
const REFERENCE_SENDER = String.raw`
import json, hmac, hashlib, base64, sys
body = json.dumps({"event": "room.started", "data": {"room_name": "caf\u00e9-standup", "room_url": "https://studio.meshagent.com/rooms/caf\u00e9"}})
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=")
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
claims = b64(json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest()}, separators=(",", ":")).encode())
signature = b64(hmac.new(b"mesh-secret", header + b"." + claims, hashlib.sha256).digest())
sys.stdout.write(json.dumps({"body": body, "jwt": (header + b"." + claims + b"." + signature).decode()}))`;

describe("MeshAgent against Python itself", () => {
    it("verifies what MeshAgent's reference sender, run by python3, produces", async () => {
        const { body, jwt } = JSON.parse(execFileSync("python3", ["-c", REFERENCE_SENDER], { encoding: "utf8" })) as { body: string; jwt: string };
        assert.equal(body, toPythonJson(meshagentEvent()), "toPythonJson writes what json.dumps writes");
        assert.ok(body.includes("caf\\u00e9"));
        const keys = await meshagent.prepareKeys(["rotated-out", "mesh-secret"]);
        const options = meshagent.options({});
        const delivery = (headers: Record<string, string>) => ({ body: Buffer.from(body), headers, path: ["hook"], extraPath: [], query: "" });
        assert.deepEqual(meshagent.verify(delivery({ "meshagent-signature": `Bearer ${jwt}` }), keys, options), { verified: true });
        const ours = await meshagentSignature(body, "rotated-out");
        assert.deepEqual(meshagent.verify(delivery({ "meshagent-signature": ours }), keys, options), { verified: true });
    });
});
