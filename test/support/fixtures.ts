// Bodies exactly as the providers send them.
import { toPythonJson, signDelivery } from "../../nodes/samples.js";
import { wmsSignature } from "../../nodes/providers/wms.js";
import type { SynthesisEvent } from "../../nodes/providers/synthesis.js";

/** The event body of the WMS webhook page, with its two JSON typos fixed and its layout kept. */
const WMS_SEED_BODY = `{
  "timestamp": 1689684577,
  "sessionId": "ryueiwoqfh910fu3rpqruvfiu",
  "sequence": 0,
  "event": "MEASUREMENT_CREATED",
  "severity": "INFO",
  "payload": {
    "measurementId": "f0c8ca8d-111d-4dcf-a69d-46ed39a2db06"
  }
}`;

/** A WMS event sent now (an old timestamp is refused as a possible replay). */
/** The seed body, layout kept, sent now: its 2023 timestamp is refused as a possible replay. */
function wmsSeedBodyNow(): string {
    return WMS_SEED_BODY.replace("1689684577", String(Math.floor(Date.now() / 1000)));
}

function wmsBody(fields: Record<string, unknown> = {}): string {
    return JSON.stringify({
        timestamp: Math.floor(Date.now() / 1000),
        sessionId: "ryueiwoqfh910fu3rpqruvfiu",
        sequence: 0,
        event: "MEASUREMENT_CREATED",
        severity: "INFO",
        payload: { measurementId: "f0c8ca8d-111d-4dcf-a69d-46ed39a2db06" },
        ...fields,
    });
}

/** A session_request as the newest cloud sends it: all three URL fields (the newer protocol's, and SDK 2.x's twice), an e-mail userId. */
function mentraSession(fields: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        type: "session_request",
        sessionId: "jane.doe@example.com-com.example.notes",
        userId: "jane.doe@example.com",
        timestamp: "2025-06-01T12:30:45.123Z",
        websocketUrl: "wss://prod.mentra.glass/ws/miniapp",
        mentraOSWebsocketUrl: "wss://prod.mentra.glass/app-ws",
        augmentOSWebsocketUrl: "wss://prod.mentra.glass/app-ws",
        ...fields,
    };
}

/** The SynthesisVR page's own example, as a batch of `count` sessions. */
function synthesisBatch(count = 1, action = "create"): SynthesisEvent[] {
    return Array.from({ length: count }, (_, index) => ({
        uuid: `41509791-3de8-5bb9-b4fc-${String(index).padStart(12, "0")}`,
        action,
        location: "Kamen Test",
        stations: 1,
        customerid: 7685,
    }));
}

/** A MeshAgent body in Python json.dumps format, with a non-ASCII room name (\u00e9). */
function meshagentEvent(event = "room.started", data: Record<string, unknown> = { room_name: "café-standup", room_url: "https://studio.meshagent.com/rooms/café" }): { event: string; data: Record<string, unknown> } {
    return { event, data };
}

/** A WMS body (fields over the defaults) and the header that signs it with `secret`. */
function signedWms(secret: string, fields: Record<string, unknown> = {}): [string, Record<string, string>] {
    const body = wmsBody(fields);
    return [body, { "x-wms-content-mac": wmsSignature(body, secret) }];
}

export { signedWms, WMS_SEED_BODY, wmsSeedBodyNow, wmsBody, mentraSession, synthesisBatch, meshagentEvent, toPythonJson, signDelivery };
