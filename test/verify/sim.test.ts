import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { plantBugForTest } from "../../verify/runtime/planted.ts";
import { NO_FAULTS } from "../../verify/sim/kernel/options.ts";
import { EventQueue } from "../../verify/sim/kernel/queue.ts";
import { type SimulationOptions, runSeed as runSeedOf, simulate } from "../../verify/sim/kernel/run.ts";
import { MINORITY_PROBES } from "../../verify/sim/worlds/minority.ts";
import type { WorOptions } from "../../verify/sim/worlds/wor-options.ts";
import { worWorld } from "../../verify/sim/worlds/wor.ts";
import { assertCleanSweep } from "./sweep.ts";

const now = () => performance.now();
const runSimulation = (o: SimulationOptions<WorOptions>) => simulate(worWorld, o);
const runSeed = (seed: number, o: Partial<Omit<WorOptions, "seed">> = {}) => runSeedOf(worWorld, seed, o);
/** Seeds in the default run; WORM_SIM_SEEDS=N runs more. */
const SEEDS = Number(process.env.WORM_SIM_SEEDS ?? 2_000);

test("event queue pops by time, then in scheduling order", () => {
  const q = new EventQueue<string>();
  q.push(5, "c");
  q.push(1, "a");
  q.push(5, "d");
  q.push(1, "b");
  q.push(3, "x");
  const out: string[] = [];
  for (let e = q.pop(); e; e = q.pop()) out.push(e.event);
  assert.deepEqual(out, ["a", "b", "x", "c", "d"]);
});

test(`${SEEDS} seeds of the register layer with every fault on are clean`, () => {
  const s = runSimulation({ seeds: { from: 1, to: SEEDS }, now });
  assertCleanSweep("sim", s, SEEDS, {
    probes: [
      "sim.acceptor.crash",
      "sim.acceptor.crash.lostUnsyncedWrites",
      "sim.acceptor.groupCommit.batched",
      // the acceptors' tiny caches evicted blocks, and a crash hit a node waiting for a read
      "sim.acceptor.cache.evicted",
      "sim.acceptor.crash.lostRead",
      "sim.net.duplicated",
      "sim.net.partition",
      "wor.capture.finishedFoundValue",
      "wor.capture.rangeFoundValues",
      "wor.write.preemptedUnknown",
      "wor.write.alreadyWrittenOther",
      "wor.write.rangeUnderOneCapture",
      "wor.alloc.raced",
      "wor.watch.learned",
      "wor.trim.acceptorCrashed",
      // sometimes: a capture with a minority down and mixed promises at the rest succeeded
      MINORITY_PROBES.captured,
    ],
    outcomes: ["write:Ok", "capture:Preempted", "read:Written", "read:Unwritten", "finalRead:Written", "trim:ok", "alloc:Allocated", "alloc:AlreadyAllocated", "check:Allocated", "finalCheck:Allocated"],
  });
  console.log(`# buggify: ${JSON.stringify(s.buggify)}`);
  assert.ok(Object.keys(s.buggify).length > 0, "no buggify site fired");
});

test("without faults every operation succeeds, but for racing allocators that preempt each other", () => {
  const s = runSimulation({ seeds: { from: 1, to: 50 }, world: { faults: NO_FAULTS } });
  assert.equal(s.failures.length, 0);
  // The world's clients give up after 3 preemptions (wor-workload.ts), so two allocators racing for
  // one register may both give up, faults or not: `contended` is the only failure allowed here.
  for (const k of Object.keys(s.outcomes)) assert.ok(!k.includes("failed") || k === "alloc:failed:contended", `${k} without faults`);
  const contended = s.outcomes["alloc:failed:contended"] ?? 0;
  assert.ok(contended <= 5, `${contended} allocations contended without faults`);
});

test("the same seed gives the same run, bit for bit; different seeds differ", () => {
  const a = runSeed(424242, { keepLog: true });
  const b = runSeed(424242, { keepLog: true });
  assert.ok(a.log.length > 100);
  assert.equal(a.traceHash, b.traceHash);
  assert.deepEqual(a.log, b.log);
  assert.equal(a.events, b.events);
  // The hash covers the whole log: it is what a run without `keepLog` reports.
  assert.equal(runSeed(424242).traceHash, a.traceHash);
  assert.notEqual(runSeed(424243).traceHash, a.traceHash);
});

test("a capture with a minority down and mixed promises succeeds; with the planted waitOutRejection bug none does", () => {
  const seeds = { from: 1, to: 600 };
  const fixed = runSimulation({ seeds });
  const buggy = plantBugForTest("waitOutRejection", () => runSimulation({ seeds }));
  const got = (s: typeof fixed, p: string) => s.probes[p] ?? 0;
  console.log(
    `# minority down, mixed promises: ${got(fixed, MINORITY_PROBES.captured)} of ${got(fixed, MINORITY_PROBES.started)} such captures succeeded; with the bug ${got(buggy, MINORITY_PROBES.captured)} of ${got(buggy, MINORITY_PROBES.started)}`,
  );
  assert.equal(fixed.failures.length, 0);
  assert.ok(got(fixed, MINORITY_PROBES.captured) > 0, "no capture with a minority down and mixed promises succeeded");
  assert.ok(got(buggy, MINORITY_PROBES.started) > 0, "the scenario never arose");
  assert.equal(got(buggy, MINORITY_PROBES.captured), 0, "waiting out a rejection should never capture while the minority stays down");
});

