// The verified bytes are the record: for every provider, what the flow was handed, what the
// delivery log shows, what a replay emits and what a restart after kill -9 redelivers are the
// same events, derived from the bytes received (a batch's odd spacing, escapes and invalid
// elements, and Mentra's normalised URLs included).
import assert = require("node:assert/strict");
import { until } from "../support/assertions.js";
import { NodeRedProcess, request, Collector, type FlowNode, type Tapped } from "../support/node-red-process.js";
import { mentraSession } from "../support/fixtures.js";
import { PROVIDERS } from "../../nodes/providers/index.js";
import type { SomeProvider } from "../../nodes/receive/provider.js";
import { sampleNames, signDelivery } from "../../nodes/providers/signing.js";
import type { DeliveryDetails } from "../../nodes/log/delivery-log.js";

const TAB = "tab-record";
const providers = PROVIDERS as unknown as readonly SomeProvider[];
const secretOf = (provider: SomeProvider) => provider.demoSecret ?? `token-${provider.name}-0123456789`;

/**
 * One receiver per provider, keeping its deliveries, each wired to the collector and to a
 * delay node that holds every event for a minute: acknowledged, never handled before the kill.
 */
function recordFlow(collector: Collector): FlowNode[] {
    const flows: FlowNode[] = [{ id: TAB, type: "tab", label: "record" }];
    providers.forEach((provider, index) => {
        const [taps, wires] = collector.tap(provider.name, TAB, 400, index * 120);
        const hold = `${provider.name}-hold`;
        flows.push(
            { id: `${provider.name}-in`, type: provider.nodeType, z: TAB, name: provider.name, path: `/record/${provider.name}`, keep: true, x: 150, y: index * 120 + 60, wires: [[...wires[0]!, hold], wires[1]!], credentials: { secret: secretOf(provider) } },
            { id: hold, type: "delay", z: TAB, pauseType: "delay", timeout: "60", timeoutUnits: "seconds", rate: "1", nbRateUnits: "1", rateUnits: "second", randomFirst: "1", randomLast: "5", randomUnits: "seconds", drop: false, allowrate: false, outputs: 1, x: 400, y: index * 120 + 110, wires: [[]] },
            ...taps,
        );
    });
    return flows;
}

/** What each provider sends: its samples; SynthesisVR also a batch as a client may space it, with an invalid element; Mentra a URL it normalises. */
async function deliveriesOf(provider: SomeProvider): Promise<{ body: string; headers: Record<string, string>; pathSuffix: string }[]> {
    const secret = secretOf(provider);
    const signed = await Promise.all(sampleNames(provider).map((name) => signDelivery(provider, provider.samples[name]!(), secret)));
    if (provider.name === "synthesis") {
        const odd =
            '\ufeff [ {"uuid":"rec-1","action":"create","location":"K\\u00e4men \\"Nord\\", [1]","stations":2} ,\n' +
            '{"action":"create"},\t{"uuid":"rec-2","action":"update","location":"Straße ],[{ ✓","customerid":null, "extra":{"a":[1,{"b":"}"}]}} ]\n';
        signed.push({ body: odd, headers: { "content-type": "application/json" }, pathSuffix: `/${encodeURIComponent(secret)}` });
    }
    if (provider.name === "mentra") {
        const session = mentraSession({ sessionId: "jane.doe@example.com-com.example.record", websocketUrl: "wss://PROD.Mentra.glass:443/ws/miniapp", mentraOSWebsocketUrl: "wss://Prod.mentra.glass:443/app-ws?x=1" });
        signed.push(await signDelivery(provider, session, secret));
    }
    return signed;
}

const payloadsOf = (messages: readonly Tapped[]) => messages.map((message) => message.payload);

