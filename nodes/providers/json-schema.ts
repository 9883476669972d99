/** JSON Schema (draft 2020-12) from the zod schemas the nodes validate with. */
import { z } from "zod";
import type { SomeProvider, JsonSchema } from "../receive/provider.js";

export function toJsonSchema(schema: z.ZodType): JsonSchema {
    // Refinements (Mentra's date check) have no JSON Schema form: the field stays a string.
    const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", unrepresentable: "any" }) as JsonSchema;
    return rest;
}

/** The JSON Schema document of one provider's msg.payload. */
export function payloadJsonSchema(provider: SomeProvider): JsonSchema {
    const body = provider.jsonSchema ? provider.jsonSchema() : toJsonSchema(provider.schema);
    return { $schema: "https://json-schema.org/draft/2020-12/schema", title: provider.title, description: provider.description, ...body };
}
