/**
 * `worm check mc --model txn` (verify/mc/models/txn.ts): the real transaction core over the real
 * register operations and acceptor step, every interleaving. The small configuration is explored
 * exhaustively with every `sometimes` property reached; each planted bug is caught.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatTrace } from "../../../verify/mc/engine.ts";
import { TXN_MC_CONFIGS, runTxnModelCheck } from "../../../verify/mc/run-txn.ts";
import { plantBugForTest } from "../../../verify/runtime/planted.ts";

const now = () => performance.now();

test("txn model, small config (a participant, a recoverer): exhaustive, no violation, every sometimes-property reached", { timeout: 180_000 }, () => {
  const s = runTxnModelCheck({ ...TXN_MC_CONFIGS.small, now });
  console.log(`# mc txn small: ${s.states} states, ${s.transitions} transitions, ${(s.ms / 1000).toFixed(1)} s`);
  assert.equal(s.violation, undefined, s.violation && `${s.violation.message}\n${formatTrace(s.violation.trace)}`);
  assert.equal(s.complete, true);
  assert.deepEqual(
    s.sometimes.filter((p) => !p.hit).map((p) => p.name),
    [],
  );
});

test("txn model: a commit with a vote missing is caught (a coordinator learns committed, one vote not chosen)", () => {
  const s = plantBugForTest("commitWithVoteMissing", () => runTxnModelCheck({ ...TXN_MC_CONFIGS.coordinator, statesMax: 100_000 }));
  assert.ok(s.violation, "commitWithVoteMissing was not caught");
  console.log(`# mc txn commitWithVoteMissing: caught after ${s.states} states, trace of ${s.violation.trace.length} states`);
  assert.match(s.violation.message, /coordinator \d learned committed, but not every vote is a chosen YES/);
});

test("txn model: a recoverer overwriting a late YES is caught (two values at one vote register)", () => {
  const s = plantBugForTest("recoverOverwritesYes", () => runTxnModelCheck({ ...TXN_MC_CONFIGS.small, statesMax: 100_000 }));
  assert.ok(s.violation, "recoverOverwritesYes was not caught");
  console.log(`# mc txn recoverOverwritesYes: caught after ${s.states} states, trace of ${s.violation.trace.length} states`);
  assert.match(s.violation.message, /s\[0\]/);
});
