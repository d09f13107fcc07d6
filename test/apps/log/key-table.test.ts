/**
 * The sequencer's key table (apps/log/core/key-table.ts) against the plain least-recently-noted map
 * it replaced: any sequence of notes, across many evictions and rebuilds of its order, leaves the
 * same priors for every key, the same size and the same start of its window.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { KeyTable } from "../../../apps/log/core/key-table.ts";

/** The model: a Map in last-noted order, its first entry forgotten past `keysMax`. */
class ModelTable {
  readonly slots = new Map<string, number[]>();
  from: number;
  constructor(
    private readonly keysMax: number,
    from: number,
  ) {
    this.from = from;
  }
  note(k: string, slot: number): void {
    const slots = this.slots.get(k) ?? [];
    if (!slots.includes(slot)) slots.push(slot);
    this.slots.delete(k);
    this.slots.set(k, slots);
    if (this.slots.size <= this.keysMax) return;
    const [oldest, gone] = this.slots.entries().next().value!;
    this.slots.delete(oldest);
    this.from = Math.max(this.from, Math.max(...gone) + 1);
  }
}

describe("the sequencer's key table", () => {
  it("forgets keys in the order a least-recently-noted map does", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        // Mostly new keys (a log's appends), some retried (a key noted again at a later slot).
        fc.array(fc.oneof({ arbitrary: fc.constant(-1), weight: 3 }, { arbitrary: fc.nat({ max: 40 }), weight: 1 }), { maxLength: 6_000, size: "max" }),
        (keysMax, picks) => {
          const t = new KeyTable(keysMax, 0);
          const m = new ModelTable(keysMax, 0);
          let fresh = 0;
          for (const [slot, pick] of picks.entries()) {
            const k = pick < 0 ? `new${fresh++}` : `old${pick}`;
            t.note(k, slot);
            m.note(k, slot);
            assert.equal(t.size, m.slots.size);
            assert.equal(t.from, m.from);
            assert.deepEqual(t.priors(k), m.slots.get(k) ?? []);
          }
          for (const k of new Set([...m.slots.keys(), "old0", "old1", "new0"])) assert.deepEqual(t.priors(k), m.slots.get(k) ?? []);
        },
      ),
      { numRuns: 200 },
    );
  });
});
