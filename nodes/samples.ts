/**
 * Samples of every provider, through the one list of providers: what the command-line signer,
 * `npm start` and the tests use. Each provider's samples and signing live in its module.
 */
import { signDelivery as signFor, sampleDelivery as sampleFor, type SignedDelivery } from "./providers/signing.js";
import { PROVIDERS, providerNamed } from "./providers/index.js";

export { curlCommand, deliveryUrl, type SignedDelivery } from "./providers/signing.js";
export { toPythonJson } from "./providers/meshagent.js";

export const PROVIDER_NAMES: readonly string[] = PROVIDERS.map((provider) => provider.name);

/** Sample events per provider and event name. */
export const SAMPLE_EVENTS: Readonly<Record<string, Readonly<Record<string, () => unknown>>>> = Object.fromEntries(
    PROVIDERS.map((provider) => [provider.name, provider.samples]),
);

function provider(name: string) {
    const found = providerNamed(name);
    if (!found) throw new Error(`unknown provider ${name}: one of ${PROVIDER_NAMES.join(", ")}`);
    return found;
}

/** Serialises `event` as provider `name` does and adds the headers that sign it. */
export function signDelivery(name: string, event: unknown, secret?: string): Promise<SignedDelivery> {
    return signFor(provider(name), event, secret);
}

/** A sample delivery of `eventName` (default: the provider's first), signed with `secret`. */
export function sampleDelivery(name: string, eventName?: string, secret?: string): Promise<SignedDelivery> {
    return sampleFor(provider(name), eventName, secret);
}
