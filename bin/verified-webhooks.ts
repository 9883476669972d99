#!/usr/bin/env node
/**
 * verified-webhooks: sends a correctly signed sample delivery, exactly as the provider
 * would, to a webhook URL (a receiver node of this package, or anything else).
 */
import { parseArgs } from "node:util";
import { TEST_DELIVERY_HEADER, TEST_OUTCOME_HEADER } from "../nodes/receive/pipeline.js";
import { curlCommand, deliveryUrl, sampleDelivery, sampleNames } from "../nodes/providers/signing.js";
import { PROVIDERS, providerNamed } from "../nodes/providers/index.js";

const PROVIDER_NAMES = PROVIDERS.map((provider) => provider.name);

const USAGE = `Usage:
  verified-webhooks send <provider> <url> [--secret-env <NAME> | --secret - | --secret <secret>]
                         [--event <name>] [--repeat] [--curl]
  verified-webhooks events [<provider>]

  <provider>    ${PROVIDER_NAMES.join(" | ")}
  <url>         the URL you give the provider (for Mentra, the app's Public URL:
                the cloud appends /webhook, and so does this tool)
  --secret-env  the name of an environment variable holding the secret
  --secret -    read the secret from standard input (its first line)
  --secret      the secret itself (it then shows in the process list: prefer the two above)
                wms: the MAC secret; meshagent: the webhook secret;
                mentra, synthesis: the token, appended to the URL as its last segment
  --event       which sample to send (default: the provider's first; see "events")
  --repeat      send it twice, byte for byte, as a provider's retry would: the second is
                a duplicate, answered 2xx, and reaches no flow
  --curl        print the equivalent curl command instead of sending; it is signed now,
                and a provider with a time check (wms, standard) refuses it once it is
                older than its window: run this tool again for a fresh one

Each run sends a new event (new ids, the next sequence, the current time), so a second
run is not a duplicate of the first. The samples carry the header x-verified-webhooks-test: 1,
so a receiver node of this package marks them msg.webhook.test when their signature or
token verifies, and says in its answer whether it was new or a duplicate.

Exit status: 0 when the receiver answered 2xx, 1 otherwise, 2 for a usage error.`;

/** Help asked for (--help): on standard output, exit 0. A usage error: on standard error, exit 2. */
function usage(message?: string): never {
    if (message === undefined) {
        console.log(USAGE);
        process.exit(0);
    }
    console.error(`verified-webhooks: ${message}\n`);
    console.error(USAGE);
    process.exit(2);
}

/** The first line of standard input. */
async function readStdinLine(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "";
}

/** The secret from --secret-env, standard input (--secret -) or --secret; undefined when none is given. */
async function secretFrom(values: { secret?: string; "secret-env"?: string }): Promise<string | undefined> {
    if (values["secret-env"] !== undefined) {
        if (values.secret !== undefined) usage("give either --secret or --secret-env");
        const value = process.env[values["secret-env"]];
        if (value === undefined || value === "") usage(`the environment variable ${values["secret-env"]} is not set`);
        return value;
    }
    if (values.secret === "-") {
        const value = await readStdinLine();
        if (!value) usage("no secret on standard input");
        return value;
    }
    return values.secret;
}

/** One line on what the receiver did with a test event, when it says (a receiver node of this package). */
function outcomeLine(response: Response): string | undefined {
    const outcome = response.headers.get(TEST_OUTCOME_HEADER);
    const deliveryId = response.headers.get(TEST_DELIVERY_HEADER);
    const id = deliveryId ? ` (delivery ${deliveryId.slice(0, 8)})` : "";
    if (outcome === "duplicate") return `duplicate${id}: the receiver had this event already; nothing reached the flow`;
    if (outcome === "accepted") return `accepted${id}: a new event, on its way into the flow`;
    return undefined;
}

async function send(positionals: string[], values: { secret?: string; "secret-env"?: string; event?: string; curl?: boolean; repeat?: boolean }): Promise<number> {
    const [provider, url] = positionals;
    const chosen = provider === undefined ? undefined : providerNamed(provider);
    if (!chosen) usage(`unknown provider ${provider ?? "(none)"}`);
    if (!url || !/^https?:\/\//.test(url)) usage("a http:// or https:// URL is required");
    const secret = await secretFrom(values);
    let delivery;
    try {
        delivery = await sampleDelivery(chosen, values.event, secret);
    } catch (error) {
        usage((error as Error).message);
    }
    if (values.curl) {
        console.log(curlCommand(url, delivery));
        return 0;
    }
    let ok = true;
    for (let time = 0; time < (values.repeat ? 2 : 1); time++) {
        const response = await fetch(deliveryUrl(url, delivery), { method: "POST", headers: delivery.headers, body: delivery.body });
        console.log(`${response.status} ${(await response.text()).trim()}`);
        const line = outcomeLine(response);
        if (line) console.log(line);
        ok &&= response.ok;
    }
    return ok ? 0 : 1;
}

function events(positionals: string[]): number {
    const providers = positionals.length ? positionals : [...PROVIDER_NAMES];
    for (const name of providers) {
        const provider = providerNamed(name);
        if (!provider) usage(`unknown provider ${name}`);
        console.log(`${provider.name}: ${sampleNames(provider).join(", ")}`);
    }
    return 0;
}

async function main(): Promise<number> {
    let parsed;
    try {
        parsed = parseArgs({
            allowPositionals: true,
            options: {
                secret: { type: "string", short: "s" },
                "secret-env": { type: "string" },
                event: { type: "string", short: "e" },
                curl: { type: "boolean" },
                repeat: { type: "boolean" },
                help: { type: "boolean", short: "h" },
            },
        });
    } catch (error) {
        usage((error as Error).message);
    }
    const [command, ...rest] = parsed.positionals;
    if (parsed.values.help) usage();
    if (!command) usage("a command is needed: send or events");
    if (command === "send") return send(rest, parsed.values);
    if (command === "events") return events(rest);
    usage(`unknown command ${command}`);
}

main().then(
    (code) => process.exit(code),
    (error: Error) => {
        console.error(`verified-webhooks: ${error.message}`);
        process.exit(1);
    },
);
