// The JSON Schema files the package ships, used as a user's external service would use
// them (Ajv, draft 2020-12): every sample event passes, what the nodes refuse fails, and
// they agree with the zod schemas the nodes validate with.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import path = require("node:path");
import Ajv2020 from "ajv/dist/2020";
import * as exported from "../../../index.js";
import { PROVIDERS, type ProviderName } from "../../../nodes/providers/index.js";
import { DIST } from "../../support/paths.js";

/** The guards 0.1.0 published by name; a provider added later has only the generic isEvent. */
const NAMED_GUARD_OF: Partial<Record<ProviderName, (value: unknown) => boolean>> = {
    mentra: exported.isMentraEvent,
    wms: exported.isWmsEvent,
    synthesis: exported.isSynthesisEvent,
    meshagent: exported.isMeshAgentEvent,
};
const jsonSchemaOf = (provider: string): object => JSON.parse(fs.readFileSync(path.join(DIST, "schemas", `${provider}.json`), "utf8")) as object;
/** A sample as sent, parsed back; a SynthesisVR delivery is a batch: each element becomes one message. */
const eventsOf = (make: () => unknown): unknown[] => [JSON.parse(JSON.stringify(make())) as unknown].flat();

/** Events each provider's node refuses, as JSON. */
const INVALID: Record<ProviderName, unknown[]> = {
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

    for (const { name: provider, samples } of PROVIDERS) {
        describe(provider, () => {
            const validate = ajv.compile(jsonSchemaOf(provider));
            const guards = [(value: unknown) => exported.isEvent(provider, value), NAMED_GUARD_OF[provider]].filter((guard) => guard !== undefined);

            it("accepts every sample event, as the node does", () => {
                for (const [name, make] of Object.entries(samples)) {
                    for (const event of eventsOf(make)) {
                        assert.ok(validate(event), `${name}: ${JSON.stringify(validate.errors)}`);
                        for (const guard of guards) assert.ok(guard(event), `${name}: the type guard agrees`);
                    }
                }
            });

            it("refuses what the node refuses", () => {
                for (const event of INVALID[provider]) {
                    assert.equal(validate(event), false, JSON.stringify(event));
                    for (const guard of guards) assert.equal(guard(event), false, `guard: ${JSON.stringify(event)}`);
                }
            });

            it("keeps fields the provider may add later", () => {
                const [make] = Object.values(samples);
                const [event] = eventsOf(make!);
                assert.ok(validate({ ...(event as object), addedLater: { any: "thing" } }));
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

describe("the package's exports", () => {
    it("types each provider's events through the one list", () => {
        const value: unknown = { type: "invoice.paid", data: { id: "in_1" } };
        assert.ok(exported.isEvent("standard", value));
        // Narrowed to the Standard Webhooks payload: its `type` is a string at compile time.
        const type: string | undefined = value.type;
        assert.equal(type, "invoice.paid");
        assert.deepEqual(Object.keys(exported.eventSchemas), PROVIDERS.map(({ name }) => name));
        assert.throws(() => exported.isEvent("stripe" as ProviderName, value), /unknown provider stripe/);
    });
});
