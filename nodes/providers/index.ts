/**
 * The providers this package receives from: the one list that the node files, the CLI, the
 * samples, `npm start`, the JSON Schema build and the package's exports go through.
 * Adding a provider is adding its module here.
 */
import type { z } from "zod";
import type { SomeProvider } from "../receive/provider.js";
import { mentra } from "./mentra.js";
import { meshagent } from "./meshagent.js";
import { standard } from "./standard.js";
import { synthesis } from "./synthesis.js";
import { wms } from "./wms.js";

export const PROVIDERS = [mentra, wms, synthesis, meshagent, standard] as const satisfies readonly SomeProvider[];

type Listed = (typeof PROVIDERS)[number];
/** "mentra" | "wms" | …: the short names, as msg.webhook.provider carries them. */
export type ProviderName = Listed["name"];
/** The event a node of provider `Name` emits in msg.payload, as its schema validated it. */
export type EventOf<Name extends ProviderName> = z.output<Extract<Listed, { readonly name: Name }>["schema"]>;

/** The provider called `name` (its short name or its node type), if any. */
export function providerNamed(name: string): SomeProvider | undefined {
    return PROVIDERS.find((provider) => provider.name === name || provider.nodeType === name);
}
