// The de-duplication state's table of expiring keys (fingerprints in typed arrays) against a
// plain model of what it promises: a Map of keys with expiries and a FIFO of the order set.
import assert = require("node:assert/strict");
import fc = require("fast-check");
import { ExpiringKeys } from "../../../nodes/dedup/expiring-keys.js";

/** What the table promises, the obvious way: each key's value and expiry, evicted oldest set first. */
class ModelKeys {
    private readonly entries = new Map<string, { value: number; expiry: number }>();
    private readonly order: { key: string; entry: { value: number; expiry: number } }[] = [];
    constructor(private readonly limits: { windowMs: number; maxEntries: number }) {}
    get size(): number {
        return this.entries.size;
    }
    get(key: string, now: number): number | undefined {
        const entry = this.entries.get(key);
        return entry && entry.expiry > now ? entry.value : undefined;
    }
    set(key: string, value: number, now: number, expiry = now + this.limits.windowMs): void {
        const entry = { value, expiry };
        this.entries.set(key, entry);
        this.order.push({ key, entry });
        while (this.order.length > 0) {
            const oldest = this.order[0]!;
            const current = this.entries.get(oldest.key) === oldest.entry;
            if (current && oldest.entry.expiry > now && this.entries.size <= this.limits.maxEntries) break;
            this.order.shift();
            if (current) this.entries.delete(oldest.key);
        }
    }
    delete(key: string): void {
        this.entries.delete(key);
    }
}

type Operation =
    | { kind: "set"; key: number; value: number; until?: number; advance: number }
    | { kind: "add"; key: number; until?: number; advance: number }
    | { kind: "raise"; key: number; value: number; advance: number }
    | { kind: "delete"; key: number; advance: number };

const KEYS = Array.from({ length: 40 }, (_, index) => (index % 3 === 0 ? `session-${index}-${"x".repeat(index * 3)}` : `k${index}`));

const operation: fc.Arbitrary<Operation> = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), key: fc.nat(KEYS.length - 1), value: fc.nat(1000), until: fc.option(fc.nat(5000), { nil: undefined }), advance: fc.nat(300) }),
    fc.record({ kind: fc.constant("add" as const), key: fc.nat(KEYS.length - 1), until: fc.option(fc.nat(5000), { nil: undefined }), advance: fc.nat(300) }),
    fc.record({ kind: fc.constant("raise" as const), key: fc.nat(KEYS.length - 1), value: fc.nat(1000), advance: fc.nat(300) }),
    fc.record({ kind: fc.constant("delete" as const), key: fc.nat(KEYS.length - 1), advance: fc.nat(300) }),
);

describe("ExpiringKeys", () => {
    it("answers as the model does, whatever the sequence of sets, adds, raises, deletes and time", () => {
        fc.assert(
            fc.property(fc.record({ windowMs: fc.integer({ min: 1, max: 2000 }), maxEntries: fc.integer({ min: 1, max: 30 }) }), fc.array(operation, { minLength: 20, maxLength: 300, size: "max" }), (limits, operations) => {
                const table = new ExpiringKeys(limits);
                const model = new ModelKeys(limits);
                let now = 1_000_000;
                for (const op of operations) {
                    now += op.advance;
                    const key = KEYS[op.key]!;
                    if (op.kind === "set") {
                        const expiry = op.until === undefined ? undefined : now + op.until;
                        table.set(key, op.value, now, expiry);
                        model.set(key, op.value, now, expiry);
                    } else if (op.kind === "add") {
                        const expiry = now + (op.until ?? limits.windowMs);
                        const present = model.get(key, now) !== undefined;
                        assert.equal(table.add(key, 1, now, expiry), !present, `add ${key}`);
                        if (!present) model.set(key, 1, now, expiry);
                    } else if (op.kind === "raise") {
                        const previous = model.get(key, now);
                        assert.equal(table.raise(key, op.value, now), previous, `raise ${key}`);
                        model.set(key, previous === undefined ? op.value : Math.max(previous, op.value), now);
                    } else {
                        table.delete(key);
                        model.delete(key);
                    }
                    // Expired keys the model has not evicted yet are absent to both; the live count is only bounded.
                    for (const probe of KEYS) assert.equal(table.get(probe, now), model.get(probe, now), `${probe} after ${op.kind} ${key}`);
                    assert.ok(table.size <= limits.maxEntries, `size ${table.size}`);
                }
            }),
            { numRuns: 300 },
        );
    });

    it("tells 600,000 distinct keys apart (no two share a 64-bit fingerprint), long and short, alike but for a character", () => {
        const table = new ExpiringKeys({ windowMs: 3_600_000, maxEntries: 300_000 });
        const now = 1_000_000;
        const key = (n: number) => (n % 2 === 0 ? `${"s".repeat(100)}-${n}#0` : `${n}`);
        for (let n = 0; n < 300_000; n++) assert.equal(table.add(key(n), 1, now, now + 3_600_000), true);
        for (let n = 300_000; n < 600_000; n++) assert.equal(table.get(key(n), now), undefined, `a fingerprint of ${key(n)} matched another key's`);
        for (let n = 0; n < 300_000; n += 997) assert.equal(table.get(key(n), now), 1);
    });

    it("finds every key it holds across the table's growth and rehashes, the key that set each off included", () => {
        const table = new ExpiringKeys({ windowMs: 3_600_000, maxEntries: 50_000 });
        const now = 1_000_000;
        for (let n = 0; n < 40_000; n++) {
            assert.equal(table.add(`key-${n}`, 1, now, now + 3_600_000), true);
            if (n % 3 === 0) table.delete(`key-${n}`); // deleted slots: rehashes at the same size too
        }
        for (let n = 0; n < 40_000; n++) assert.equal(table.get(`key-${n}`, now), n % 3 === 0 ? undefined : 1, `key-${n}`);
    });

    it("keeps its arrays bounded whatever the traffic: keys set once, keys set again, deletes", () => {
        const table = new ExpiringKeys({ windowMs: 3_600_000, maxEntries: 1000 });
        let now = 1_000_000;
        let largest = 0;
        for (let n = 0; n < 200_000; n++) {
            now += 1;
            table.set(`fresh-${n}`, n, now);
            table.raise(`stream-${n % 50}`, n, now); // the same few keys, again and again
            if (n % 7 === 0) table.delete(`fresh-${n - 3}`);
            largest = Math.max(largest, table.bytes);
        }
        assert.ok(table.size <= 1000);
        // 1,000 keys: a table of at most 4,096 slots (32 bytes each) and a ring of at most 4,096 entries (8 bytes).
        assert.ok(largest <= 4096 * 32 + 4096 * 8, `grew to ${largest} bytes`);
        assert.equal(table.get(`fresh-199999`, now), 199_999);
        assert.equal(table.get(`fresh-0`, now), undefined, "the oldest went first");
        assert.equal(table.get(`stream-49`, now), 199_999);
    });
});
