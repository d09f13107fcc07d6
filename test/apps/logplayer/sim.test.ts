/**
 * The LogPlayer simulator world (verify/sim/worlds/logplayer.ts): the shared-log world makes the log
 * (the real sequencer and appenders over the real acceptors, failing), the real shard and player
 * cores deliver it through lost, duplicated and reordered frames, broken streams, shard and player
 * crashes, zombie players and acceptor crashes. The DeliveryObserver's invariants hold at every
 * step, and after the heal every shard holds exactly the log filtered to it. Each planted LogPlayer
 * bug is caught by the invariant named, and its seed is clean without the bug.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type PlantedBug, plantBugForTest } from "../../../verify/runtime/planted.ts";
import { runSeed, simulate } from "../../../verify/sim/kernel/run.ts";
import { LOGPLAYER_NO_FAULTS, type LogPlayerWorldOptions } from "../../../verify/sim/worlds/logplayer-options.ts";
import { logPlayerWorld } from "../../../verify/sim/worlds/logplayer.ts";
import { assertCleanSweep } from "../../verify/sweep.ts";

const now = () => performance.now();
/** Seeds in the default run; WORM_LOGPLAYER_SIM_SEEDS=N runs more. */
const SEEDS = Number(process.env.WORM_LOGPLAYER_SIM_SEEDS ?? 1_000);
const runLpSeed = (seed: number, o: Partial<Omit<LogPlayerWorldOptions, "seed">> = {}) => runSeed(logPlayerWorld, seed, o);

test(`${SEEDS} seeds of LogPlayer delivering the shared log, every fault on, are clean and reach the cases they exist for`, { timeout: 600_000 }, () => {
  const s = simulate(logPlayerWorld, { seeds: { from: 1, to: SEEDS }, now });
  assertCleanSweep(
    "logplayer sim",
    s,
    SEEDS,
    {
      probes: [
        "sim.acceptor.crash",
        "sim.net.partition",
        "log.sequencer.crash",
        "logplayer.net.duplicated",
        "logplayer.stream.broken",
        // a shard's gap: it rewound the player, which started over from a handshake
        "logplayer.player.rewound",
        "logplayer.shard.duplicate",
        "logplayer.shard.watermark",
        // a shard crashed, restarted from its disk, and applied past where it restarted
        "logplayer.shard.crash",
        "logplayer.shard.restartCaughtUp",
        "logplayer.player.crash",
        // a player crashed while it claimed its epoch (its allocation may have landed)
        "logplayer.player.crashClaiming",
        // a frozen player, replaced, thawed and fenced
        "logplayer.player.freeze",
        "logplayer.zombie.thawed",
        "logplayer.player.fenced",
        "logplayer.player.reread",
        "logplayer.player.trim",
        // the subscription filled a hole below a later entry (as the log's subscription does)
        "logplayer.subscription.filledHole",
      ],
      // Every seed ended with every shard holding exactly its entries.
      outcomes: ["delivered:complete", "epoch:claimed", "player:fenced", "reread:ok"],
    },
    (p) => p.startsWith("logplayer."),
  );
  assert.equal(s.outcomes["delivered:complete"], SEEDS);
  assert.ok(s.outcomes["epoch:claimed"]! > SEEDS, "new players claimed later epochs");
});

test("without faults one player delivers everything with one epoch", () => {
  const s = simulate(logPlayerWorld, { seeds: { from: 1, to: 30 }, world: { faults: LOGPLAYER_NO_FAULTS } });
  assert.deepEqual(s.failures, []);
  assert.equal(s.outcomes["delivered:complete"], 30);
  assert.equal(s.outcomes["epoch:claimed"], 30);
  assert.equal(s.outcomes["player:fenced"], undefined);
});

test("the same seed gives the same LogPlayer run, bit for bit", () => {
  const a = runLpSeed(77, { keepLog: true });
  const b = runLpSeed(77, { keepLog: true });
  assert.ok(a.log.length > 100);
  assert.deepEqual(a.log, b.log);
  assert.notEqual(runLpSeed(78).traceHash, a.traceHash);
});

const PLANTED: readonly { readonly bug: PlantedBug; readonly checker: string; readonly violation: RegExp }[] = [
  // A lost or reordered batch, the next item applied over the gap.
  { bug: "applyWithoutPrevious", checker: "inOrderExactlyOnce", violation: /shard \d+: skipped its entry at position \d+/ },
  // The ack leaves before the write: the player holds a position the shard has not made durable.
  { bug: "ackBeforePersist", checker: "ackSound", violation: /player pl\d+ holds shard \d+ at \d+, but the shard made only -?\d+ durable/ },
  // A thawed zombie's batch lands at a shard that saw the next epoch.
  { bug: "ignoreEpoch", checker: "fencedApplyNothing", violation: /shard \d+ at epoch \d+ applied items of fenced epoch \d+/ },
  // Liveness: after a rewind the shard is never reconnected, so it ends short of the log.
  { bug: "rewindWithoutReconnect", checker: "complete (after the heal)", violation: /shard \d+ applied only up to -?\d+ of a log ending at \d+/ },
];

for (const { bug, checker, violation } of PLANTED) {
  test(`the LogPlayer simulator catches the planted bug ${bug} (${checker}), and the seed is clean without it`, () => {
    const s = plantBugForTest(bug, () => simulate(logPlayerWorld, { seeds: { from: 1, to: 300 } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in 300 seeds`);
    const f = s.failures[0]!;
    const at = plantBugForTest(bug, () => runLpSeed(f.seed));
    console.log(`# ${bug}: caught at seed ${f.seed}, event ${at.events} (${at.virtualMs} virtual ms): ${f.violations[0]!.slice(0, 160)}`);
    assert.match(f.violations[0]!, violation);
    assert.match(f.replay, new RegExp(`--layer logplayer --seeds ${f.seed}\\.\\.${f.seed}`));
    assert.equal(runLpSeed(f.seed).ok, true);
  });
}
