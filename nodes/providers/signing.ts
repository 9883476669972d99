/**
 * Deliveries exactly as a provider sends them, signed: the bytes, the headers and what the
 * provider appends to the URL it was given. Used by the command-line signer, "Send test
 * event", `npm start` and the tests, for any provider, from what its module declares.
 */
import { TEST_EVENT_HEADER } from "../receive/pipeline.js";
import type { SomeProvider } from "../receive/provider.js";

export interface SignedDelivery {
    readonly body: string;
    readonly headers: Record<string, string>;
    /** What the provider appends to the URL it was given ("/<token>", Mentra's "/webhook"). */
    readonly pathSuffix: string;
}

/** Serialises `event` as the provider does and adds what signs it. */
export async function signDelivery(provider: SomeProvider, event: unknown, secret?: string): Promise<SignedDelivery> {
    const body = provider.serialise ? provider.serialise(event) : JSON.stringify(event);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (secret !== undefined && provider.signatureHeaders) Object.assign(headers, await provider.signatureHeaders(body, secret));
    // A provider that signs nothing carries the token in the URL, before what it appends itself.
    const token = secret !== undefined && provider.pathToken ? `/${encodeURIComponent(secret)}` : "";
    const suffix = provider.pathSuffixes?.[0]?.map((segment) => `/${segment}`).join("") ?? "";
    return { body, headers, pathSuffix: `${token}${suffix}` };
}

/** The names of a provider's sample events; the first is the default. */
export function sampleNames(provider: SomeProvider): string[] {
    return Object.keys(provider.samples);
}

/** A sample delivery of `eventName` (default: the provider's first), signed with `secret`, marked as a test event. */
export async function sampleDelivery(provider: SomeProvider, eventName?: string, secret?: string): Promise<SignedDelivery> {
    const name = eventName ?? sampleNames(provider)[0]!;
    // Own properties only: "constructor" or "toString" is not an event.
    const make = Object.hasOwn(provider.samples, name) ? provider.samples[name] : undefined;
    if (!make) throw new Error(`unknown ${provider.name} event ${eventName}: one of ${sampleNames(provider).join(", ")}`);
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
