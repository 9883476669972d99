/**
 * JSON Schema (draft 2020-12) of each provider's `msg.payload`, generated from the same zod
 * schemas the nodes validate with; the build writes one file per provider to `schemas/`.
 */
import { z } from "zod";
import { mentraEventSchema } from "./mentra.js";
import { MESHAGENT_DATA_SCHEMAS, MESHAGENT_EVENT_NAMES, meshagentEnvelopeSchema } from "./meshagent.js";
import { synthesisEventSchema } from "./synthesis.js";
import { wmsEventSchema } from "./wms.js";

type JsonSchema = Record<string, unknown>;

function toJsonSchema(schema: z.ZodType): JsonSchema {
    // Refinements (Mentra's date check) have no JSON Schema form: the field stays a string.
    const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", unrepresentable: "any" }) as JsonSchema;
    return rest;
}

function document(title: string, description: string, body: JsonSchema): JsonSchema {
    return { $schema: "https://json-schema.org/draft/2020-12/schema", title, description, ...body };
}

/**
 * MeshAgent's runtime schema picks the data schema by event name (a transform, which JSON
 * Schema cannot express): here, one branch per documented event, and one for events added
 * later, whose name is none of those.
 */
function meshagentJsonSchema(): JsonSchema {
    const known = MESHAGENT_EVENT_NAMES.map((name) =>
        toJsonSchema(z.looseObject({ event: z.literal(name), data: MESHAGENT_DATA_SCHEMAS[name] })),
    );
    const other = toJsonSchema(meshagentEnvelopeSchema);
    const properties = other.properties as Record<string, JsonSchema>;
    properties.event = { ...properties.event, not: { enum: MESHAGENT_EVENT_NAMES } };
    return { anyOf: [...known, other] };
}

/** Provider name → JSON Schema of one event as the node emits it in msg.payload. */
export function payloadJsonSchemas(): Record<string, JsonSchema> {
    return {
        mentra: document("Mentra webhook event", "msg.payload of a mentra-webhook node: one MentraOS app lifecycle webhook.", toJsonSchema(mentraEventSchema)),
        wms: document("NuraLogix WMS event", "msg.payload of a wms-webhook node: one WMS measurement event.", toJsonSchema(wmsEventSchema)),
        synthesis: document(
            "SynthesisVR session event",
            "msg.payload of a synthesis-webhook node: one element of a SynthesisVR batch (the request body is an array of these).",
            toJsonSchema(synthesisEventSchema),
        ),
        meshagent: document("MeshAgent event", "msg.payload of a meshagent-webhook node: one MeshAgent room or storage event.", meshagentJsonSchema()),
    };
}
