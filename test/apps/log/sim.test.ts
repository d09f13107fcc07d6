import assert from "node:assert/strict";
import { test } from "node:test";
import { plantBugForTest } from "../../../verify/runtime/planted.ts";
import { type SimulationOptions, runSeed, simulate } from "../../../verify/sim/kernel/run.ts";
import { LOG_ALL_FAULTS, LOG_NO_FAULTS, type LogWorldOptions } from "../../../verify/sim/worlds/log-options.ts";
import { logWorld } from "../../../verify/sim/worlds/log.ts";
import { assertCleanSweep } from "../../verify/sweep.ts";

const now = () => performance.now();
const runLogSimulation = (o: SimulationOptions<LogWorldOptions>) => simulate(logWorld, o);
const runLogSeed = (seed: number, o: Partial<Omit<LogWorldOptions, "seed">> = {}) => runSeed(logWorld, seed, o);
/** Seeds in the default run; WORM_LOG_SIM_SEEDS=N runs more. */
const SEEDS = Number(process.env.WORM_LOG_SIM_SEEDS ?? 1_000);

test(`${SEEDS} seeds of the whole log stack with every fault on are clean`, () => {
  const s = runLogSimulation({ seeds: { from: 1, to: SEEDS }, now });
  assertCleanSweep("log sim", s, SEEDS, {
    probes: [
      "sim.acceptor.crash",
      "sim.net.partition",
      "log.sequencer.crash",
      "log.sequencer.takeover",
      "log.reader.fillHole",
      "log.token.prior",
      "log.seq.captureFoundValues",
      "log.appender.captureFoundValue",
      "log.appender.crashBeforeWrite",
      "log.appender.crashAfterWrite",
      "log.seq.sealBehind",
      "log.token.priorFromOtherSequencer",
    ],
    outcomes: ["append:ok", "scan:ok", "stream:ok", "fill:fill", "fill:entry"],
  });
});

test("without faults every append succeeds (reads may time out behind buggified slow messages)", () => {
  const s = runLogSimulation({ seeds: { from: 1, to: 30 }, world: { faults: LOG_NO_FAULTS } });
  assert.equal(s.failures.length, 0, JSON.stringify(s.failures));
  for (const k of Object.keys(s.outcomes)) assert.ok(!k.startsWith("append:failed") && !k.startsWith("fill:failed"), `${k} without faults`);
});

test("the same seed gives the same log run, bit for bit", () => {
  const a = runLogSeed(777, { keepLog: true });
  const b = runLogSeed(777, { keepLog: true });
  assert.ok(a.log.length > 100);
  assert.deepEqual(a.log, b.log);
  assert.equal(a.traceHash, b.traceHash);
  assert.equal(runLogSeed(777).traceHash, a.traceHash);
  assert.notEqual(runLogSeed(778).traceHash, a.traceHash);
});

test("the log simulator catches the planted bug appendWithoutSettle, and prints the replay command", () => {
  const s = plantBugForTest("appendWithoutSettle", () => runLogSimulation({ seeds: { from: 1, to: 1_000 } }));
  assert.equal(s.failures.length, 1, "appendWithoutSettle was not caught in 1,000 seeds");
  const f = s.failures[0]!;
  assert.match(f.replay, new RegExp(`--layer log --seeds ${f.seed}\\.\\.${f.seed}`));
  assert.match(f.violations.join("\n"), /stored twice|observed at two slots|acknowledged/);
  console.log(`# appendWithoutSettle: caught at seed ${f.seed}: ${f.violations[0]!.split("\n")[0]!.slice(0, 140)}`);
  assert.deepEqual(plantBugForTest("appendWithoutSettle", () => runLogSeed(f.seed)).violations, f.violations);
  assert.equal(runLogSeed(f.seed).ok, true);
});

