/**
 * LogPlayer's four invariants (apps/logplayer/core/invariants.ts) as functions: each passes what is
 * right and names what is wrong. A property: any split of a shard's filtered log into successive
 * durable writes passes; dropping, repeating, swapping or altering one row of it, or going back,
 * is caught.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type LogView, ackSound, appliedMonotone, fencedApplyNothing, filteredLog, inOrderExactlyOnce } from "../../../apps/logplayer/core/invariants.ts";
import type { LogRecord } from "../../../apps/logplayer/core/items.ts";
import type { Row, ShardWrite } from "../../../apps/logplayer/core/shard-core.ts";
import { makeLog } from "./fleet.ts";

const view = (log: readonly LogRecord[]): LogView => {
  const at = new Map(log.map((r) => [r.position, r]));
  return { entry: (p) => at.get(p), end: Math.max(0, ...log.map((r) => r.position + 1)) };
};
const write = (rows: readonly Row[], applied: number): ShardWrite => ({ rows, applied, epoch: 1 });
const row = (r: LogRecord): Row => ({ position: r.position, data: r.payload });

describe("LogPlayer invariants", () => {
  // Positions: 0 → shard 0, 1 → shard 1, 2 → fill, 3 → both, 4 → shard 0.
  const log = makeLog([[0], [1], [], [0, 1], [0]], 2);
  const mine = filteredLog(log, 0, 2);

  it("in order, exactly once: the rows in (from, applied] are exactly the shard's entries", () => {
    assert.deepEqual(inOrderExactlyOnce(view(log), 0, 2, -1, write(mine.slice(0, 2).map(row), 3)), []);
    assert.deepEqual(inOrderExactlyOnce(view(log), 0, 2, 3, write([row(mine[2]!)], 4)), []);
    // Watermark-only writes: nothing for shard 0 in (0, 2].
    assert.deepEqual(inOrderExactlyOnce(view(log), 0, 2, 0, write([], 2)), []);
    assert.match(inOrderExactlyOnce(view(log), 0, 2, -1, write([row(mine[1]!)], 3))[0]!, /skipped its entry at position 0/);
    assert.match(inOrderExactlyOnce(view(log), 0, 2, 0, write([row(mine[1]!), row(mine[0]!)], 3))[0]!, /rows at 0 lie outside \(0, 3\] or repeat/);
    assert.match(inOrderExactlyOnce(view(log), 0, 2, -1, write([row(mine[0]!), row(log[1]!)], 1))[0]!, /applied position 1, which holds no entry for it/);
    assert.match(inOrderExactlyOnce(view(log), 0, 2, -1, write([{ position: 0, data: Uint8Array.of(9) }], 0))[0]!, /the data applied at 0 is not the log's/);
    assert.match(inOrderExactlyOnce(view(log), 0, 2, 4, write([], 7))[0]!, /lies beyond the log's end 4/);
  });

  it("monotone, acks sound, fencing", () => {
    assert.deepEqual(appliedMonotone(0, 3, 3), []);
    assert.match(appliedMonotone(0, 3, 2)[0]!, /went back from 3 to 2/);
    assert.deepEqual(ackSound("p1", 0, 3, 3), []);
    assert.match(ackSound("p1", 0, 4, 3)[0]!, /player p1 holds shard 0 at 4, but the shard made only 3 durable/);
    assert.deepEqual(fencedApplyNothing(0, 2, 1, 3, 3), [], "a fenced batch that applied nothing");
    assert.deepEqual(fencedApplyNothing(0, 2, 2, 3, 5), []);
    assert.match(fencedApplyNothing(0, 2, 1, 3, 4)[0]!, /shard 0 at epoch 2 applied items of fenced epoch 1 \(3 → 4\)/);
  });

  it("property: every split of the filtered log passes; one row dropped, repeated, swapped or altered is caught", () => {
    const arb = fc.record({
      targets: fc.array(fc.subarray([0, 1, 2]), { minLength: 2, maxLength: 20 }),
      cuts: fc.array(fc.nat(), { maxLength: 6 }),
      harm: fc.constantFrom("drop", "repeat", "swap", "alter"),
      at: fc.nat(),
    });
    fc.assert(
      fc.property(arb, ({ targets, cuts, harm, at }) => {
        const l = makeLog(targets, 3);
        const v = view(l);
        const rows = filteredLog(l, 0, 3).map(row);
        const end = v.end - 1;
        // Successive writes ending at cut positions (sorted, within the log), the last at its end.
        const ends = [...new Set(cuts.map((c) => c % (end + 1)))].sort((a, b) => a - b).concat(end);
        let from = -1;
        for (const e of ends) {
          if (e < from) continue;
          const w = write(rows.filter((r) => r.position > from && r.position <= e), e);
          assert.deepEqual(inOrderExactlyOnce(v, 0, 3, from, w), []);
          assert.deepEqual(appliedMonotone(0, from, e), []);
          from = e;
        }
        if (rows.length < 2) return;
        const bad = [...rows];
        const i = at % (rows.length - 1);
        if (harm === "drop") bad.splice(i, 1);
        else if (harm === "repeat") bad.splice(i, 0, bad[i]!);
        else if (harm === "swap") [bad[i], bad[i + 1]] = [bad[i + 1]!, bad[i]!];
        else bad[i] = { position: bad[i]!.position, data: Uint8Array.of(0xff) };
        assert.equal(inOrderExactlyOnce(v, 0, 3, -1, write(bad, end)).length, 1, `${harm} at ${i} went unnoticed`);
      }),
      { numRuns: 500 },
    );
  });
});
