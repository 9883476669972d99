/**
 * The providers this package receives from: the one list that the node files, the CLI, the
 * samples, `npm start`, the JSON Schema build and the package's exports go through.
 * Adding a provider is adding its module here.
 */
import type { AnyProvider } from "../core/provider.js";
import { mentra } from "./mentra.js";
import { meshagent } from "./meshagent.js";
import { standard } from "./standard.js";
import { synthesis } from "./synthesis.js";
import { wms } from "./wms.js";

export const PROVIDERS: readonly AnyProvider[] = [mentra, wms, synthesis, meshagent, standard];

/** The provider called `name` (its short name or its node type), if any. */
export function providerNamed(name: string): AnyProvider | undefined {
    return PROVIDERS.find((provider) => provider.name === name || provider.nodeType === name);
}
