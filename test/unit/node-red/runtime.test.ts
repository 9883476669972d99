// The one object a Node-RED runtime holds of this package: made once, closing its stores on disk
// when the runtime stops (not when a deploy does), and opening them again on next use.
import assert = require("node:assert/strict");
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import express = require("express");
import type { NodeAPI } from "node-red";
import { WebhooksRuntime } from "../../../nodes/node-red/runtime.js";
import { allPending } from "../../../nodes/keep/kept-events.js";

type Listener = (event: unknown) => void;

/** The parts of Node-RED's node API the runtime object uses, with its events' listeners kept to fire them. */
function fakeRED(userDir: string): { RED: NodeAPI; emit(name: string, event: unknown): void; listening(name: string): number } {
    const listeners = new Map<string, Listener[]>();
    const RED = {
        httpAdmin: express(),
        httpNode: express(),
        hooks: { add() {}, remove() {} },
        comms: { publish() {} },
        auth: { needsPermission: () => (_req: unknown, _res: unknown, next: () => void) => next() },
        settings: { userDir },
        nodes: { getNode: () => null, getCredentials: () => undefined },
        events: {
            on: (name: string, listener: Listener) => void listeners.set(name, [...(listeners.get(name) ?? []), listener]),
            off: (name: string, listener: Listener) => void listeners.set(name, (listeners.get(name) ?? []).filter((each) => each !== listener)),
            once() {},
        },
        _: (key: string) => key,
    } as unknown as NodeAPI;
    return { RED, emit: (name, event) => listeners.get(name)?.forEach((listener) => listener(event)), listening: (name) => listeners.get(name)?.length ?? 0 };
}

const kept = (deliveryId: string) => ({ deliveryId, index: 0, receivedAt: "2026-01-01T10:00:00.000Z", verified: true, test: false, remoteAddress: undefined, payload: "{}" });
const stopped = (deploy: boolean) => ({ id: "runtime-state", payload: { state: "stop", deploy } });
/** Lets the close the runtime event started finish. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe("the runtime object", () => {
    let userDir: string;
    beforeEach(() => {
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), "vw-runtime-"));
    });
    afterEach(() => fs.rmSync(userDir, { recursive: true, force: true }));

    it("is one per Node-RED runtime", () => {
        const one = fakeRED(userDir).RED;
        assert.equal(WebhooksRuntime.of(one), WebhooksRuntime.of(one));
        assert.notEqual(WebhooksRuntime.of(one), WebhooksRuntime.of(fakeRED(userDir).RED));
    });

    it("keeps its LMDB store open across a deploy, closes it when the runtime stops, and opens it again on next use", async () => {
        const { RED, emit, listening } = fakeRED(userDir);
        const runtime = WebhooksRuntime.of(RED);
        assert.equal(listening("runtime-event"), 0, "nothing open, nothing to close");
        const store = runtime.lmdbStore();
        assert.equal(listening("runtime-event"), 1);
        await store.forEndpoint("synthesis:/a").put([kept("d-1")]);
        emit("runtime-event", stopped(true));
        await settle();
        assert.equal(runtime.lmdbStore(), store, "a deploy stops flows, not the runtime");

        emit("runtime-event", stopped(false));
        await settle();
        await assert.rejects(async () => store.forEndpoint("synthesis:/a").put([kept("d-2")]), "closed: nothing writes through it any more");
        assert.equal(listening("runtime-event"), 0, "closed: it listens no more (a test harness makes a runtime per test)");
        const reopened = runtime.lmdbStore();
        assert.notEqual(reopened, store);
        assert.deepEqual((await allPending(reopened.forEndpoint("synthesis:/a"))).map((event) => event.deliveryId), ["d-1"], "what it held is read back");
        await runtime.close();
    });

    it("writes what the de-duplication journal holds before it closes: a start after a stop knows what was seen", async () => {
        const { RED, emit } = fakeRED(userDir);
        const runtime = WebhooksRuntime.of(RED);
        const limits = { windowMs: 60_000, maxEntries: 100 };
        const state = runtime.endpointStates((error) => assert.fail(String(error))).acquire("wms:/wms", limits);
        state.reserve("wms:/wms", [{ key: "event-1" }]).commit();
        emit("runtime-event", stopped(false));
        await settle();
        const after = runtime.endpointStates((error) => assert.fail(String(error))).acquire("wms:/wms", limits);
        assert.notEqual(after, state, "read back from the journal, as after a restart");
        assert.deepEqual(after.reserve("wms:/wms", [{ key: "event-1" }, { key: "event-2" }]).statuses, ["seen", "new"]);
        await runtime.close();
    });
});
