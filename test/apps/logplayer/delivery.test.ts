/**
 * Delivery end to end over the pure cores (test/apps/logplayer/fleet.ts): a player and shards on a
 * network the test drives. Routing, watermarks, a shard that falls behind and is re-read, resume
 * from the shards' applied positions after a player crash, zombie fencing, trim; and a property:
 * under any schedule of loss, duplication, reordering, shard and player crashes and zombies, every
 * invariant holds in every step, and once healed every shard holds exactly the log filtered to it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { filteredLog } from "../../../apps/logplayer/core/invariants.ts";
import { route } from "../../../apps/logplayer/core/items.ts";
import { plantBugForTest } from "../../../verify/runtime/planted.ts";
import { Prng } from "../../../verify/runtime/prng.ts";
import { Fleet, keyFor, makeLog } from "./fleet.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
/** Schedules the property tries (more with WORM_LP_RUNS). */
const RUNS = Number(process.env.WORM_LP_RUNS ?? 300);

/** Every shard holds exactly its entries of the log, in order, once. */
function assertDelivered(f: Fleet): void {
  for (let s = 0; s < f.shardCount; s++) {
    const want = filteredLog(f.log, s, f.shardCount).map((r) => `${r.position}:${text(r.payload)}`);
    assert.deepEqual(
      f.rows(s).map((r) => `${r.position}:${text(r.data)}`),
      want,
      `shard ${s}`,
    );
  }
  assert.deepEqual(f.violations, []);
  assert.deepEqual(f.observer.complete(), []);
}