describe("end to end: the verified bytes are the record", function () {
    this.timeout(120000);
    let collector: Collector;
    let first: NodeRedProcess;
    let second: NodeRedProcess | undefined;

    before(async () => {
        collector = await new Collector().start();
        first = await new NodeRedProcess().start();
        await first.deploy(recordFlow(collector));
    });
    after(async () => {
        await second?.stop();
        await first?.stop();
        await collector?.stop();
    });

    it("for every provider: the flow, the log, a replay and a redelivery after kill -9 see the same events", async () => {
        const emitted = new Map<string, Tapped[]>();
        for (const provider of providers) {
            const deliveries = await deliveriesOf(provider);
            for (const delivery of deliveries) {
                const answer = await first.post(`/record/${provider.name}${delivery.pathSuffix}`, delivery.body, delivery.headers);
                assert.equal(answer.status, 200, `${provider.name}: ${answer.text}`);
            }
            const wanted = sampleNames(provider).filter((name) => !provider.wanted || provider.wanted(provider.samples[name]!(), provider.options({}))).length;
            const extra = provider.name === "synthesis" ? 2 : provider.name === "mentra" ? 1 : 0;
            const received = await collector.waitFor(`${provider.name}:1`, wanted + extra);
            emitted.set(provider.name, [...received]);
        }
        const mentra = emitted.get("mentra")!.at(-1)!;
        assert.equal((mentra.payload as { websocketUrl: string }).websocketUrl, "wss://prod.mentra.glass/ws/miniapp", "emitted normalised");
        const odd = emitted.get("synthesis")!.slice(-2);
        assert.deepEqual(odd.map((message) => (message.payload as { location: string }).location), ['Kämen "Nord", [1]', "Straße ],[{ ✓"]);

        const details = async (process: NodeRedProcess, deliveryId: string) => (await request<DeliveryDetails>(process.adminUrl(`/verified-webhooks/deliveries/${deliveryId}`))).json;
        for (const provider of providers) {
            const messages = emitted.get(provider.name)!;
            for (const deliveryId of new Set(messages.map((message) => message.webhook.deliveryId))) {
                const group = messages.filter((message) => message.webhook.deliveryId === deliveryId);
                // The tab shows what the flow was handed.
                const shown = await details(first, deliveryId);
                assert.deepEqual(shown.emitted.map((event) => event.payload), payloadsOf(group), `${provider.name}: the log shows ${deliveryId} as emitted`);
                // A replay emits it again, unchanged.
                const replay = await request<{ deliveryId: string }>(first.adminUrl(`/verified-webhooks/deliveries/${deliveryId}/replay`), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
                assert.equal(replay.status, 200, replay.text);
                const again = () => collector.list(`${provider.name}:1`).filter((message) => message.webhook.replayOf === deliveryId);
                await until(async () => again().length, (count) => count === group.length, `the replay of ${deliveryId}`);
                assert.deepEqual(payloadsOf(again()), payloadsOf(group), `${provider.name}: the replay of ${deliveryId} emits the same events`);
            }
        }

        // Every event is held by a delay node: acknowledged, kept, not handled. kill -9, start again.
        collector.clear();
        await first.kill();
        second = await new NodeRedProcess({ userDir: first.userDir }).start();
        for (const provider of providers) {
            const original = emitted.get(provider.name)!;
            const redelivered = await collector.waitFor(`${provider.name}:1`, original.length, 15000);
            assert.ok(redelivered.every((message) => message.webhook.redelivered === true));
            const byId = (messages: readonly Tapped[]) => [...messages].sort((a, b) => `${a.webhook.deliveryId}:${a.parts?.index ?? 0}`.localeCompare(`${b.webhook.deliveryId}:${b.parts?.index ?? 0}`));
            assert.deepEqual(payloadsOf(byId(redelivered)), payloadsOf(byId(original)), `${provider.name}: redelivered from the bytes kept, unchanged`);
            // The log of the process that started again shows them as they were emitted too.
            const one = redelivered[0]!;
            const shown = await details(second, one.webhook.deliveryId);
            const sameDelivery = byId(redelivered.filter((message) => message.webhook.deliveryId === one.webhook.deliveryId));
            assert.deepEqual(shown.emitted.map((event) => event.payload), payloadsOf(sameDelivery), `${provider.name}: the log after the restart`);
        }
    });
});
