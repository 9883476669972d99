// The session protocol's pure rules: frames as the SDK 2.1.29 builds them, what the cloud sends, closes and reconnects.
import assert = require("node:assert/strict");
import {
    displayFrame,
    initFrame,
    layoutOf,
    ownershipReleaseFrame,
    readCloudFrame,
    reconnectsAfter,
    streamMatches,
    subscriptionFrame,
    subscriptionList,
} from "../../../nodes/mentra/protocol.js";

const AT = new Date("2026-12-05T10:00:00.000Z");

describe("Mentra session protocol", () => {
    it("builds the app's frames field for field, in the SDK's order", () => {
        assert.equal(initFrame("s-1", "com.example.app", "key", AT), '{"type":"tpa_connection_init","sessionId":"s-1","packageName":"com.example.app","apiKey":"key","timestamp":"2026-12-05T10:00:00.000Z"}');
        assert.equal(subscriptionFrame("s-1", "com.example.app", ["transcription:en-US"], AT), '{"type":"subscription_update","packageName":"com.example.app","subscriptions":["transcription:en-US"],"sessionId":"s-1","timestamp":"2026-12-05T10:00:00.000Z"}');
        assert.equal(ownershipReleaseFrame("s-1", "com.example.app", "switching_clouds", AT), '{"type":"ownership_release","packageName":"com.example.app","sessionId":"s-1","reason":"switching_clouds","timestamp":"2026-12-05T10:00:00.000Z"}');
        assert.equal(
            displayFrame("com.example.app", { layout: { layoutType: "text_wall", text: "hi" }, view: "main" }, AT),
            '{"timestamp":"2026-12-05T10:00:00.000Z","sessionId":"","type":"display_event","packageName":"com.example.app","view":"main","layout":{"layoutType":"text_wall","text":"hi"}}',
        );
    });

    it("derives the subscriptions from what the nodes ask for: each once, location with its rate", () => {
        assert.deepEqual(
            subscriptionList([
                { kind: "transcription", language: "en-US" },
                { kind: "button_press" },
                { kind: "transcription", language: "en-US" },
                { kind: "translation", language: "de-DE", target: "en-US" },
                { kind: "location_stream", rate: "high" },
            ]),
            ["button_press", { stream: "location_stream", rate: "high" }, "transcription:en-US", "translation:de-DE-to-en-US"],
        );
        assert.deepEqual(subscriptionList([]), []);
    });

    it("matches data streams to what a node asked for (a bare transcription is en-US; auto takes every language)", () => {
        assert.ok(streamMatches({ kind: "transcription", language: "en-US" }, "transcription:en-US"));
        assert.ok(streamMatches({ kind: "transcription", language: "en-US" }, "transcription"));
        assert.ok(!streamMatches({ kind: "transcription", language: "de-DE" }, "transcription:en-US"));
        assert.ok(streamMatches({ kind: "transcription", language: "auto" }, "transcription:fr-FR"));
        assert.ok(streamMatches({ kind: "translation", language: "de-DE", target: "en-US" }, "translation:de-DE-to-en-US"));
        assert.ok(streamMatches({ kind: "button_press" }, "button_press"));
        assert.ok(!streamMatches({ kind: "button_press" }, "head_position"));
    });

    it("reads the cloud's frames, and names what it cannot read", () => {
        assert.equal(readCloudFrame('{"type":"tpa_connection_ack","sessionId":"s","settings":[]}').kind, "ack");
        assert.equal(readCloudFrame('{"type":"tpa_connection_error","code":"INVALID_API_KEY","message":"no"}').kind, "error");
        assert.equal(readCloudFrame('{"type":"data_stream","streamType":"button_press","data":{"buttonId":"a","pressType":"short"}}').kind, "data");
        assert.deepEqual(readCloudFrame('{"type":"data_stream","data":{}}'), { kind: "malformed", reason: "a data_stream frame without its fields" });
        assert.equal(readCloudFrame("not json").kind, "malformed");
        assert.equal(readCloudFrame("[1]").kind, "malformed");
        assert.deepEqual(readCloudFrame('{"type":"settings_update","settings":[]}'), { kind: "other", type: "settings_update", frame: { type: "settings_update", settings: [] } });
    });

    it("reconnects after a drop, never after a normal close, a refused key, App stopped or the end of the user's session", () => {
        assert.equal(reconnectsAfter(1006, ""), true);
        assert.equal(reconnectsAfter(1011, "internal"), true);
        for (const code of [1000, 1001, 1008]) assert.equal(reconnectsAfter(code, ""), false, String(code));
        assert.equal(reconnectsAfter(4000, "App stopped"), false);
        assert.equal(reconnectsAfter(4000, "User session ended"), false);
    });

    it("makes each layout from msg.payload, texts bounded", () => {
        assert.deepEqual(layoutOf("text_wall", "hello"), { layoutType: "text_wall", text: "hello" });
        assert.deepEqual(layoutOf("text_wall", { text: "from an object" }), { layoutType: "text_wall", text: "from an object" });
        assert.deepEqual(layoutOf("text_wall", 42), { layoutType: "text_wall", text: "42" });
        assert.deepEqual(layoutOf("double_text_wall", { topText: "a", bottomText: "b" }), { layoutType: "double_text_wall", topText: "a", bottomText: "b" });
        assert.deepEqual(layoutOf("reference_card", "body", { title: "from msg.title" }), { layoutType: "reference_card", title: "from msg.title", text: "body" });
        assert.deepEqual(layoutOf("dashboard_card", { leftText: "l", rightText: "r" }), { layoutType: "dashboard_card", leftText: "l", rightText: "r" });
        assert.deepEqual(layoutOf("clear_view", "ignored"), { layoutType: "clear_view" });
        assert.equal((layoutOf("text_wall", "x".repeat(20_000)) as { text: string }).text.length, 10_000);
    });
});
