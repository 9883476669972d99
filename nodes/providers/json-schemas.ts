/**
 * JSON Schema (draft 2020-12) of each provider's `msg.payload`, generated from the same zod
 * schemas the nodes validate with; the build writes one file per provider to `schemas/`.
 */
import { payloadJsonSchema } from "./json-schema.js";
import type { JsonSchema } from "../receive/provider.js";
import { PROVIDERS } from "./index.js";

/** Provider name → JSON Schema of one event as the node emits it in msg.payload. */
export function payloadJsonSchemas(): Record<string, JsonSchema> {
    return Object.fromEntries(PROVIDERS.map((provider) => [provider.name, payloadJsonSchema(provider)]));
}
