/** `worm check mc` shows its progress on stderr (always on a terminal; with --progress elsewhere), and a bar when --states-max bounds the run. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runWorm } from "../e2e/harness.ts";

const PROGRESS = /^checking: [\d,]+ states \(depth \d+, frontier [\d,]+\), [\d,]+ states\/s, \d+\.\d s$/;

test("worm check mc --progress prints progress lines on stderr, the summary on stdout", { timeout: 120_000 }, async () => {
  const r = await runWorm(["check", "mc", "--config", "small", "--progress"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.ok(lines.length >= 1, "at least the first look is shown");
  for (const l of lines) assert.match(l, PROGRESS);
  assert.match(r.stdout, /exhaustive, no violation/);

  const quiet = await runWorm(["check", "mc", "--config", "small"]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, "", "not a terminal and no --progress: nothing on stderr");

  const bounded = await runWorm(["check", "mc", "--config", "full", "--states-max", "3000", "--progress"]);
  assert.equal(bounded.code, 0, bounded.stderr);
  assert.match(bounded.stderr, /^checking [█░]{20} \d+% of --states-max: [\d,]+ states/);
});
