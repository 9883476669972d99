/**
 * Types, type guards and zod schemas of the events the receiver nodes emit, for users'
 * own code: function nodes written in TypeScript, services a flow forwards events to.
 *
 *     import { isWmsEvent, type WmsEvent } from "node-red-contrib-verified-webhooks";
 *
 * A guard checks a value against the same schema the node validated it with. JSON Schema
 * files of the same events ship in `schemas/` (`node-red-contrib-verified-webhooks/schemas/wms.json`).
 * Nothing here loads Node-RED.
 */
import { mentraEventSchema, type MentraEvent } from "./nodes/providers/mentra.js";
import { MESHAGENT_EVENT_NAMES, meshagentEventSchema, type KnownMeshAgentEvent, type MeshAgentEvent } from "./nodes/providers/meshagent.js";
import { standardEventSchema, type StandardEvent } from "./nodes/providers/standard.js";
import { synthesisEventSchema, type SynthesisEvent } from "./nodes/providers/synthesis.js";
import { wmsEventSchema, type WmsEvent } from "./nodes/providers/wms.js";
import type { EventMessage, RejectionMessage, WebhookInfo } from "./nodes/core/pipeline.js";

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
export { standardEventSchema, type StandardEvent } from "./nodes/providers/standard.js";
export type { WebhookInfo, RejectionMessage };

/** A message on a receiver's first output: `payload` is one event, `topic` its name. */
export interface WebhookMessage<Event> extends Omit<EventMessage, "payload"> {
    payload: Event;
}
/** On session_request and session_recovery, `websocketUrl` is the URL for the node's protocol. */
export type MentraMessage = WebhookMessage<MentraEvent> & { websocketUrl?: string };
export type WmsMessage = WebhookMessage<WmsEvent>;
/** One element of a SynthesisVR batch; `parts` lets a `join` node rebuild the batch. */
export type SynthesisMessage = WebhookMessage<SynthesisEvent> & { parts: NonNullable<EventMessage["parts"]> };
export type MeshAgentMessage = WebhookMessage<MeshAgentEvent>;
export type StandardMessage = WebhookMessage<StandardEvent>;

export function isMentraEvent(value: unknown): value is MentraEvent {
    return mentraEventSchema.safeParse(value).success;
}
export function isWmsEvent(value: unknown): value is WmsEvent {
    return wmsEventSchema.safeParse(value).success;
}
export function isSynthesisEvent(value: unknown): value is SynthesisEvent {
    return synthesisEventSchema.safeParse(value).success;
}
export function isStandardEvent(value: unknown): value is StandardEvent {
    return standardEventSchema.safeParse(value).success;
}
export function isMeshAgentEvent(value: unknown): value is MeshAgentEvent {
    return meshagentEventSchema.safeParse(value).success;
}
/**
 * A MeshAgent event of a documented name with valid data. `MeshAgentEvent` also admits events
 * MeshAgent adds later, under any name, so `event.event === "room.call"` narrows only after this.
 */
export function isKnownMeshAgentEvent(value: unknown): value is KnownMeshAgentEvent {
    return isMeshAgentEvent(value) && (MESHAGENT_EVENT_NAMES as readonly string[]).includes(value.event);
}