describe("LogPlayer delivery (pure cores)", () => {
  it("routes by key: the same key always goes to the same shard; an entry with keys of two shards goes to both", () => {
    const k0 = keyFor(0, 4);
    const k3 = keyFor(3, 4);
    assert.deepEqual(route({ position: 0, keys: [k0], payload: Uint8Array.of() }, 4), [0]);
    assert.deepEqual(route({ position: 0, keys: [k3, k0, k3], payload: Uint8Array.of() }, 4), [0, 3]);
    // A record of no key (a fill) goes to no shard, one shard or many.
    for (const shards of [1, 4]) assert.deepEqual(route({ position: 0, keys: [], payload: Uint8Array.of() }, shards), [], `${shards} shards`);
    assert.deepEqual(route({ position: 0, keys: [k3], payload: Uint8Array.of() }, 1), [0]);
  });

  it("delivers a log to three shards, watermarks moving the idle one to the log's end", () => {
    const f = new Fleet(makeLog([[0], [1], [], [0, 1], [0], [1]], 3), 3);
    f.startPlayer();
    assert.ok(f.heal(10_000));
    assertDelivered(f);
    assert.equal(f.rows(2).length, 0);
    assert.equal(f.observer.durableApplied(2), 5, "shard 2 has no entries, watermarks moved it");
    assert.ok(f.shards[2]!.core.counters.watermarks > 0);
  });

  it("a shard whose queue overflows falls behind, is re-read from the log, and the other never waits", () => {
    const targets = Array.from({ length: 40 }, (_, p) => (p % 4 === 0 ? [1] : [0]));
    const f = new Fleet(makeLog(targets, 2), 2, { queueMax: 4, readChunkMax: 2, windowMax: 2 });
    const p = f.startPlayer();
    // Both shards answer their hellos; then shard 0 is slow: its replies stay in the network.
    while (p.sub === undefined) f.heal(1);
    for (let k = 0; k < 40; k++) {
      f.offer(p);
      for (let guard = 0; guard < 100; guard++) {
        const i = f.net.findIndex((m) => m.shard === 1);
        if (i < 0 && !f.sync(1)) break;
        if (i >= 0) f.deliver(i);
      }
    }
    assert.equal(f.observer.durableApplied(1), 36, "shard 1 kept up while shard 0 stalled");
    assert.ok(p.core.status()[0]!.behind, "shard 0 fell behind");
    assert.ok(f.heal(20_000));
    assertDelivered(f);
    assert.ok(p.reads.length === 0 && f.shards[0]!.core.counters.applied >= 30);
  });

  it("a new player resumes from the shards' applied positions; the old one, a zombie, is fenced", () => {
    const f = new Fleet(makeLog([[0], [1], [0, 1], [0], [1], [0]], 2), 2);
    const old = f.startPlayer();
    // The first player runs until each shard applied something, but not everything.
    for (let k = 0; k < 1_000 && !(f.observer.durableApplied(0) >= 0 && f.observer.durableApplied(1) >= 0); k++) f.heal(1);
    const applied = [f.observer.durableApplied(0), f.observer.durableApplied(1)];
    assert.ok(applied.every((a) => a >= 0 && a < 5), `the first player was stopped midway (${applied})`);
    const sends = f.net.length;
    f.sync(0);
    f.sync(1);
    const next = f.startPlayer();
    assert.ok(f.heal(10_000));
    assertDelivered(f);
    assert.ok(!f.players.includes(old), "the zombie stopped");
    assert.ok(f.shards.every((s) => s.core.epoch === next.epoch));
    assert.ok(sends > 0 || f.shards.some((x) => x.core.counters.fenced > 0), "the zombie still had frames under way");
    assert.ok(next.from !== undefined && next.from >= Math.min(...applied) + 1, `resumed at ${next.from}, not from the start`);
  });

  it("the log is trimmed only below what every shard has durably applied", () => {
    const f = new Fleet(makeLog([[0], [0], [0], [1]], 2), 2, { trimEvery: 1 });
    const trims: number[] = [];
    const p = f.startPlayer();
    const take = p.core.takeOutputs.bind(p.core);
    p.core.takeOutputs = (now: number) => {
      const out = take(now);
      if (out.trim !== undefined) {
        trims.push(out.trim);
        assert.ok(out.trim <= Math.min(f.observer.durableApplied(0), f.observer.durableApplied(1)) + 1);
      }
      return out;
    };
    assert.ok(f.heal(10_000));
    assertDelivered(f);
    assert.equal(trims.at(-1), 4, "once every shard applied 3, the log is trimmed below 4");
  });

  it("property: any schedule of faults keeps every invariant, and healed, every shard holds its entries exactly once", () => {
    fc.assert(fc.property(SEED, TARGETS, schedule), { numRuns: RUNS });
  });

  const broke = /an invariant broke under faults/;
  for (const [bug, caught] of [
    ["applyWithoutPrevious", broke],
    ["ackBeforePersist", broke],
    ["ignoreEpoch", broke],
    ["rewindWithoutReconnect", /healed, the fleet delivers everything/],
  ] as const) {
    it(`the property catches the planted bug ${bug}`, () => {
      const r = plantBugForTest(bug, () => fc.check(fc.property(SEED, TARGETS, schedule), { numRuns: 2_000, seed: 13 }));
      assert.ok(r.failed, `${bug} went unnoticed in ${r.numRuns} schedules`);
      assert.match(String(r.errorInstance), caught);
    });
  }
});

const SEED = fc.integer({ min: 0, max: 2 ** 31 });
const TARGETS = fc.array(fc.subarray([0, 1, 2]), { minLength: 1, maxLength: 12 });

/** A random schedule over the log `targets` (seeded), then a heal. */
function schedule(seed: number, targets: number[][]): void {
  const f = new Fleet(makeLog(targets, 3), 3, { windowMax: 3, queueMax: 4, readChunkMax: 2, batchItemsMax: 2 });
  f.startPlayer();
  f.chaos(new Prng(seed), 300, { lose: 0.05, duplicate: 0.1, crashShard: 0.01, crashPlayer: 0.005, newPlayer: 0.01 });
  assert.deepEqual(f.violations, [], "an invariant broke under faults");
  assert.ok(f.heal(50_000), "healed, the fleet delivers everything");
  assertDelivered(f);
}
