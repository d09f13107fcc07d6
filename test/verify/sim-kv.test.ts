/**
 * The KV simulator world (verify/sim/worlds/kv.ts): one partition of the example KV whose log is the
 * log world's (the real sequencer and appenders over the real acceptors, failing), delivered by lines
 * of real LogPlayer players to two shards (the real `ShardCore`, the real `KvShardState` applying
 * the transactions), through lost, duplicated and reordered frames, broken streams, shard and player
 * crashes and zombies, and the partition moving to another node while zombie writers go on appending
 * under the old map epoch. Writers append transactions and answer with a shard's result at their
 * position; readers read linearizably (the tail, then a shard applied below it). The KvObserver
 * holds at every step, every shard ends holding the log, and the history is linearizable. Each
 * planted KV bug is caught by the check named, and its seed is clean without the bug.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type PlantedBug, plantBugForTest } from "../../verify/runtime/planted.ts";
import { runSeed, simulate } from "../../verify/sim/kernel/run.ts";
import { kvWorld } from "../../verify/sim/worlds/kv.ts";
import { KV_NO_FAULTS, type KvWorldOptions } from "../../verify/sim/worlds/kv-options.ts";
import { assertCleanSweep } from "./sweep.ts";

const now = () => performance.now();
/** Seeds in the default run; WORM_KV_SIM_SEEDS=N runs more. */
const SEEDS = Number(process.env.WORM_KV_SIM_SEEDS ?? 1_000);
const runKvSeed = (seed: number, o: Partial<Omit<KvWorldOptions, "seed">> = {}) => runSeed(kvWorld, seed, o);

test(`${SEEDS} seeds of the KV over its log and its shards, every fault on, are clean and reach the cases they exist for`, { timeout: 600_000 }, () => {
  const s = simulate(kvWorld, { seeds: { from: 1, to: SEEDS }, now });
  assertCleanSweep(
    "kv sim",
    s,
    SEEDS,
    {
      probes: [
        "sim.acceptor.crash",
        "sim.net.partition",
        "log.sequencer.crash",
        "log.appender.crashAfterWrite",
        // a shard crashed (its memory beyond its last sync lost), restarted from its image and caught up
        "kv.shard.crash",
        "kv.shard.restartCaughtUp",
        "kv.player.crash",
        // a frozen player, replaced, thawed and fenced at its shard
        "kv.player.freeze",
        "logplayer.player.fenced",
        "logplayer.player.rewound",
        // a read found its shard behind the tail and waited; a write waited for its position
        "kv.read.waitedForShard",
        "kv.write.waitedForShard",
        // the partition moved: a zombie's batch landed after the owner entry (applied as nothing,
        // refused, tried again under the new epoch), or before it (applied); a zombie refused up front
        "kv.move.claimed",
        "kv.shard.superseded",
        "kv.move.zombieAppliedAsNothing",
        "kv.move.zombieLandedFirst",
        "kv.move.refusedBeforeAppend",
      ],
      // Every seed ended with every shard holding the log and a linearizable history.
      outcomes: [
        "kv:complete",
        "write:put",
        "write:delete",
        "write:txn:succeeded",
        "write:txn:failed",
        "read:get",
        "read:range",
        // a write retried with its key after its node crashed: the log kept it once
        "write:node:crashed",
        "write:appendDuplicate",
        "write:unknown",
        "write:node:moved",
      ],
    },
    (p) => p.startsWith("kv.") || p.startsWith("logplayer.player."),
  );
  assert.equal(s.outcomes["kv:complete"], SEEDS);
});

test("with one shard (the KV node's shape) and without faults, every write and read is answered", () => {
  const one = simulate(kvWorld, { seeds: { from: 1, to: 40 }, world: { shards: 1 } });
  assert.deepEqual(one.failures, []);
  assert.equal(one.outcomes["kv:complete"], 40);
  const calm = simulate(kvWorld, { seeds: { from: 1, to: 20 }, world: { faults: KV_NO_FAULTS } });
  assert.deepEqual(calm.failures, []);
  const o = kvWorld.defaults;
  // Each reader makes one last read once every writer is done.
  assert.equal(calm.operations, 20 * (o.kvWriters * o.kvWrites + o.kvReaders * (o.kvReads + 1)));
  assert.equal(calm.outcomes["write:unknown"], undefined);
});

test("the same seed gives the same KV run, bit for bit", () => {
  const a = runKvSeed(77, { keepLog: true });
  const b = runKvSeed(77, { keepLog: true });
  assert.ok(a.log.length > 100);
  assert.deepEqual(a.log, b.log);
  assert.notEqual(runKvSeed(78).traceHash, a.traceHash);
});

const PLANTED: readonly { readonly bug: PlantedBug; readonly seeds: number; readonly checker: string; readonly violation: RegExp }[] = [
  // A read answered at once from a shard behind a write acknowledged before it began.
  { bug: "staleRead", seeds: 100, checker: "checkKvHistory (the KV spec)", violation: /the KV history is not linearizable at keys of/ },
  // A restart from an image naming the write before: its rows applied again over their own records
  // (the KvObserver sees the revision; the delivery observer, which seed comes first, the positions).
  { bug: "applyTwice", seeds: 100, checker: "KvObserver (shards hold the log), or the delivery observer", violation: /partition 0, position -?\d+: shard 0\/s\d holds revision \d+, the log says \d+|shard \d: durable applied position went back|shard \d: rows at -?\d+ lie outside/ },
  // A batched transaction stored twice in the log (a retry under a fresh log key) applied twice.
  { bug: "applyRetryTwice", seeds: 100, checker: "KvObserver (shards hold the log)", violation: /partition 0, position -?\d+: (shard 0\/s\d holds|shard s\d answered)/ },
  // A zombie's batch, appended under the old map epoch after the new owner's entry, applied (the
  // KvObserver's replay applies it as nothing: the shard's revision, or its answer for the write).
  {
    bug: "applySuperseded",
    seeds: 100,
    checker: "KvObserver (shards hold the log, answers follow it)",
    violation: /partition 0, position \d+: (shard 0\/s\d holds revision \d+, the log says \d+|shard s\d answered w\d#\d+, which the log below \d+ did not apply)/,
  },
  // A last token taken and never written, nothing after it: a read's tail above it waits forever.
  { bug: "holeAtTailUnfilled", seeds: 100, checker: "the readers' liveness after the heal", violation: /after the heal, read .* waited \d+ ms at s\d for position \d+/ },
];

for (const { bug, seeds, checker, violation } of PLANTED) {
  test(`the KV simulator catches the planted bug ${bug} (${checker}) within ${seeds} seeds, and the seed is clean without it`, () => {
    const s = plantBugForTest(bug, () => simulate(kvWorld, { seeds: { from: 1, to: seeds } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in ${seeds} seeds`);
    const f = s.failures[0]!;
    const at = plantBugForTest(bug, () => runKvSeed(f.seed));
    console.log(`# ${bug}: caught at seed ${f.seed}, event ${at.events} (${at.virtualMs} virtual ms): ${f.violations[0]!.split("\n")[0]!.slice(0, 160)}`);
    assert.match(f.violations[0]!, violation);
    assert.deepEqual(at.violations, f.violations);
    assert.match(f.replay, new RegExp(`--layer kv --seeds ${f.seed}\\.\\.${f.seed}`));
    assert.equal(runKvSeed(f.seed).ok, true);
  });
}
