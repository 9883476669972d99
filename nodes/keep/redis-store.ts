/**
 * "Keep deliveries until handled" across several Node-RED instances: a Redis Stream per
 * endpoint with one consumer group. An instance adds a delivery's events and reads them into
 * its own pending list in one script (so it owns them from the start), emits them, and
 * acknowledges and deletes each once the flow handled it (XACK, XDEL). Its pending entries
 * are what it still owes: it reads them back after a restart (its consumer name is kept in
 * its user directory), and while it runs it touches them (XCLAIM JUSTID) so they never look
 * idle. An instance that died stops touching its entries: after the claim timeout the others
 * take them over (XAUTOCLAIM) and emit them. Redis counts every read and claim of an entry,
 * which is the attempt count. Parked events move to a second stream, kept for a replay.
 *
 * The events are as durable as Redis makes them: with `appendonly yes` and `appendfsync
 * always` a 2xx means they are on Redis's disk; with Redis's defaults, in its memory.
 *
 * Whoever else can write to the Redis is not trusted: every entry carries a MAC over all its
 * fields and its stream's name, keyed by the state node's entry key (a credential, never in
 * Redis). An entry that fails it is never emitted nor listed, and is reported once.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { DEFAULT_KEPT_LIMITS, KeptFull, PARKED_MAX_AGE_MS } from "./lmdb-store.js";
import type { KeptEvent, KeptEvents, NewKeptEvent } from "./kept-events.js";
import { join } from "node:path";
import { boundedCall, type RedisCallOptions, type RedisScripting } from "../redis/calls.js";
import { luaScript } from "../redis/lua.js";
import { textOf } from "../receive/record.js";

/** Calls are bounded and reported as de-duplication's are: a put slower than timeoutMs fails (503). */
export interface RedisKeptOptions extends RedisCallOptions {
    /** The endpoint's stream; its parked events go to `${stream}:parked`. */
    readonly stream: string;
    readonly group: string;
    /** This instance, the same across its restarts. */
    readonly consumer: string;
    /** An entry its owner has not touched for this long is taken over by another instance. */
    readonly claimAfterMs: number;
    /** The most events, and characters of payload, the endpoint's stream holds: past them a put fails (503). */
    readonly limits?: { readonly maxEvents: number; readonly maxBytes: number };
    /** Parked entries older than this are dropped. */
    readonly parkedMaxAgeMs?: number;
    /** Authenticates the entries (kept outside Redis; the same on every instance). */
    readonly entryKey: Buffer;
    /** An entry of this stream failed authentication: told once per store. */
    readonly onForged?: (stream: string) => void;
}

/** Forgotten entries are acknowledged and deleted in batches, this often. */
const FORGET_INTERVAL_MS = 100;
/** Entries read, claimed or forgotten per call. */
const PAGE = 200;
const FIELDS_PER_EVENT = 8;

// Its Lua scripts, each with its KEYS and ARGV, in lua/; they take the page size and the fields per event from here.
const script = (name: string) => luaScript(join(__dirname, "lua"), name, { PAGE, FIELDS_PER_EVENT });
const PUT = script("put");
const OWN_PENDING = script("own-pending");
const TAKE_OVER = script("take-over");
const TOUCH = script("touch");
const FORGET = script("forget");
const PARK = script("park");
const PARKED_PAGE = script("parked-page");

/** Handles of parked events start with this (their ids are the parked stream's). */
const PARKED = "parked:";

type Fields = Record<string, string>;
/** Where pending() goes on: this consumer's pending entries after an id, then the parked ones after one. */
type PendingCursor = { readonly parked: boolean; readonly after: string };
type EntryWithCount = [string, string[], number];

function fieldsOf(flat: readonly string[]): Fields {
    const fields: Fields = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return fields;
}

/** The fields of an entry, in the order the scripts write them (the MAC follows). */
function fieldValuesOf(event: NewKeptEvent): string[] {
    return [event.deliveryId, String(event.index), event.receivedAt, event.verified ? "1" : "0", event.test ? "1" : "0", event.remoteAddress ?? "", textOf(event.payload)];
}

/** The MAC of an entry: over its stream, its fields and, parked, its attempts. */
function macOf(key: Buffer, stream: string, values: readonly string[], attempts?: string): string {
    const mac = createHmac("sha256", key).update(stream);
    for (const value of values) mac.update("\u0000").update(value);
    if (attempts !== undefined) mac.update("\u0000n").update(attempts);
    return mac.digest("base64url");
}

function sameMac(expected: string, given: string | undefined): boolean {
    if (given === undefined || given.length !== expected.length) return false;
    return timingSafeEqual(Buffer.from(expected), Buffer.from(given));
}

const REQUIRED_FIELDS = ["d", "i", "r", "v", "t", "a", "p"] as const;