test("a tail obtained after a sequencer takeover is above every acknowledged append (seeds that found the stale tail)", () => {
  // A deposed sequencer lost a claim to the new one, recovered over it (sealing its segments) and
  // granted its queued asks in segments above; the new one, idle, kept reporting its old tail.
  for (const seed of [165, 728, 964, 1151, 2227, 2311]) assert.deepEqual(runLogSeed(seed).violations, [], `seed ${seed}`);
});

test("the log simulator catches the planted bug unconfirmedTail (a tail below an acknowledged append)", () => {
  const s = plantBugForTest("unconfirmedTail", () => runLogSimulation({ seeds: { from: 1, to: 1_000 } }));
  assert.equal(s.failures.length, 1, "unconfirmedTail was not caught in 1,000 seeds");
  const f = s.failures[0]!;
  assert.match(f.violations.join("\n"), /tail \d+ obtained after an append was acknowledged at slot \d+/);
  console.log(`# unconfirmedTail: caught at seed ${f.seed}: ${f.violations[0]!.slice(0, 140)}`);
  assert.deepEqual(plantBugForTest("unconfirmedTail", () => runLogSeed(f.seed)).violations, f.violations);
  assert.equal(runLogSeed(f.seed).ok, true);
});

test("the log simulator's acceptors are the real node too: replyBeforePersist, planted in wor/node/group-commit.ts, is caught", () => {
  const s = plantBugForTest("replyBeforePersist", () => runLogSimulation({ seeds: { from: 1, to: 300 } }));
  assert.equal(s.failures.length, 1, "replyBeforePersist was not caught in 300 seeds");
  const f = s.failures[0]!;
  console.log(`# replyBeforePersist: caught at seed ${f.seed}: ${f.violations[0]!.slice(0, 140)}`);
  assert.deepEqual(plantBugForTest("replyBeforePersist", () => runLogSeed(f.seed)).violations, f.violations);
  assert.equal(runLogSeed(f.seed).ok, true);
});

test("appends retried with the same key by fresh appenders (crashes, failures) stay exactly-once", () => {
  // Every slot a sequencer issued for a key travels with the next token as a prior, and the
  // appender settles each before writing: no key is stored twice while the sequencer lives.
  const s = runLogSimulation({ seeds: { from: 1, to: 200 }, world: { faults: { ...LOG_ALL_FAULTS, sequencerCrash: 0, sequencerReplace: 0 } } });
  assert.deepEqual(
    s.failures.map((f) => `${f.seed}: ${f.violations[0]}`),
    [],
  );
});

/** Sequencers crash and are replaced (the old one running on) often, and appenders crash often. */
const FAILOVERS = { ...LOG_ALL_FAULTS, sequencerCrash: 0.02, sequencerReplace: 0.02, appenderCrash: 0.15 };

test("key retries across sequencer failovers and takeovers stay exactly-once (the dedupe window survives recovery)", () => {
  // A restarted appender retries its key through a new sequencer (the old one dead, or still
  // running for a while): the new one sealed everything the old ones left unsealed (sealed-below
  // marks) and learned the keys of the dedupe window, so the retry settles the earlier attempt.
  const s = runLogSimulation({ seeds: { from: 1, to: 1_000 }, world: { faults: FAILOVERS }, stopOnFailure: false, now });
  console.log(`# failovers: ${s.seeds} seeds in ${(s.ms / 1000).toFixed(1)} s; probes: ${JSON.stringify(s.probes)}`);
  assert.deepEqual(
    s.failures.map((f) => `${f.seed}: ${f.violations[0]}`),
    [],
  );
  for (const p of ["log.token.priorFromOtherSequencer", "log.token.priorFromLiveOtherSequencer", "log.token.priorBeyondLastTwoSegments", "log.seq.sealBehind"]) {
    assert.ok((s.probes[p] ?? 0) > 0, `probe ${p} never reached`);
  }
});

