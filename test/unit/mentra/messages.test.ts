// What the Mentra nodes make of their options and messages: the stream a mentra in node asks for,
// the messages of a session's lifecycle (its second output), what a mentra out message shows.
import assert = require("node:assert/strict");
import { displayOf, lifecycleMessage, streamRequestOf } from "../../../nodes/mentra/messages.js";

const session = { sessionId: "s-1", userId: "jane@example.com" } as never;

describe("Mentra node messages", () => {
    it("reads a mentra in node's stream: languages as the SDK takes them, auto for transcription only, the location rates", () => {
        assert.deepEqual(streamRequestOf({}), { kind: "transcription", language: "en-US" });
        assert.deepEqual(streamRequestOf({ stream: "transcription", language: "auto" }), { kind: "transcription", language: "auto" });
        assert.match(String(streamRequestOf({ stream: "transcription", language: "english" })), /en-US/);
        assert.deepEqual(streamRequestOf({ stream: "translation", language: "de-DE", target: "en-US" }), { kind: "translation", language: "de-DE", target: "en-US" });
        assert.equal(typeof streamRequestOf({ stream: "translation", language: "auto" }), "string", "the SDK takes no auto source for a translation");
        assert.deepEqual(streamRequestOf({ stream: "location_stream" }), { kind: "location_stream", rate: "standard" });
        assert.equal(typeof streamRequestOf({ stream: "location_stream", rate: "warp" }), "string");
        assert.deepEqual(streamRequestOf({ stream: "button_press" }), { kind: "button_press" });
        assert.match(String(streamRequestOf({ stream: "audio_chunk" })), /unknown stream/);
    });

    it("makes a message of each lifecycle event, msg.topic saying which, with the session and the user", () => {
        const started = lifecycleMessage({ type: "started", session, ack: { type: "tpa_connection_ack", settings: [], augmentosSettings: { brightness: 50 }, capabilities: { modelName: "G1" } } });
        assert.deepEqual(started, { topic: "session_started", payload: { settings: [], mentraosSettings: { brightness: 50 }, capabilities: { modelName: "G1" } }, sessionId: "s-1", userId: "jane@example.com" });
        assert.deepEqual(lifecycleMessage({ type: "ended", session, end: { reason: "Invalid API key", code: "INVALID_API_KEY" } }).payload, { reason: "Invalid API key", code: "INVALID_API_KEY" });
        assert.equal(lifecycleMessage({ type: "error", session, error: { code: "PERMISSION_DENIED", message: "no microphone" } }).topic, "session_error");
        assert.equal(lifecycleMessage({ type: "notice", session, notice: "permission_error", frame: { type: "permission_error" } }).topic, "permission_error");
    });

    it("shows what a mentra out message asks for: msg.layout and msg.view over the node's, a dashboard card on the dashboard", () => {
        assert.deepEqual(displayOf({ payload: "hi" }, {}), { layout: { layoutType: "text_wall", text: "hi" }, view: "main" });
        assert.deepEqual(displayOf({ payload: { leftText: "l", rightText: "r" } }, { layout: "dashboard_card" }).view, "dashboard");
        assert.deepEqual(displayOf({ payload: "x", layout: "reference_card", title: "T", view: "dashboard", durationMs: 2000 }, { layout: "text_wall" }), {
            layout: { layoutType: "reference_card", title: "T", text: "x" },
            view: "dashboard",
            durationMs: 2000,
        });
        assert.equal(displayOf({ payload: "x", layout: "bitmap_view" }, {}).layout.layoutType, "text_wall", "a layout it does not build falls back to the node's");
        assert.equal(displayOf({ payload: "x", durationMs: -5 }, {}).durationMs, undefined);
    });
});