function keptEventOf(handle: string, fields: Fields, attempts: number, parked: boolean): KeptEvent<string> {
    return {
        deliveryId: fields.d!,
        index: Number(fields.i),
        receivedAt: fields.r!,
        verified: fields.v === "1",
        test: fields.t === "1",
        remoteAddress: fields.a || undefined,
        payload: fields.p!,
        handle,
        attempts,
        parked,
    };
}

export class RedisKeptEvents implements KeptEvents<string> {
    /** Entries this node owns and has not forgotten: touched while it runs, never emitted twice by it. */
    private readonly owned = new Set<string>();
    private forgetting: string[] = [];
    private forgettingParked: string[] = [];
    private forgetTimer: NodeJS.Timeout | undefined;
    private touchTimer: NodeJS.Timeout | undefined;
    private takeOverTimer: NodeJS.Timeout | undefined;
    private taken: ((events: KeptEvent<string>[]) => void) | undefined;
    private closed = false;
    private readonly parkedStream: string;
    /** What the stream's payloads weigh, kept beside it by the scripts. */
    private readonly bytesKey: string;
    private forgedReported = false;

    constructor(private readonly client: RedisScripting, private readonly options: RedisKeptOptions) {
        this.parkedStream = `${options.stream}:parked`;
        this.bytesKey = `${options.stream}:bytes`;
        // Touched three times per claim timeout: an entry of a live instance never looks idle that long.
        this.touchTimer = setInterval(() => this.touch(), Math.max(50, options.claimAfterMs / 3));
        this.touchTimer.unref?.();
    }

    private call(script: string, keys: string[], args: string[], late?: (reply: unknown) => void): Promise<unknown> {
        return boundedCall(this.client, script, keys, args, this.options, late);
    }

    /** An event's fields with their MAC, as the scripts write them (to `stream`, with `attempts` when parked). */
    private argumentsOf(event: NewKeptEvent, stream: string, attempts?: string): string[] {
        const values = fieldValuesOf(event);
        return [...values, macOf(this.options.entryKey, stream, values, attempts)];
    }

    /** The entry as kept, if its MAC holds (never what another writer of the Redis made up). */
    private authentic(stream: string, handle: string, flat: readonly string[], attempts: number, parked: boolean): KeptEvent<string> | undefined {
        const fields = fieldsOf(flat);
        const values = REQUIRED_FIELDS.map((name) => fields[name]);
        if (values.every((value): value is string => typeof value === "string") && sameMac(macOf(this.options.entryKey, stream, values, parked ? fields.n : undefined), fields.m)) {
            return keptEventOf(handle, fields, attempts, parked);
        }
        if (!this.forgedReported) {
            this.forgedReported = true;
            this.options.onForged?.(stream);
        }
        return undefined;
    }

    /** Entries read or claimed, with Redis's delivery count (this read counted, so emitted before = count - 1), those authentic. */
    private takenEvents(entries: readonly EntryWithCount[]): KeptEvent<string>[] {
        const found: KeptEvent<string>[] = [];
        for (const [id, flat, count] of entries) {
            const event = this.authentic(this.options.stream, id, flat, Math.max(0, Number(count) - 1), false);
            if (event) found.push(event);
        }
        return found;
    }

    async put(events: readonly NewKeptEvent[]): Promise<string[]> {
        const limits = this.options.limits ?? DEFAULT_KEPT_LIMITS;
        const args = [this.options.group, this.options.consumer, String(limits.maxEvents), String(limits.maxBytes)];
        for (const event of events) args.push(...this.argumentsOf(event, this.options.stream));
        // A put answered 503 (Redis too slow) that runs once Redis resumes is undone at once: the
        // sender retries, and what it kept must never be emitted besides.
        const undo = (late: unknown) => {
            const added = Array.isArray(late) && Array.isArray(late[0]) ? (late[0] as unknown[]).filter((id): id is string => typeof id === "string") : [];
            for (const id of added) this.forget(id);
        };
        const reply = (await this.call(PUT, [this.options.stream, this.bytesKey], args, undo)) as [string[], EntryWithCount[]] | ["full"];
        if (reply[0] === "full") throw new KeptFull(`kept deliveries full (${limits.maxEvents} events or ${limits.maxBytes} bytes)`);
        const [added, strays] = reply as [string[], EntryWithCount[]];
        for (const id of added) this.owned.add(id);
        if (strays.length > 0) this.takeOver(this.takenEvents(strays));
        return added;
    }

    forget(handle: string): void {
        if (handle.startsWith(PARKED)) this.forgettingParked.push(handle.slice(PARKED.length));
        // Still owned (touched, never taken over, by this instance either) until Redis has it forgotten: in between it would look idle.
        else this.forgetting.push(handle);
        if (!this.forgetTimer) {
            this.forgetTimer = setTimeout(() => void this.flushForgets(), FORGET_INTERVAL_MS);
            this.forgetTimer.unref?.();
        }
    }

