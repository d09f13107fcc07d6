import assert from "node:assert/strict";
import { test } from "node:test";
import { type PlantedBug, plantBugForTest } from "../../../verify/runtime/planted.ts";
import { runSeed, simulate } from "../../../verify/sim/kernel/run.ts";
import { NO_FAULTS } from "../../../verify/sim/kernel/options.ts";
import { TXN_ALL_FAULTS, type TxnWorldOptions } from "../../../verify/sim/worlds/txn-options.ts";
import { txnWorld } from "../../../verify/sim/worlds/txn.ts";
import { assertCleanSweep } from "../../verify/sweep.ts";

const now = () => performance.now();
/** Seeds in the default run; WORM_TXN_SIM_SEEDS=N runs more. */
const SEEDS = Number(process.env.WORM_TXN_SIM_SEEDS ?? 1_000);
const runTxnSeed = (seed: number, o: Partial<Omit<TxnWorldOptions, "seed">> = {}) => runSeed(txnWorld, seed, o);

test(`${SEEDS} seeds of a bank over WormTX, participants and coordinators crashing at every step, are clean`, () => {
  const s = simulate(txnWorld, { seeds: { from: 1, to: SEEDS }, now });
  assertCleanSweep("txn sim", s, SEEDS, {
    probes: [
      "sim.acceptor.crash",
      "sim.net.partition",
      "txn.coordinator.crashed",
      "txn.coordinator.recordSettled",
      "txn.participant.lateYesRefused",
      "txn.participant.learnedByWatch",
      "txn.participant.restartDecided",
      "txn.recovered.aborted",
      "txn.recovered.committed",
    ],
    outcomes: ["commit:committed", "commit:aborted"],
    outcomesAbove: 100,
  }, (p) => p.startsWith("txn."));
});

test("without faults every coordinator decides every transaction it starts, and most commit", () => {
  const s = simulate(txnWorld, { seeds: { from: 1, to: 40 }, world: { faults: { ...TXN_ALL_FAULTS, ...NO_FAULTS, participantCrash: 0, participantStepCrash: 0, coordinatorStepCrash: 0 } } });
  assert.deepEqual(s.failures, []);
  assert.deepEqual(Object.keys(s.outcomes).filter((k) => k.startsWith("commit:failed")), []);
  assert.ok(s.outcomes["commit:committed"]! > s.outcomes["commit:aborted"]!, JSON.stringify(s.outcomes));
});

test("the same seed gives the same transaction run, bit for bit", () => {
  const a = runTxnSeed(321, { keepLog: true });
  const b = runTxnSeed(321, { keepLog: true });
  assert.ok(a.log.length > 100);
  assert.deepEqual(a.log, b.log);
  assert.notEqual(runTxnSeed(322).traceHash, a.traceHash);
});

for (const [bug, found] of [
  ["commitWithVoteMissing", /decided committed, but not every vote is a chosen YES/],
  ["recoverOverwritesYes", /decided aborted, but no vote is a chosen NO|two values accepted|a second value chosen|learned committed/],
] as const satisfies readonly (readonly [PlantedBug, RegExp])[]) {
  test(`the transaction simulator catches the planted bug ${bug}`, () => {
    const s = plantBugForTest(bug, () => simulate(txnWorld, { seeds: { from: 1, to: 300 } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in 300 seeds`);
    const f = s.failures[0]!;
    console.log(`# ${bug}: caught at seed ${f.seed}: ${f.violations[0]!.slice(0, 160)}`);
    assert.match(f.violations.join("\n"), found);
    assert.match(f.replay, new RegExp(`--layer txn --seeds ${f.seed}\\.\\.${f.seed}`));
    assert.equal(runTxnSeed(f.seed).ok, true);
  });
}
