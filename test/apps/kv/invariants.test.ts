/**
 * The KV's invariants (apps/kv/core/invariants.ts): the observer passes a run whose answers and
 * shards follow the log, reported in any order, and catches each planted mistake: a shard that
 * skipped an entry or applied one twice, a server that answered from a state behind the log, a
 * revision that went back, an answer for a position holding no transaction.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { KvTxn, TxnResult } from "../../../apps/kv/core/commands.ts";
import { KvObserver } from "../../../apps/kv/core/invariants.ts";
import type { KvEntry } from "../../../apps/kv/core/records.ts";
import { MemoryKv, applyTxn } from "../../../apps/kv/core/state.ts";
import { bytes, txn } from "./arbitraries.ts";

const entry = (t: KvTxn | undefined): KvEntry | undefined => (t ? { kind: "txn", txn: t } : undefined);

/** Apply `log` (undefined: a fill) from the start: each position's result, and the state after each. */
function replay(log: readonly (KvTxn | undefined)[], skip?: number, twice?: number) {
  const store = new MemoryKv();
  let revision = 0;
  const results: (TxnResult | undefined)[] = [];
  const states: { revision: number; entries: ReturnType<MemoryKv["entries"]> }[] = [];
  for (const [p, t] of log.entries()) {
    let r: TxnResult | undefined;
    if (t && p !== skip) {
      r = applyTxn(store, revision, t);
      revision = r.revision;
      if (p === twice) revision = applyTxn(store, revision, t).revision;
    }
    results.push(r);
    states.push({ revision, entries: store.entries() });
  }
  return { results, states };
}

const put = (key: string, value: string): KvTxn => ({ compares: [], success: [{ op: "put", key, value: bytes(value) }], failure: [] });
const log: (KvTxn | undefined)[] = [put("a", "1"), undefined, put("b", "1"), { compares: [{ key: "a", target: "version", result: "equal", number: 1 }], success: [{ op: "put", key: "a", value: bytes("2") }], failure: [] }, put("b", "2")];

describe("the KV observer", () => {
  it("passes answers and shard states that follow the log, whatever order they and the log arrive in", () => {
    fc.assert(
      fc.property(fc.array(fc.option(txn, { nil: undefined, freq: 5 }), { minLength: 1, maxLength: 12 }), fc.infiniteStream(fc.nat()), (entries, order) => {
        const { results, states } = replay(entries);
        const o = new KvObserver();
        const events: (() => void)[] = [];
        for (const [p, t] of entries.entries()) {
          events.push(() => o.logged(0, p, entry(t)));
          const r = results[p];
          if (r) events.push(() => o.answered(0, p, r));
          events.push(() => o.shardHolds(0, "s1", p, states[p]!.revision, states[p]!.entries));
        }
        // A random order of every event.
        const it = order[Symbol.iterator]();
        for (let i = events.length - 1; i > 0; i--) {
          const j = it.next().value! % (i + 1);
          [events[i], events[j]] = [events[j]!, events[i]!];
        }
        for (const e of events) e();
        assert.deepEqual(o.violations, []);
        assert.equal(o.waiting(), 0);
      }),
      { numRuns: 300 },
    );
  });

  const planted: [string, (o: KvObserver) => void, RegExp][] = [
    ["a shard that skipped an entry", (o) => o.shardHolds(0, "s1", 4, replay(log, 2).states[4]!.revision, replay(log, 2).states[4]!.entries), /position 4: shard 0\/s1 holds revision 3, the log says 4/],
    ["a shard that applied an entry twice", (o) => o.shardHolds(0, "s1", 4, replay(log, undefined, 2).states[4]!.revision, replay(log, undefined, 2).states[4]!.entries), /holds revision 5, the log says 4/],
    [
      "a shard holding another value at the right revision",
      (o) => {
        const s = replay(log).states[2]!;
        o.shardHolds(0, "s1", 2, s.revision, s.entries.map(([k, r]) => [k, k === "b" ? { ...r, value: bytes("other") } : r] as const));
      },
      /holds key "b" at modRevision 2 \(version 1\), the log says 2/,
    ],
    [
      "a server that answered from a state behind the log",
      (o) => {
        // The compare-and-set at 3 answered as if position 0 had not been applied.
        const stale = applyTxn(new MemoryKv(), 0, log[3]!);
        o.answered(0, 3, stale, "server k1");
      },
      /position 3: server k1 answered failed, the log says succeeded/,
    ],
    ["an answer for a position holding no transaction", (o) => o.answered(0, 1, { succeeded: true, revision: 1, responses: [] }), /position 1: a server answered for a position that holds no KV transaction/],
    [
      "a revision that went back",
      (o) => {
        const { states } = replay(log);
        o.shardHolds(0, "s2", 3, states[3]!.revision, states[3]!.entries);
        o.shardHolds(0, "s2", 4, 1, states[4]!.entries);
      },
      /shard 0\/s2: revision went back from 3 to 1/,
    ],
  ];
  for (const [what, plant, why] of planted) {
    it(`catches ${what}`, () => {
      const o = new KvObserver();
      for (const [p, t] of log.entries()) o.logged(0, p, entry(t));
      plant(o);
      assert.ok(
        o.violations.some((v) => why.test(v)),
        o.violations.join("; ") || "no violation",
      );
    });
  }

  it("applies a commit entry of a transaction across partitions once: a shard that applied a second one is caught", () => {
    const put = (v: string) => ({ op: "put" as const, key: "a", value: bytes(v) });
    const o = new KvObserver();
    o.logged(0, 0, { kind: "commit", epoch: 0, commit: { txn: 65, scanFrom: 0, ops: [put("1")] } });
    o.logged(0, 1, { kind: "commit", epoch: 0, commit: { txn: 65, scanFrom: 0, ops: [put("2")] } });
    o.logged(0, 2, { kind: "commit", epoch: 0, commit: { txn: 66, scanFrom: 0, ops: [put("3")] } });
    const once = new MemoryKv();
    applyTxn(once, 0, { compares: [], success: [put("1")], failure: [] });
    applyTxn(once, 1, { compares: [], success: [put("3")], failure: [] });
    o.shardHolds(0, "right", 2, 2, once.entries());
    assert.deepEqual(o.violations, []);
    const twice = new MemoryKv();
    for (const [r, v] of [[0, "1"], [1, "2"], [2, "3"]] as const) applyTxn(twice, r, { compares: [], success: [put(v)], failure: [] });
    o.shardHolds(0, "twice", 2, 3, twice.entries());
    assert.match(o.violations.join("; "), /shard 0\/twice holds revision 3, the log says 2/);
  });

  it("waits for the log below a position before it checks there", () => {
    const o = new KvObserver();
    const { states } = replay(log);
    o.shardHolds(0, "s1", 2, 99, states[2]!.entries);
    o.logged(0, 0, entry(log[0]));
    o.logged(0, 2, entry(log[2]));
    assert.deepEqual([o.violations, o.waiting()], [[], 1], "position 1 is not known yet");
    o.logged(0, 1, undefined);
    assert.deepEqual([o.violations.length, o.waiting()], [1, 0]);
    assert.match(o.violations[0]!, /holds revision 99, the log says 2/);
  });
});