    private async flushForgets(): Promise<void> {
        this.forgetTimer = undefined;
        while (this.forgetting.length > 0 || this.forgettingParked.length > 0) {
            const ids = this.forgetting.splice(0, PAGE);
            const parked = this.forgettingParked.splice(0, PAGE);
            // Not retried: an entry that stays pending is emitted again later (at least once, flagged redelivered).
            await this.call(FORGET, [this.options.stream, this.parkedStream, this.bytesKey], [this.options.group, ...ids, "|", ...parked]).catch(() => {});
            for (const id of ids) this.owned.delete(id);
        }
    }

    /**
     * This consumer's pending entries (from before a restart or a redeploy), then the parked
     * ones, a page (PAGE entries) at a time.
     */
    async pending(cursor?: unknown): Promise<{ events: KeptEvent<string>[]; cursor: PendingCursor | undefined }> {
        await this.flushForgets();
        const at = (cursor as PendingCursor | undefined) ?? { parked: false, after: "0" };
        if (!at.parked) {
            const entries = (await this.call(OWN_PENDING, [this.options.stream], [this.options.group, this.options.consumer, at.after])) as EntryWithCount[];
            if (entries.length === 0) return { events: [], cursor: { parked: true, after: "-" } };
            const found: KeptEvent<string>[] = [];
            // Entries this node put since it started are on their way already.
            for (const event of this.takenEvents(entries)) {
                if (this.owned.has(event.handle)) continue;
                this.owned.add(event.handle);
                found.push(event);
            }
            return { events: found, cursor: { parked: false, after: entries[entries.length - 1]![0] } };
        }
        const page = (await this.call(PARKED_PAGE, [this.parkedStream], [at.after])) as [string, string[]][];
        const found: KeptEvent<string>[] = [];
        for (const [id, flat] of page) {
            const event = this.authentic(this.parkedStream, PARKED + id, flat, Number(fieldsOf(flat).n), true);
            if (event) found.push(event);
        }
        return { events: found, cursor: page.length < PAGE ? undefined : { parked: true, after: `(${page[page.length - 1]![0]}` } };
    }

    /** Redis counted the read that brought them here: nothing to write. */
    attempted(): Promise<void> {
        return Promise.resolve();
    }

    async park(events: readonly KeptEvent<string>[]): Promise<string[]> {
        const limits = this.options.limits ?? DEFAULT_KEPT_LIMITS;
        const oldest = Date.now() - (this.options.parkedMaxAgeMs ?? PARKED_MAX_AGE_MS);
        const args = [this.options.group, `${Math.max(0, oldest)}-0`, String(limits.maxEvents)];
        for (const event of events) {
            const attempts = String(event.attempts);
            args.push(event.handle, attempts, ...this.argumentsOf(event, this.parkedStream, attempts));
        }
        const moved = (await this.call(PARK, [this.options.stream, this.parkedStream, this.bytesKey], args)) as string[];
        for (const event of events) this.owned.delete(event.handle);
        return moved.map((id) => PARKED + id);
    }

    watch(taken: (events: KeptEvent<string>[]) => void): void {
        this.taken = taken;
        const interval = Math.max(50, this.options.claimAfterMs / 2);
        const run = () => {
            this.takeOverTimer = setTimeout(() => void this.takeOverIdle().finally(() => !this.closed && run()), interval);
            this.takeOverTimer.unref?.();
        };
        void this.takeOverIdle().finally(() => !this.closed && run());
    }

    /** Takes over the entries of instances that stopped touching theirs. */
    private async takeOverIdle(): Promise<void> {
        try {
            for (let cursor = "0-0"; !this.closed; ) {
                const [next, entries] = (await this.call(TAKE_OVER, [this.options.stream], [this.options.group, this.options.consumer, String(this.options.claimAfterMs), cursor])) as [string, EntryWithCount[]];
                this.takeOver(this.takenEvents(entries).filter((event) => !this.owned.has(event.handle)));
                if (next === "0-0") break;
                cursor = next;
            }
        } catch {
            // Redis away: reported by the call; tried again at the next interval.
        }
    }

    private takeOver(events: KeptEvent<string>[]): void {
        if (events.length === 0 || !this.taken || this.closed) return;
        for (const event of events) this.owned.add(event.handle);
        this.taken(events);
    }

    /** Shows the others this instance is alive and still handling what it owns. */
    private touch(): void {
        if (this.owned.size === 0) return;
        const ids = [...this.owned];
        for (let start = 0; start < ids.length; start += PAGE) {
            this.call(TOUCH, [this.options.stream], [this.options.group, this.options.consumer, ...ids.slice(start, start + PAGE)]).catch(() => {});
        }
    }

    async close(): Promise<void> {
        this.closed = true;
        clearInterval(this.touchTimer);
        clearTimeout(this.takeOverTimer);
        clearTimeout(this.forgetTimer);
        await this.flushForgets();
    }
}
