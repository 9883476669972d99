// A real Node-RED under adminAuth with three users: "admin" (every permission), "viewer"
// (read only) and "flows-only" (may read the flows and node statuses, nothing of this
// package: an editor connection without verified-webhooks.read), all with the
// password "password"; and their access tokens.
import assert = require("node:assert/strict");
import bcrypt = require("bcryptjs");
import { NodeRedProcess, request } from "./node-red-process.js";

export function nodeRedWithAdminAuth(): NodeRedProcess {
    const hash = bcrypt.hashSync("password", 8);
    return new NodeRedProcess({
        settings: `module.exports = { flowFile: "flows.json", adminAuth: { type: "credentials", users: [
            { username: "admin", password: ${JSON.stringify(hash)}, permissions: "*" },
            { username: "viewer", password: ${JSON.stringify(hash)}, permissions: "read" },
            { username: "flows-only", password: ${JSON.stringify(hash)}, permissions: ["flows.read", "status.read"] } ] } };`,
    });
}

/** An access token of `username` for `scope` ("*" for admin, "read" for viewer). */
export async function tokenFor(nodeRed: NodeRedProcess, username: "admin" | "viewer" | "flows-only", scope: string | string[] = username === "admin" ? "*" : username === "viewer" ? "read" : "flows.read status.read"): Promise<string> {
    const response = await request<{ access_token: string }>(nodeRed.adminUrl("/auth/token"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_id: "node-red-admin", grant_type: "password", scope, username, password: "password" }),
    });
    assert.equal(response.status, 200, response.text);
    return response.json.access_token;
}
