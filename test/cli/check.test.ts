/** `worm check mc|sim` from the command line: clean runs exit 0 with a summary, bad input exits 2. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runWorm } from "../e2e/harness.ts";

describe("worm check", { concurrency: 2 }, () => {
  test("sim over a few seeds passes and reports the seeds and probes", async () => {
    const r = await runWorm(["check", "sim", "--seeds", "1..40", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { seeds: number; passed: number; failures: unknown[]; operations: number };
    assert.equal(summary.seeds, 40);
    assert.equal(summary.passed, 40);
    assert.deepEqual(summary.failures, []);
    assert.ok(summary.operations > 0);
  });
  test("sim --layer log and --layer all run their worlds; a failure would name the layer", async () => {
    const log = await runWorm(["check", "sim", "--layer", "log", "--seeds", "1..5", "--json"]);
    assert.equal(log.code, 0, log.stderr);
    const one = JSON.parse(log.stdout) as { layer: string; seeds: number; passed: number };
    assert.deepEqual([one.layer, one.seeds, one.passed], ["log", 5, 5]);
    const all = await runWorm(["check", "sim", "--layer", "all", "--seeds", "1..5", "--json"]);
    assert.equal(all.code, 0, all.stderr);
    const each = JSON.parse(all.stdout) as { layer: string; seeds: number; passed: number }[];
    assert.deepEqual(
      each.map((s) => [s.layer, s.seeds, s.passed]),
      [
        ["wor", 5, 5],
        ["log", 5, 5],
        ["smr", 5, 5],
        ["txn", 5, 5],
        ["logplayer", 5, 5],
        ["kv", 5, 5],
        ["kvtxn", 5, 5],
        ["reconfig", 5, 5],
      ],
    );
    const text = await runWorm(["check", "sim", "--layer", "all", "--seeds", "3"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /layer +wor[\s\S]*layer +log[\s\S]*layer +smr/);
  });
  test("mc explores the small configuration exhaustively", async () => {
    const r = await runWorm(["check", "mc", "--config", "small"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /exhaustive, no violation/);
    assert.doesNotMatch(r.stdout, /NO \(vacuous\?\)/);
  });
  test("mc --model txn explores a transaction model; flags of the other model are refused", async () => {
    const r = await runWorm(["check", "mc", "--model", "txn", "--recoverers", "0", "--participants", "1", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { complete: boolean; violation?: unknown; txnModel: { participants: number; recoverers: number } };
    assert.deepEqual([s.complete, s.violation, s.txnModel.participants, s.txnModel.recoverers], [true, undefined, 1, 0]);
    const wrong = await runWorm(["check", "mc", "--model", "txn", "--proposers", "2"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^worm: --proposers is a flag of the wor model/);
    const config = await runWorm(["check", "mc", "--model", "txn", "--config", "reads"]);
    assert.equal(config.code, 2);
    assert.match(config.stderr, /--config must be one of small, coordinator, full \(--model txn\), not "reads"/);
  });
  test("bad seeds and configs are one-line usage errors", async () => {
    const seeds = await runWorm(["check", "sim", "--seeds", "9..3"]);
    assert.equal(seeds.code, 2);
    assert.match(seeds.stderr, /^worm: --seeds 9\.\.3: the range is empty\n$/);
    const layer = await runWorm(["check", "sim", "--layer", "kafka"]);
    assert.equal(layer.code, 2);
    assert.match(layer.stderr, /^worm: --layer must be one of wor, log, smr, txn, logplayer, kv, kvtxn, reconfig, all, not "kafka"\n$/);
    const config = await runWorm(["check", "mc", "--config", "huge"]);
    assert.equal(config.code, 2);
    assert.match(config.stderr, /--config must be one of full, small, reads, deep/);
  });
});