test("the simulator's acceptors are the real AcceptorNode and GroupCommit: bugs planted only in wor/node/group-commit.ts are caught", () => {
  // The simulator holds no planted-bug site of its own: what it catches is a bug in the real code.
  const dir = fileURLToPath(new URL("../../verify/sim/", import.meta.url));
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length > 10);
  for (const f of files) assert.doesNotMatch(readFileSync(join(dir, f), "utf8"), /planted\(/, `verify/sim/${f} plants a bug of its own`);
  // A reply released before its batch is durable; a read (or a repeated accept) answered ahead of
  // the batch in flight, which may hold the very state it reports.
  for (const bug of ["replyBeforePersist", "readAheadOfSync"] as const) {
    const s = plantBugForTest(bug, () => runSimulation({ seeds: { from: 1, to: 200 } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in 200 seeds`);
    assert.match(s.failures[0]!.violations[0]!, /acknowledged write .* but nothing is chosen there|durable at only/);
  }
});

// The register layer's bugs (sites in paxos/ and wor/). The apps' bugs are caught by their own worlds
// and models (test/apps/*/sim.test.ts, test/verify/mc-*.test.ts); waitOutRejection is a liveness
// bug, caught by a sometimes property above.
const REGISTER_BUGS = ["acceptBelowPromise", "ignoreAdoptedValue", "adoptLowestBallot", "forgetRangePromises", "ignoreRangePromises", "replyBeforePersist", "readAheadOfSync", "evictUndurable", "learnBelowQuorum", "learnUntold", "readWithoutQuorum", "trimBackwards"] as const;
for (const bug of REGISTER_BUGS) {
  test(`the simulator catches the planted bug ${bug}, and prints the replay command`, () => {
    const s = plantBugForTest(bug, () => runSimulation({ seeds: { from: 1, to: 500 } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in 500 seeds`);
    const f = s.failures[0]!;
    assert.match(f.replay, new RegExp(`--layer wor --seeds ${f.seed}\\.\\.${f.seed}`));
    console.log(`# ${bug}: caught at seed ${f.seed}: ${f.violations[0]!.split("\n")[0]!.slice(0, 140)}`);
    // The same seed replays the failure; without the bug it is clean.
    const again = plantBugForTest(bug, () => runSeed(f.seed));
    assert.equal(again.ok, false);
    assert.deepEqual(again.violations, f.violations);
    assert.equal(runSeed(f.seed).ok, true);
  });
}

test("the register world exercises range captures, alloc/check, watch and trims under crashes", () => {
  const s = runSimulation({ seeds: { from: 1, to: 200 } });
  assert.equal(s.failures.length, 0);
  const probes = {
    // a capture of several addresses that found values and finished them (re-capture of a range with values)
    "wor.capture.rangeFoundValues": "range re-capture",
    // one write of several addresses under one capture, all chosen
    "wor.write.rangeUnderOneCapture": "multi-address write",
    // a second write under the same capture, for addresses the first left
    "wor.write.secondUnderOneCapture": "second write under a capture",
    // an allocation lost to another client's (alloc raced)
    "wor.alloc.raced": "alloc raced",
    // a value pushed to the watcher (checked against the ghost, recorded as a read)
    "wor.watch.learned": "watch delivered",
    // an acceptor crashed while a trim was in flight; one restarted below an acknowledged trim mark
    "wor.trim.acceptorCrashed": "trim under a crash",
    "wor.trim.restartedBehind": "restart behind a trim",
  };
  for (const [p, what] of Object.entries(probes)) assert.ok((s.probes[p] ?? 0) > 0, `${what}: probe ${p} never reached`);
  for (const o of ["check:Allocated", "check:Unallocated", "alloc:Allocated", "alloc:AlreadyAllocated", "capture:Trimmed"]) assert.ok((s.outcomes[o] ?? 0) > 0, `no ${o} outcome`);
  console.log(`# register world, 200 seeds: ${Object.keys(probes).map((p) => `${p} ${s.probes[p]}`).join(", ")}`);
});

test("the range-promise mutants are caught because the register world captures ranges: with single-address captures only (the old workload) neither is", () => {
  for (const bug of ["forgetRangePromises", "ignoreRangePromises"] as const) {
    const ranges = plantBugForTest(bug, () => runSimulation({ seeds: { from: 1, to: 500 } }));
    assert.equal(ranges.failures.length, 1, `${bug} was not caught in 500 seeds`);
    const single = plantBugForTest(bug, () => runSimulation({ seeds: { from: 1, to: 200 }, world: { rangeMax: 1 } }));
    assert.equal(single.failures.length, 0, `${bug} caught without range captures: ${single.failures[0]?.violations[0]}`);
    console.log(`# ${bug}: caught at seed ${ranges.failures[0]!.seed} (${ranges.failures[0]!.violations[0]!.slice(0, 100)}); without range captures 200 seeds clean`);
  }
});
