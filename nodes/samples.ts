/**
 * Deliveries exactly as each provider sends them, signed: the bytes, the headers and the
 * path suffix. Used by the command-line signer, `npm start` and the tests. Pure: no Node-RED.
 */
import { TEST_EVENT_HEADER } from "./core/pipeline.js";
import { meshagentSignature, MESHAGENT_SIGNATURE_HEADER } from "./providers/meshagent.js";
import { WMS_MAC_HEADER, wmsSignature } from "./providers/wms.js";

/**
 * Python's json.dumps with its defaults, which is how MeshAgent serialises bodies:
 * ", " and ": " separators, and everything outside printable ASCII as \uXXXX.
 */
export function toPythonJson(value: unknown): string {
    if (value === null || typeof value !== "object") {
        return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
    }
    if (Array.isArray(value)) return `[${value.map(toPythonJson).join(", ")}]`;
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries.map(([key, item]) => `${toPythonJson(key)}: ${toPythonJson(item)}`).join(", ")}}`;
}

export interface SignedDelivery {
    readonly body: string;
    readonly headers: Record<string, string>;
    /** What the provider appends to the URL it was given ("/<token>", Mentra's "/webhook"). */
    readonly pathSuffix: string;
}

export type ProviderName = "mentra" | "wms" | "synthesis" | "meshagent";
export const PROVIDER_NAMES: readonly ProviderName[] = ["mentra", "wms", "synthesis", "meshagent"];

const now = () => new Date();

/** Sample events per provider and event name: what a real delivery of that kind holds. */
export const SAMPLE_EVENTS: Record<ProviderName, Record<string, () => unknown>> = {
    mentra: {
        session_request: () => ({
            type: "session_request",
            sessionId: "jane.doe@example.com-com.example.notes",
            userId: "jane.doe@example.com",
            timestamp: now().toISOString(),
            websocketUrl: "wss://prod.mentra.glass/ws/miniapp",
            mentraOSWebsocketUrl: "wss://prod.mentra.glass/app-ws",
            augmentOSWebsocketUrl: "wss://prod.mentra.glass/app-ws",
        }),
        stop_request: () => ({
            type: "stop_request",
            sessionId: "jane.doe@example.com-com.example.notes",
            userId: "jane.doe@example.com",
            timestamp: now().toISOString(),
            reason: "user_disabled",
        }),
        server_heartbeat: () => ({
            type: "server_heartbeat",
            sessionId: "heartbeat-123456",
            userId: "system",
            timestamp: now().toISOString(),
            registrationId: "reg-78901234",
        }),
        server_registration: () => ({
            type: "server_registration",
            sessionId: "registration-123456",
            userId: "system",
            timestamp: now().toISOString(),
            registrationId: "reg-78901234",
            packageName: "com.example.notes",
            serverUrls: ["https://notes.example.com/webhook"],
        }),
        session_recovery: () => ({
            type: "session_recovery",
            sessionId: "jane.doe@example.com-com.example.notes",
            userId: "jane.doe@example.com",
            timestamp: now().toISOString(),
            mentraOSWebsocketUrl: "wss://franceapi.mentra.glass/app-ws",
        }),
    },
    wms: {
        MEASUREMENT_CREATED: () => ({
            timestamp: Math.floor(now().getTime() / 1000),
            sessionId: "ryueiwoqfh910fu3rpqruvfiu",
            sequence: 0,
            event: "MEASUREMENT_CREATED",
            severity: "INFO",
            payload: { measurementId: "f0c8ca8d-111d-4dcf-a69d-46ed39a2db06" },
        }),
        INTERMEDIATE_RESULTS: () => ({
            timestamp: Math.floor(now().getTime() / 1000),
            sessionId: "ryueiwoqfh910fu3rpqruvfiu",
            sequence: 1,
            event: "INTERMEDIATE_RESULTS",
            severity: "INFO",
            payload: { measurementId: "f0c8ca8d-111d-4dcf-a69d-46ed39a2db06", snr: 100, sequence: 1 },
        }),
        CONSTRAINT_VIOLATION: () => ({
            timestamp: Math.floor(now().getTime() / 1000),
            sessionId: "ryueiwoqfh910fu3rpqruvfiu",
            sequence: 2,
            event: "CONSTRAINT_VIOLATION",
            severity: "ERROR",
            payload: { measurementId: "f0c8ca8d-111d-4dcf-a69d-46ed39a2db06" },
        }),
    },
    synthesis: {
        create: () => [
            {
                uuid: "41509791-3de8-5bb9-b4fc-a9753da95aad",
                action: "create",
                location: "Kamen Test",
                stations: 1,
                customerid: 7685,
            },
        ],
        delete: () => [
            {
                uuid: "41509791-3de8-5bb9-b4fc-a9753da95aad",
                action: "delete",
                location: "Kamen Test",
                stations: 1,
                customerid: 7685,
            },
        ],
    },
    meshagent: {
        "room.started": () => ({ event: "room.started", data: { room_name: "café-standup", room_url: "https://studio.meshagent.com/rooms/café-standup" } }),
        "room.ended": () => ({ event: "room.ended", data: { room_name: "café-standup" } }),
        "storage.file.updated": () => ({ event: "storage.file.updated", data: { path: "notes/réunion.md", participant_id: "p-42" } }),
        "storage.file.deleted": () => ({ event: "storage.file.deleted", data: { path: "notes/old.md", participant_id: "p-42" } }),
        "storage.file.moved": () => ({
            event: "storage.file.moved",
            data: { source_path: "notes/draft.md", destination_path: "notes/final.md", participant_id: "p-42" },
        }),
    },
};

/** Serialises `event` as the provider does and adds the headers that sign it. */
export async function signDelivery(provider: ProviderName, event: unknown, secret?: string): Promise<SignedDelivery> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    switch (provider) {
        case "meshagent": {
            const body = toPythonJson(event);
            if (secret !== undefined) headers[MESHAGENT_SIGNATURE_HEADER] = await meshagentSignature(body, secret);
            return { body, headers, pathSuffix: "" };
        }
        case "wms": {
            const body = JSON.stringify(event);
            if (secret !== undefined) headers[WMS_MAC_HEADER] = wmsSignature(body, secret);
            return { body, headers, pathSuffix: "" };
        }
        default: {
            // Mentra and SynthesisVR sign nothing: the token is part of the URL the user gave them,
            // and Mentra's cloud posts to `<public URL>/webhook`.
            const token = secret === undefined ? "" : `/${encodeURIComponent(secret)}`;
            return { body: JSON.stringify(event), headers, pathSuffix: provider === "mentra" ? `${token}/webhook` : token };
        }
    }
}

export function isProviderName(name: string): name is ProviderName {
    return (PROVIDER_NAMES as readonly string[]).includes(name);
}

/** A sample delivery of `eventName` (default: the provider's first), signed with `secret`. */
export async function sampleDelivery(provider: ProviderName, eventName?: string, secret?: string): Promise<SignedDelivery> {
    const samples = SAMPLE_EVENTS[provider];
    const name = eventName ?? Object.keys(samples)[0]!;
    // Own properties only: "constructor" or "toString" is not an event.
    const make = Object.hasOwn(samples, name) ? samples[name] : undefined;
    if (!make) throw new Error(`unknown ${provider} event ${eventName}: one of ${Object.keys(samples).join(", ")}`);
    const delivery = await signDelivery(provider, make(), secret);
    // A sample is a test event: the receiver marks it msg.webhook.test when its signature or token verifies.
    return { ...delivery, headers: { ...delivery.headers, [TEST_EVENT_HEADER]: "1" } };
}

const shellQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/** The URL the provider posts to, given the URL the user configured with it. */
export function deliveryUrl(configuredUrl: string, delivery: SignedDelivery): string {
    const target = new URL(configuredUrl);
    target.pathname = `${target.pathname.replace(/\/$/, "")}${delivery.pathSuffix}`;
    return target.href;
}

/** A curl command that sends `delivery` byte for byte. */
export function curlCommand(configuredUrl: string, delivery: SignedDelivery): string {
    const headers = Object.entries(delivery.headers).map(([name, value]) => `-H ${shellQuote(`${name}: ${value}`)}`);
    return ["curl -i -X POST", shellQuote(deliveryUrl(configuredUrl, delivery)), ...headers, "--data-binary", shellQuote(delivery.body)].join(" ");
}
