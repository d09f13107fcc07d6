/**
 * `LruMap` (wor/core/lru-map.ts) against the plain Map it replaces in the bounded tables of the
 * cores (a Map in last-set order: delete, then set; its first entry the least recent): any sequence
 * of sets, gets, shifts and clears, across many rebuilds of its order queue, gives the same values,
 * sizes, evictions and order of iteration.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { LruMap } from "../../wor/core/lru-map.ts";

type Op = { readonly kind: "set"; readonly key: number } | { readonly kind: "shift" } | { readonly kind: "get"; readonly key: number } | { readonly kind: "clear" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("set" as const), key: fc.nat({ max: 60 }) }), weight: 8 },
  { arbitrary: fc.constant({ kind: "shift" as const }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("get" as const), key: fc.nat({ max: 60 }) }), weight: 2 },
  { arbitrary: fc.constant({ kind: "clear" as const }), weight: 1 },
);

describe("LruMap", () => {
  it("behaves as a Map in last-set order whose first entry is shifted out", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 5_000, size: "max" }), (ops) => {
        const lru = new LruMap<number, number>();
        const model = new Map<number, number>();
        for (const [i, o] of ops.entries()) {
          if (o.kind === "set") {
            lru.set(o.key, i);
            model.delete(o.key);
            model.set(o.key, i);
          } else if (o.kind === "shift") {
            const first = model.entries().next();
            if (!first.done) model.delete(first.value[0]);
            assert.deepEqual(lru.shift(), first.done ? undefined : first.value);
          } else if (o.kind === "get") {
            assert.equal(lru.get(o.key), model.get(o.key));
            assert.equal(lru.has(o.key), model.has(o.key));
          } else {
            lru.clear();
            model.clear();
          }
          assert.equal(lru.size, model.size);
          if (i % 64 === 0) assert.deepEqual([...lru], [...model], "iterated least recently set first");
        }
        assert.deepEqual([...lru], [...model]);
        for (let first = model.entries().next(); !first.done; first = model.entries().next()) {
          model.delete(first.value[0]);
          assert.deepEqual(lru.shift(), first.value);
        }
        assert.equal(lru.shift(), undefined);
      }),
      { numRuns: 200 },
    );
  });
});
