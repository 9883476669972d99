/**
 * Types, type guards and zod schemas of the events the receiver nodes emit, for users'
 * own code: function nodes written in TypeScript, services a flow forwards events to.
 *
 *     import { isEvent, type EventOf, type MessageOf } from "node-red-contrib-verified-webhooks";
 *     if (isEvent("standard", value)) value.type;        // EventOf<"standard">
 *
 * A guard checks a value against the same schema the node validated it with. JSON Schema
 * files of the same events ship in `schemas/` (`node-red-contrib-verified-webhooks/schemas/wms.json`).
 * Nothing here loads Node-RED.
 */
import type { z } from "zod";
import type { EventMessage, RejectionMessage, WebhookInfo } from "./nodes/receive/pipeline.js";
import type { MentraEvent } from "./nodes/providers/mentra.js";
import { MESHAGENT_EVENT_NAMES, type KnownMeshAgentEvent, type MeshAgentEvent } from "./nodes/providers/meshagent.js";
import { PROVIDERS, type EventOf, type ProviderName } from "./nodes/providers/index.js";
import type { SynthesisEvent } from "./nodes/providers/synthesis.js";
import type { WmsEvent } from "./nodes/providers/wms.js";

export type { EventOf, ProviderName, WebhookInfo, RejectionMessage };

/** A message on a receiver's first output: `payload` is one event, `topic` its name. */
export type WebhookMessage<Event> = EventMessage<Event>;
/** The message a node of provider `Name` sends on its first output. */
export type MessageOf<Name extends ProviderName> = WebhookMessage<EventOf<Name>>;

/** Every provider's event schema (zod), by short name: the list of providers, iterated. */
export const eventSchemas = Object.fromEntries(PROVIDERS.map((provider) => [provider.name, provider.schema])) as {
    readonly [Name in ProviderName]: z.ZodType<EventOf<Name>>;
};

/** Whether `value` is an event a node of `provider` emits: the same schema the node validated it with. */
export function isEvent<Name extends ProviderName>(provider: Name, value: unknown): value is EventOf<Name> {
    const schema: z.ZodType<unknown> | undefined = eventSchemas[provider];
    if (!schema) throw new Error(`unknown provider ${String(provider)}: one of ${PROVIDERS.map(({ name }) => name).join(", ")}`);
    return schema.safeParse(value).success;
}

// The names 0.1.0 published for its four providers, kept; a provider added later is reached
// through the generic ones above (`isEvent("standard", value)`, `EventOf<"standard">`).
export {
    MENTRA_EVENT_TYPES,
    mentraEventSchema,
    type MentraEvent,
    type MentraServerHeartbeat,
    type MentraServerRegistration,
    type MentraSessionRecovery,
    type MentraSessionRequest,
    type MentraStopRequest,
} from "./nodes/providers/mentra.js";
export { WMS_EVENT_CODES, wmsEventSchema, type WmsEvent, type WmsEventCode } from "./nodes/providers/wms.js";
export { SYNTHESIS_ACTIONS, synthesisEventSchema, type SynthesisEvent } from "./nodes/providers/synthesis.js";
export {
    MESHAGENT_EVENT_NAMES,
    meshagentEventSchema,
    type KnownMeshAgentEvent,
    type MeshAgentEvent,
    type MeshAgentEventName,
    type OtherMeshAgentEvent,
} from "./nodes/providers/meshagent.js";

/** On session_request and session_recovery, `websocketUrl` is the URL for the node's protocol. */
export type MentraMessage = MessageOf<"mentra"> & { websocketUrl?: string };
export type WmsMessage = MessageOf<"wms">;
/** One element of a SynthesisVR batch; `parts` lets a `join` node rebuild the batch. */
export type SynthesisMessage = MessageOf<"synthesis"> & { parts: NonNullable<EventMessage["parts"]> };
export type MeshAgentMessage = MessageOf<"meshagent">;

export const isMentraEvent = (value: unknown): value is MentraEvent => isEvent("mentra", value);
export const isWmsEvent = (value: unknown): value is WmsEvent => isEvent("wms", value);
export const isSynthesisEvent = (value: unknown): value is SynthesisEvent => isEvent("synthesis", value);
export const isMeshAgentEvent = (value: unknown): value is MeshAgentEvent => isEvent("meshagent", value);
/**
 * A MeshAgent event of a documented name with valid data. `MeshAgentEvent` also admits events
 * MeshAgent adds later, under any name, so `event.event === "room.call"` narrows only after this.
 */
export function isKnownMeshAgentEvent(value: unknown): value is KnownMeshAgentEvent {
    return isMeshAgentEvent(value) && (MESHAGENT_EVENT_NAMES as readonly string[]).includes(value.event);
}
