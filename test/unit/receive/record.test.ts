// The record of a delivery: its bytes as verified, the places of a batch's emitted elements,
// and each element's bytes as they sit in the body (what a store writes).
import assert = require("node:assert/strict");
import fc = require("fast-check");
import { arrayElementRanges, bodyRecord, jsonOfText, recordBytes, recordedJson, recordedTexts, recordOf, textOf } from "../../../nodes/receive/record.js";

/** A JSON array as a client may write it: any values, any spacing JSON allows, perhaps a byte-order mark. */
const spacedArray = fc
    .tuple(fc.array(fc.jsonValue(), { maxLength: 12 }), fc.array(fc.constantFrom("", " ", "\n", "\t", "\r\n  "), { minLength: 1, maxLength: 40 }), fc.boolean())
    .map(([elements, spaces, bom]) => {
        let at = 0;
        const space = () => spaces[at++ % spaces.length]!;
        const text = `${space()}[${space()}${elements.map((element) => `${space()}${JSON.stringify(element, null, spaces[0]!.length)}${space()}`).join(",")}${space()}]${space()}`;
        return { elements, body: Buffer.from(bom ? `\ufeff${text}` : text) };
    });

/** A body in memory of its own, as Node's HTTP parser hands over a one-chunk body. */
function owned(text: string): Buffer {
    const body = Buffer.alloc(Buffer.byteLength(text));
    body.write(text);
    return body;
}

describe("the record of a delivery", () => {
    it("finds each element of any JSON array in its bytes: each slice parses to that element", () => {
        fc.assert(
            fc.property(spacedArray, ({ elements, body }) => {
                const ranges = arrayElementRanges(body);
                assert.equal(ranges.length, elements.length);
                const parsed = JSON.parse(body.toString("utf8").replace(/^\ufeff/, "")) as unknown[];
                ranges.forEach(([start, end], index) => assert.deepEqual(JSON.parse(body.toString("utf8", start, end)), parsed[index]));
            }),
            { numRuns: 2000 },
        );
    });

    it("keeps strings whole: brackets, commas, escaped quotes and backslashes, multi-byte characters", () => {
        const body = Buffer.from('[ "a,]", {"b":"\\"}]\\\\"} ,"Straße ✓ 😀",[],{},-1.5e3 , null ]');
        const slices = arrayElementRanges(body).map(([start, end]) => body.toString("utf8", start, end));
        assert.deepEqual(slices, ['"a,]"', '{"b":"\\"}]\\\\"}', '"Straße ✓ 😀"', "[]", "{}", "-1.5e3", "null"]);
        assert.deepEqual(arrayElementRanges(Buffer.from(" [ ] ")), []);
        assert.deepEqual(arrayElementRanges(Buffer.from('{"not":"an array"}')), []);
    });

    it("derives a batch's emitted events from the body, by their places in it; a replay of some takes their places", () => {
        const body = owned('[{"uuid":"a"}, {"bad":1}, {"uuid":"c"} ]');
        const record = bodyRecord(body, [0, 2]);
        assert.equal(record.body, body, "a body that owns its memory is the record itself: nothing copied");
        assert.deepEqual(recordedJson(record), [{ uuid: "a" }, { uuid: "c" }]);
        assert.equal(recordBytes(record), body.length);
        assert.deepEqual(recordedJson(recordOf(record, [1])), [{ uuid: "c" }]);
        assert.deepEqual(recordedTexts(record).map(textOf), ['{"uuid":"a"}', '{"uuid":"c"}'], "the bytes a store writes: each element as received");
    });

    it("is the body itself for a single event, and each read-back text for kept events", () => {
        const body = Buffer.from('\ufeff{"event":"x"}');
        const single = bodyRecord(body, undefined);
        assert.deepEqual(recordedJson(single), [{ event: "x" }]);
        assert.deepEqual(recordedTexts(single), [body]);
        assert.equal(recordOf(single, [0]), single);
        const kept = { texts: ['{"uuid":"a"}', Buffer.from('{"uuid":"b"}')] };
        assert.deepEqual(recordedJson(kept), [{ uuid: "a" }, { uuid: "b" }]);
        assert.deepEqual(recordedJson(recordOf(kept, [1])), [{ uuid: "b" }]);
        assert.equal(recordBytes(kept), 24);
        assert.deepEqual(jsonOfText(new Uint8Array(Buffer.from("[1]"))), [1]);
    });

    it("copies a body that shares memory with a larger buffer, so that keeping it keeps only its bytes", () => {
        const pooled = Buffer.concat([Buffer.from('{"a":'), Buffer.from("1}")]); // small: from Buffer's shared pool
        assert.ok(pooled.buffer.byteLength > pooled.length, "the pool is larger than the body");
        const record = bodyRecord(pooled, undefined);
        assert.equal(record.body!.buffer.byteLength, pooled.length);
        assert.deepEqual(recordedJson(record), [{ a: 1 }]);
    });
});