test("the log simulator catches the planted bug recoverOnlyLastSegments (a key stored twice across a failover)", () => {
  const s = plantBugForTest("recoverOnlyLastSegments", () => runLogSimulation({ seeds: { from: 1, to: 1_000 }, world: { faults: FAILOVERS } }));
  assert.equal(s.failures.length, 1, "recoverOnlyLastSegments was not caught in 1,000 seeds");
  const f = s.failures[0]!;
  assert.match(f.violations.join("\n"), /stored twice|acknowledged/);
  console.log(`# recoverOnlyLastSegments: caught at seed ${f.seed}: ${f.violations[0]!.slice(0, 140)}`);
  assert.equal(runLogSeed(f.seed, { faults: FAILOVERS }).ok, true);
});

for (const bug of ["forgetRangePromises", "ignoreRangePromises"] as const) {
  test(`the log simulator catches the planted bug ${bug} too (a segment is range-captured)`, () => {
    const s = plantBugForTest(bug, () => runLogSimulation({ seeds: { from: 1, to: 1_000 } }));
    assert.equal(s.failures.length, 1, `${bug} was not caught in 1,000 seeds`);
    const f = s.failures[0]!;
    console.log(`# ${bug}: caught at seed ${f.seed}: ${f.violations[0]!.slice(0, 140)}`);
    assert.equal(runLogSeed(f.seed).ok, true);
  });
}

test("sequencers that give way to newer ones (yieldsTo, as KV nodes do across a move): failovers stay clean, and only old ones give way", () => {
  // An old sequencer that finds a newer one's segment last is deposed instead of recovering over
  // it; the world checks the newest one never is (worlds/log.ts).
  // With no segment claimed ahead, as KV nodes run their sequencers.
  const s = runLogSimulation({ seeds: { from: 1, to: 1_000 }, world: { faults: FAILOVERS, yieldToNewer: true, aheadSegments: 0 }, stopOnFailure: false, now });
  console.log(`# giving way: ${s.seeds} seeds in ${(s.ms / 1000).toFixed(1)} s; ${s.probes["log.sequencer.gaveWay"] ?? 0} old sequencers gave way in ${s.probes["log.sequencer.takeover"] ?? 0} takeovers`);
  assert.deepEqual(
    s.failures.map((f) => `${f.seed}: ${f.violations[0]}`),
    [],
  );
  assert.ok((s.probes["log.sequencer.gaveWay"] ?? 0) > 0, "no old sequencer gave way");
  assert.ok((s.outcomes["append:ok"] ?? 0) > 1_000);
});

test("the log simulator catches the planted bug yieldToAnyRival (the newest sequencer gives way to an older one)", () => {
  const s = plantBugForTest("yieldToAnyRival", () => runLogSimulation({ seeds: { from: 1, to: 300 }, world: { faults: FAILOVERS, yieldToNewer: true } }));
  assert.equal(s.failures.length, 1, "yieldToAnyRival was not caught in 300 seeds");
  const f = s.failures[0]!;
  assert.match(f.violations[0]!, /the newest sequencer .* was deposed/);
  console.log(`# yieldToAnyRival: caught at seed ${f.seed}: ${f.violations[0]!.slice(0, 140)}`);
  assert.equal(runLogSeed(f.seed, { faults: FAILOVERS, yieldToNewer: true }).ok, true);
  // Without a rule to give way by, the bug is dormant: the default world is clean at that seed.
  assert.equal(plantBugForTest("yieldToAnyRival", () => runLogSeed(f.seed, { faults: FAILOVERS })).ok, true);
});

test("sequencers that claim the next segment only when half the last is left (aheadSegments 1/2, a fraction as KV nodes use) keep the log's rules: 1,000 seeds with every fault clean", () => {
  const s = runLogSimulation({ seeds: { from: 1, to: 1_000 }, world: { aheadSegments: 0.5 }, stopOnFailure: false, now });
  assert.deepEqual(
    s.failures.map((f) => `${f.seed}: ${f.violations[0]}`),
    [],
  );
  assert.ok((s.outcomes["append:ok"] ?? 0) > 5_000);
});
