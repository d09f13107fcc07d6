/**
 * The SMR simulator world (verify/sim/worlds/smr.ts): replicas running the real ReplicaCore over
 * the real acceptors, with leader crashes and takeovers, partitions, wiped replicas catching up
 * from a peer's checkpoint after the log was trimmed under them, restarts from a local checkpoint,
 * duplicated and lost messages. Each run's client history is checked against the map spec, and the
 * SmrObserver's invariants after every step. Each planted SMR bug is caught by the checker named.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type PlantedBug, plantBugForTest } from "../../../verify/runtime/planted.ts";
import { type SimulationOptions, runSeed, simulate } from "../../../verify/sim/kernel/run.ts";
import { SMR_NO_FAULTS, type SmrWorldOptions } from "../../../verify/sim/worlds/smr-options.ts";
import { smrWorld } from "../../../verify/sim/worlds/smr.ts";
import { assertCleanSweep } from "../../verify/sweep.ts";

const now = () => performance.now();
const runSmrSimulation = (o: SimulationOptions<SmrWorldOptions>) => simulate(smrWorld, o);
const runSmrSeed = (seed: number) => runSeed(smrWorld, seed, {});
/** Seeds in the default run; WORM_SMR_SIM_SEEDS=N runs more. */
const SEEDS = Number(process.env.WORM_SMR_SIM_SEEDS ?? 1_000);

test(`${SEEDS} seeds of the SMR with every fault on are clean, and reach the cases they exist for`, () => {
  const s = runSmrSimulation({ seeds: { from: 1, to: SEEDS }, now });
  assertCleanSweep("smr sim", s, SEEDS, {
    probes: [
      "sim.acceptor.crash",
      "sim.net.partition",
      "sim.net.duplicated",
      // the leader killed, and another replica's leadership after it
      "smr.leader.crash",
      // the leader cut off from the replicas and acceptors while its clients still reach it
      "smr.leader.isolated",
      "smr.leader.takeover",
      "smr.replica.crash",
      "smr.restart.fromLocalCheckpoint",
      // a wiped or lagging replica found the log trimmed under it and installed a peer's checkpoint
      "smr.catchUp.fetch",
      "smr.catchUp.installed",
      "smr.catchUp.damagedChunk",
      // a replica with a state of its own whose log the trim outran: it fetched a newer checkpoint
      "smr.catchUp.trimOutranState",
      // a wipe refused: it would have left a majority's checkpoints lost (the state below the trim gone)
      "smr.replica.wipeRefused",
      "smr.checkpoint.stored",
      // a command in the log twice (a client's retry or eager second request): answered, not applied again
      "smr.log.commandCopy",
      // a leader applied a slot above the tokens it issued (a rival's recovery filled its segment, then
      // yielded) and stepped down. Seed 1898 once hung there (the heal never converged: the leader
      // announced its old tail for ever); since a result moves a replica's clock no seed of 1..9,000
      // reaches that, and test/apps/smr/leader.test.ts checks the step-down without the simulator
      "log.sequencer.overtaken",
    ],
    outcomes: ["put:ok", "delete:ok", "get:ok", "getStale:ok"],
  });
  assert.ok((s.buggify["sim.smr.duplicateMessage"] ?? 0) > 0, "no replica message was duplicated");
});

test("without faults, operations succeed (bar a rare client out of attempts while the first leader is elected)", () => {
  const s = runSmrSimulation({ seeds: { from: 1, to: 40 }, world: { faults: SMR_NO_FAULTS } });
  assert.deepEqual(
    s.failures.map((f) => `${f.seed}: ${f.violations[0]}`),
    [],
  );
  let ok = 0;
  let gaveUp = 0;
  for (const [k, n] of Object.entries(s.outcomes)) {
    assert.match(k, /:(ok|gaveUp)$/, `${k} without faults`);
    if (k.endsWith(":ok")) ok += n;
    else gaveUp += n;
  }
  // Eight attempts answered `unavailable` (no leader known yet) in the first few hundred ms.
  assert.ok(gaveUp * 100 <= ok, `${gaveUp} operations gave up, ${ok} succeeded`);
  assert.equal(s.probes["smr.leader.crash"] ?? 0, 0);
});

// A replica's data is wiped only while the replicas whose wipe lost checkpoints stay a minority:
// seed 758 once wiped all three after the log was trimmed below their checkpoints, leaving no copy of
// the state below the trim (the heal never converged). The sweep above requires refused wipes
// (`smr.replica.wipeRefused`); the seed itself no longer reaches that schedule since the log's tail
// check changed the runs, so it is not pinned here.

// Seed 1663 once lost the records of r0's checkpoints at 17 and 22 (never reached the log) while r1,
// the other holder, was wiped: the records left named snapshots nobody held, and the leader and r1
// waited in catch-up forever. test/apps/smr/publish.test.ts holds that case (a record is published
// again until applied); the seed no longer reaches the schedule since the runs changed (a result
// moves a replica's clock; the leader-isolation fault), so it is not pinned here.

test("the same seed gives the same SMR run, bit for bit", () => {
  const a = runSeed(smrWorld, 31, { keepLog: true });
  const b = runSeed(smrWorld, 31, { keepLog: true });
  assert.ok(a.log.length > 100);
  assert.deepEqual(a.log, b.log);
  assert.equal(runSmrSeed(31).traceHash, a.traceHash);
  assert.notEqual(runSmrSeed(32).traceHash, a.traceHash);
});

const PLANTED: readonly { readonly bug: PlantedBug; readonly from?: number; readonly seeds: number; readonly checker: string; readonly violation: RegExp }[] = [
  // The session table is what answers a retry: without it the observer sees a key executed at two slots.
  { bug: "applyRetryTwice", seeds: 400, checker: "SmrObserver.executed", violation: /command \S+ applied twice/ },
  // A deposed leader answers a read from its stale state: the history is not linearizable. The world
  // cuts the leader off from the replicas and acceptors while clients still reach it (about one seed
  // in 50 catches it: 1, 89, 118, 211, 287, 298 of 1..300; one in 3,000 before that fault).
  { bug: "readWithoutReadIndex", seeds: 300, checker: "checkMapHistory (the map spec)", violation: /history is not linearizable/ },
  // A checkpoint one position off (every replica labels it so alike): a replica that installs one
  // skips a slot, and its state's digest differs from the replay's at the same position.
  { bug: "checkpointWrongPosition", seeds: 300, checker: "SmrObserver.digest", violation: /has digest \w+ at position \d+, .* had \w+/ },
];

for (const { bug, from = 1, seeds, checker, violation } of PLANTED) {
  test(`the SMR simulator catches the planted bug ${bug} (${checker}), and the seed replays it`, () => {
    const s = plantBugForTest(bug, () => runSmrSimulation({ seeds: { from, to: seeds } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in seeds ${from}..${seeds}`);
    const f = s.failures[0]!;
    assert.match(f.violations.join("\n"), violation);
    assert.match(f.replay, new RegExp(`--layer smr --seeds ${f.seed}\\.\\.${f.seed}`));
    console.log(`# ${bug}: caught at seed ${f.seed} by ${checker}: ${f.violations[0]!.slice(0, 140)}`);
    assert.deepEqual(plantBugForTest(bug, () => runSmrSeed(f.seed)).violations, f.violations);
    assert.equal(runSmrSeed(f.seed).ok, true);
  });
}
