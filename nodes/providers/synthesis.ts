/**
 * SynthesisVR session webhooks: a JSON array of events per POST, unsigned, never retried,
 * answered within 2 seconds or lost.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Provider } from "../receive/provider.js";
import { tokenDigests, verifyPathToken } from "../receive/secrets.js";

export const synthesisEventSchema = z.looseObject({
    /** The Synthesis session id. */
    uuid: z.string().min(1),
    /** "create" | "delete" today; "more webhook options will come". */
    action: z.string().min(1),
    location: z.string().optional(),
    stations: z.number().int().nonnegative().optional(),
    customerid: z.union([z.number(), z.string()]).nullable().optional(),
});
export type SynthesisEvent = z.infer<typeof synthesisEventSchema>;
export const SYNTHESIS_ACTIONS = ["create", "delete"] as const;

export const synthesis: Provider<SynthesisEvent, Record<string, never>, Buffer[], "synthesis"> = {
    name: "synthesis",
    nodeType: "synthesis-webhook",
    title: "SynthesisVR session event",
    description: "msg.payload of a synthesis-webhook node: one element of a SynthesisVR batch (the request body is an array of these).",
    samples: {
    create: () => [
        {
            uuid: randomUUID(),
            action: "create",
            location: "Kamen Test",
            stations: 1,
            customerid: 7685,
        },
    ],
    delete: () => [
        {
            uuid: randomUUID(),
            action: "delete",
            location: "Kamen Test",
            stations: 1,
            customerid: 7685,
        },
    ],
    },
    secretRequired: false,
    pathToken: true,

    options: () => ({}),
    prepareKeys: tokenDigests,
    // The token is in the URL: checked before the body is read, and nothing else is signed.
    checkHead: (head, digests) => verifyPathToken(head, digests),
    verify: (delivery, digests) => verifyPathToken(delivery, digests),

    // SynthesisVR sends each event once: a delivery lost to a crash is lost for good.
    retries: false,
    batches: true,
    schema: synthesisEventSchema,
    eventName: (event) => event.action,
    eventKey: (event) => event.uuid,
    duplicateKey: (event) => `${event.uuid}\n${event.action}`,

    success: ({ accepted, duplicates, rejected }) => ({ status: 200, body: { status: "ok", accepted, duplicates, rejected } }),
    errorBody: (reason) => ({ error: reason }),
};
