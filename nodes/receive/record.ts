/**
 * The record of a delivery: the bytes whose signature was verified and, for a batch, which of
 * its elements the node emitted. It is what the delivery log keeps and what "Keep deliveries
 * until handled" writes; every event the Webhooks tab shows, a replay emits or a redelivery
 * emits again is derived from it through the provider's own validation. Nothing is copied on
 * the way in: a delivery's events are a pure function of its bytes. Pure.
 */
import { parseJson } from "./body.js";

/**
 * What a delivery's emitted events are derived from: its body (the bytes as verified) with the
 * places of the emitted elements when it is a batch; or, for events read back from a store,
 * each one's own JSON (the bytes of its element as received, or text from an earlier version).
 */
export type BodyRecord =
    | { readonly body: Buffer; readonly elements: readonly number[] | undefined; readonly texts?: undefined }
    | { readonly texts: readonly EventText[]; readonly body?: undefined; readonly elements?: undefined };

/** One event's JSON: bytes as received, or text. */
export type EventText = string | Uint8Array;

/**
 * The record of a delivery's body. A body that shares its memory with a larger buffer (the
 * pool Buffer.concat takes small bodies from) is copied, so that keeping it keeps only its bytes.
 */
export function bodyRecord(body: Buffer, elements: readonly number[] | undefined): BodyRecord {
    const own = body.byteOffset === 0 && body.buffer.byteLength === body.length ? body : Buffer.from(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
    return { body: own, elements };
}

/** The bytes a record holds, as the log's memory bound counts them. */
export function recordBytes(record: BodyRecord): number {
    if (record.body) return record.body.length;
    let bytes = 0;
    for (const text of record.texts) bytes += text.length;
    return bytes;
}

/** One event's JSON, parsed (a byte-order mark and invalid JSON as the receiver treats them). */
export function jsonOfText(text: EventText): unknown {
    return typeof text === "string" ? (JSON.parse(text) as unknown) : parseJson(Buffer.isBuffer(text) ? text : Buffer.from(text.buffer, text.byteOffset, text.length));
}

/** One event's JSON as text (what a store that holds text writes; invalid UTF-8 as JSON.parse reads it). */
export function textOf(text: EventText): string {
    return typeof text === "string" ? text : Buffer.from(text.buffer, text.byteOffset, text.length).toString("utf8");
}

/** Each recorded event's JSON, as received: what the provider's validation derives the events from. */
export function recordedJson(record: BodyRecord): unknown[] {
    if (!record.body) return record.texts.map(jsonOfText);
    const document = parseJson(record.body);
    if (record.elements === undefined) return [document];
    const elements = Array.isArray(document) ? document : [];
    return record.elements.map((element) => elements[element] as unknown);
}

/** The record of some of a record's events, by their positions in it (a replay of some). */
export function recordOf(record: BodyRecord, positions: readonly number[]): BodyRecord {
    if (!record.body) return { texts: positions.map((position) => record.texts[position]!) };
    if (record.elements === undefined) return record;
    const elements = record.elements;
    return { body: record.body, elements: positions.map((position) => elements[position]!) };
}

/** Each recorded event's bytes: the body when it is the event, a batch's elements as they sit in it. */
export function recordedTexts(record: BodyRecord): EventText[] {
    if (!record.body) return [...record.texts];
    if (record.elements === undefined) return [record.body];
    const ranges = arrayElementRanges(record.body);
    const body = record.body;
    return record.elements.map((element) => {
        const range = ranges[element];
        if (!range) throw new Error(`element ${element} is not in the body`);
        return body.subarray(range[0], range[1]);
    });
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

function isJsonSpace(byte: number): boolean {
    return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * Where each element of a JSON array sits in `body` ([start, end) byte offsets, whitespace
 * trimmed), for a body JSON.parse has accepted as an array: one pass over the bytes, in strings
 * only quotes and escapes matter (UTF-8 never puts those bytes inside a multi-byte character).
 */
export function arrayElementRanges(body: Uint8Array): [number, number][] {
    const ranges: [number, number][] = [];
    let at = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
    while (at < body.length && isJsonSpace(body[at]!)) at++;
    if (body[at] !== OPEN_ARRAY) return ranges;
    let depth = 0;
    let start = -1;
    let last = -1;
    for (at++; at < body.length; at++) {
        const byte = body[at]!;
        if (byte === QUOTE) {
            if (start < 0) start = at;
            for (at++; at < body.length && body[at] !== QUOTE; at++) if (body[at] === BACKSLASH) at++;
            last = at;
        } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
            if (start < 0) start = at;
            depth++;
        } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
            if (depth === 0) break; // the array's own end
            depth--;
            last = at;
        } else if (byte === COMMA && depth === 0) {
            ranges.push([start, last + 1]);
            start = -1;
        } else if (!isJsonSpace(byte)) {
            if (start < 0) start = at;
            last = at;
        }
    }
    if (start >= 0) ranges.push([start, last + 1]);
    return ranges;
}
