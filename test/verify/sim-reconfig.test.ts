/**
 * The simulator's reconfig world (verify/sim/worlds/reconfiguration.ts): the register world while
 * its acceptors change, drawn per seed: acceptor 2 replaced by a spare, the spare added (4 acceptors,
 * quorum 3), or acceptor 2 removed (2 acceptors, quorum 2); every fault on (the spare and the
 * acceptors that stay crash too), a victim held down back later as a zombie; quorums counted per
 * configuration; once epoch 1 serves, every acknowledged write must be durable at enough of its
 * acceptors that every quorum meets one. Its planted bugs: an acceptor that admits stale epochs, a
 * client that goes on with phase 2 under a capture of the old configuration (which the simulator
 * found before the client core refused it), and a copy from one source only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { plantBugForTest } from "../../verify/runtime/planted.ts";
import { simulate } from "../../verify/sim/kernel/run.ts";
import { reconfigWorld } from "../../verify/sim/worlds/wor.ts";
import { assertCleanSweep } from "./sweep.ts";

/** Seeds in the default run; WORM_SIM_SEEDS=N runs more. */
const SEEDS = Number(process.env.WORM_SIM_SEEDS ?? 1_000);
const now = () => performance.now();

test(`${SEEDS} seeds of the register world through a replacement, an addition or a removal, every fault on, are clean`, () => {
  const s = simulate(reconfigWorld, { seeds: { from: 1, to: SEEDS }, now });
  assertCleanSweep("sim reconfig", s, SEEDS, {
    probes: [
      "sim.reconfiguration.fenced",
      "sim.reconfiguration.activated",
      "sim.reconfiguration.replace",
      "sim.reconfiguration.add",
      "sim.reconfiguration.remove",
      // a removed acceptor that was up when told serves no one
      "sim.acceptor.refused.retired",
      // clients refused by a fenced acceptor (or whose session it ended) follow epoch 1
      "sim.acceptor.fencedSession",
      "sim.acceptor.refused.reconfigured",
      "sim.process.followed",
      // the joining spare refuses everyone but its installer
      "sim.acceptor.refused.joining",
      "sim.acceptor.crash.lostUnsyncedWrites",
    ],
    outcomes: ["write:Ok", "finalRead:Written"],
  });
  assert.equal(s.probes["sim.reconfiguration.activated"], SEEDS, "every run finished its reconfiguration");
});

// Each run stops at its catch: phase2AcrossConfigurations is caught at seed 2286 (at 1320 in a world
// of replacements only), the others within a few dozen.
for (const [bug, seeds] of [
  ["admitStaleEpoch", 500],
  ["phase2AcrossConfigurations", 5_000],
  ["copyFromOneSource", 500],
] as const) {
  test(`the reconfig world catches the planted bug ${bug}`, () => {
    const s = plantBugForTest(bug, () => simulate(reconfigWorld, { seeds: { from: 1, to: seeds } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in ${seeds} seeds`);
    const f = s.failures[0]!;
    assert.match(f.replay, new RegExp(`--layer reconfig --seeds ${f.seed}\\.\\.${f.seed}`));
    console.log(`# ${bug}: caught at seed ${f.seed}: ${f.violations[0]!.slice(0, 140)}`);
  });
}
