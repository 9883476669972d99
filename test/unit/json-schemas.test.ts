"use strict";
// The JSON Schema files the package ships, used as a user's external service would use
// them (Ajv, draft 2020-12): every sample event passes, what the nodes refuse fails, and
// they agree with the zod schemas the nodes validate with.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const Ajv2020 = require("ajv/dist/2020").default;

const DIST = path.resolve(__dirname, "..", "..", "dist");
const { SAMPLE_EVENTS, PROVIDER_NAMES } = require(path.join(DIST, "nodes", "samples.js"));
const exported = require(path.join(DIST, "index.js"));

const GUARD_OF = {
    mentra: exported.isMentraEvent,
    wms: exported.isWmsEvent,
    synthesis: exported.isSynthesisEvent,
    meshagent: exported.isMeshAgentEvent,
    standard: exported.isStandardEvent,
};
const jsonSchemaOf = (provider) => JSON.parse(fs.readFileSync(path.join(DIST, "schemas", `${provider}.json`), "utf8"));

/** Events each provider's node refuses, as JSON. */
const INVALID = {
    mentra: [
        { type: "session_request", userId: "ada@example.com", timestamp: "2025-01-01T00:00:00.000Z" },
        { type: "stop_request", sessionId: "s", userId: "ada@example.com", timestamp: "2025-01-01T00:00:00.000Z" },
        { type: "unknown_kind", sessionId: "s", userId: "u", timestamp: "2025-01-01T00:00:00.000Z" },
    ],
    wms: [
        { timestamp: 1, sessionId: "s", sequence: -1, event: "E", severity: "INFO" },
        { timestamp: 1, sessionId: "s", sequence: 0, event: "E", severity: "LOUD" },
        { timestamp: 1, sequence: 0, event: "E", severity: "INFO" },
    ],
    synthesis: [{ action: "create" }, { uuid: "u", action: "" }, { uuid: "u", action: "create", stations: 1.5 }],
    meshagent: [
        { event: "storage.file.updated", data: { participant_id: "p" } },
        { event: "room.call", data: { room_name: "r" } },
        { event: "agent.spawned", data: [] },
        { data: {} },
    ],
    standard: [{ type: 42 }, { timestamp: 1 }, { type: "user.created", timestamp: ["2026"] }],
};

describe("JSON Schema files", () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });

    for (const provider of PROVIDER_NAMES) {
        describe(provider, () => {
            const validate = ajv.compile(jsonSchemaOf(provider));

            it("accepts every sample event, as the node does", () => {
                for (const [name, make] of Object.entries(SAMPLE_EVENTS[provider])) {
                    // A SynthesisVR delivery is a batch: each element becomes one message.
                    for (const event of [].concat(JSON.parse(JSON.stringify(make())))) {
                        assert.ok(validate(event), `${name}: ${JSON.stringify(validate.errors)}`);
                        assert.ok(GUARD_OF[provider](event), `${name}: the type guard agrees`);
                    }
                }
            });

            it("refuses what the node refuses", () => {
                for (const event of INVALID[provider]) {
                    assert.equal(validate(event), false, JSON.stringify(event));
                    assert.equal(GUARD_OF[provider](event), false, `guard: ${JSON.stringify(event)}`);
                }
            });

            it("keeps fields the provider may add later", () => {
                const [make] = Object.values(SAMPLE_EVENTS[provider]);
                const [event] = [].concat(JSON.parse(JSON.stringify(make())));
                assert.ok(validate({ ...event, addedLater: { any: "thing" } }));
            });
        });
    }

    it("lets MeshAgent add events under new names, but not documented names with other data", () => {
        const validate = ajv.compile(jsonSchemaOf("meshagent"));
        assert.ok(validate({ event: "agent.spawned", data: { anything: [1] } }));
        assert.equal(validate({ event: "room.started", data: {} }), false);
        assert.equal(exported.isKnownMeshAgentEvent({ event: "agent.spawned", data: {} }), false);
        assert.ok(exported.isKnownMeshAgentEvent({ event: "room.started", data: { room_name: "r" } }));
    });
});
