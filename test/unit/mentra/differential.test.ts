// Differential: the same scenarios driven by the real @mentra/sdk 2.1.29 (AppSession) and by this
// package's Mentra app, each against a fake cloud of its own, and the frames each cloud received
// compared field by field (and in the SDK's field order): we send what the SDK sends.
import assert = require("node:assert/strict");
import { MentraApp, type AppInput } from "../../../nodes/mentra/app.js";
import { displayOf } from "../../../nodes/mentra/messages.js";
import { FakeMentraCloud, type CloudFrame } from "../../support/fake-mentra-cloud.js";

const APP = { packageName: "com.example.captions", apiKey: "differential-api-key" };
const SESSION = "jane@example.com-com.example.captions";
const USER = "jane@example.com";

/** The slice of the SDK's AppSession these scenarios drive. */
interface SdkSession {
    connect(sessionId: string): Promise<void>;
    releaseOwnership(reason: string): Promise<void>;
    disconnect(): Promise<void>;
    events: {
        onTranscriptionForLanguage(language: string, handler: (data: unknown) => void): () => void;
        onButtonPress(handler: (data: unknown) => void): () => void;
    };
    layouts: {
        showTextWall(text: string): void;
        showDoubleTextWall(top: string, bottom: string): void;
        showReferenceCard(title: string, text: string): void;
        showDashboardCard(left: string, right: string): void;
        clearView(): void;
    };
}
type SdkModule = { AppSession: new (config: Record<string, unknown>) => SdkSession };

/** What the SDK's session asks of its AppServer: a logger, kept quiet. */
const quietLogger = { child: () => quietLogger, info() {}, debug() {}, warn() {}, error() {}, trace() {}, fatal() {} };

/** A frame with its timestamp checked (an ISO 8601 time) and set aside: the one field that must differ. */
function comparable(frame: CloudFrame["frame"]): Record<string, unknown> {
    assert.equal(typeof frame.timestamp, "string", `${frame.type} has a timestamp`);
    assert.ok(!Number.isNaN(Date.parse(frame.timestamp as string)), `${frame.type}'s timestamp is a time`);
    return { ...frame, timestamp: "<time>" };
}

function assertSameFrames(ours: CloudFrame[], sdk: CloudFrame[], what: string): void {
    assert.equal(ours.length, sdk.length, `${what}: as many frames`);
    ours.forEach((frame, index) => {
        const theirs = sdk[index]!.frame;
        assert.deepEqual(Object.keys(frame.frame), Object.keys(theirs), `${what} #${index}: the same fields, in the same order`);
        assert.deepEqual(comparable(frame.frame), comparable(theirs), `${what} #${index}`);
    });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("differential: our frames are the SDK 2.1.29's", function () {
    this.timeout(20_000);
    let sdkCloud: FakeMentraCloud;
    let ourCloud: FakeMentraCloud;
    let app: MentraApp | undefined;
    let sdk: SdkModule;
    before(async () => {
        sdk = (await import("@mentra/sdk")) as unknown as SdkModule;
    });
    beforeEach(async () => {
        sdkCloud = await FakeMentraCloud.start(APP);
        ourCloud = await FakeMentraCloud.start(APP);
    });
    afterEach(async () => {
        app?.close("test over");
        await Promise.all([sdkCloud.stop(), ourCloud.stop()]);
    });

    it("joins, subscribes, shows every layout and releases a session as the SDK does", async () => {
        // The SDK: handlers for transcription (en-US) and button presses; then the calls an app makes.
        const session = new sdk.AppSession({ ...APP, mentraOSWebsocketUrl: sdkCloud.url, appServer: { logger: quietLogger }, userId: USER });
        session.events.onTranscriptionForLanguage("en-US", () => {});
        session.events.onButtonPress(() => {});
        await session.connect(SESSION);
        await sdkCloud.waitFor("subscription_update");
        session.layouts.showTextWall("hello glasses");
        session.layouts.showDoubleTextWall("top line", "bottom line");
        session.layouts.showReferenceCard("Card", "card text");
        session.layouts.showDashboardCard("left", "right");
        session.layouts.clearView();
        await sdkCloud.waitFor("display_event", 5);
        await session.releaseOwnership("switching_clouds");
        await sdkCloud.waitFor("ownership_release");

        // Ours: two mentra-in nodes' streams, five mentra-out messages (one per display interval), a repeated session_request.
        app = new MentraApp(APP);
        const input = (streams: AppInput["streams"]): AppInput => ({ streams, data() {}, lifecycle() {} });
        app.addInput(input([{ kind: "transcription", language: "en-US" }]));
        app.addInput(input([{ kind: "button_press" }]));
        app.join(SESSION, USER, ourCloud.url);
        await ourCloud.waitFor("subscription_update");
        const messages = [
            [{ payload: "hello glasses" }, { layout: "text_wall" }],
            [{ payload: { topText: "top line", bottomText: "bottom line" } }, { layout: "double_text_wall" }],
            [{ payload: "card text", title: "Card" }, { layout: "reference_card" }],
            [{ payload: { leftText: "left", rightText: "right" } }, { layout: "dashboard_card" }],
            [{ payload: "" }, { layout: "clear_view" }],
        ] as const;
        for (const [message, config] of messages) {
            app.display(SESSION, displayOf({ ...message }, config));
            await sleep(320); // one per interval: each goes out as it is, as the SDK's do
        }
        await ourCloud.waitFor("display_event", 5);
        const other = await FakeMentraCloud.start(APP);
        try {
            app.join(SESSION, USER, other.url);
            await ourCloud.waitFor("ownership_release");
        } finally {
            await other.stop();
        }

        assertSameFrames(ourCloud.received("tpa_connection_init"), sdkCloud.received("tpa_connection_init"), "tpa_connection_init");
        const [ourUpdate, sdkUpdate] = [ourCloud.received("subscription_update")[0]!.frame, sdkCloud.received("subscription_update")[0]!.frame];
        assert.deepEqual(Object.keys(ourUpdate), Object.keys(sdkUpdate), "subscription_update: the same fields, in the same order");
        // The SDK lists streams in the order handlers were registered; the cloud takes the list as a set.
        const asSet = (frame: CloudFrame["frame"]) => ({ ...comparable(frame), subscriptions: [...(frame.subscriptions as string[])].sort() });
        assert.deepEqual(asSet(ourUpdate), asSet(sdkUpdate));
        assertSameFrames(ourCloud.received("display_event"), sdkCloud.received("display_event"), "display_event");
        assertSameFrames(ourCloud.received("ownership_release"), sdkCloud.received("ownership_release"), "ownership_release");
        await session.disconnect().catch(() => {});
    });
});
