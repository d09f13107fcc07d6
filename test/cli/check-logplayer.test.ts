/** `worm check mc --model logplayer`: a configuration explored exhaustively from the command line; bad models, configs and flags are one-line usage errors. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runWorm } from "../e2e/harness.ts";

describe("worm check mc --model logplayer", { concurrency: 2 }, () => {
  test("explores the zombie configuration exhaustively and says what it modelled", { timeout: 120_000 }, async () => {
    const r = await runWorm(["check", "mc", "--model", "logplayer", "--config", "zombie"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /model +logplayer \(config zombie\): 2 shards, log 0→0 1→1, 2 player\(s\), the next may start while the one before runs \(a zombie\)/);
    assert.match(r.stdout, /result +exhaustive, no violation/);
    assert.match(r.stdout, /sometimes: a zombie's batch was refused +yes/);
    const json = await runWorm(["check", "mc", "--model", "logplayer", "--config", "zombie", "--states-max", "500", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout) as { config: string; states: number; complete: boolean; model: { shards: number } };
    assert.deepEqual([s.config, s.states, s.complete, s.model.shards], ["zombie", 500, false, 2]);
  });
  test("bad models, configs and flags are one-line usage errors", async () => {
    const model = await runWorm(["check", "mc", "--model", "kafka"]);
    assert.equal(model.code, 2);
    assert.match(model.stderr, /^worm: --model must be one of wor, txn, logplayer, not "kafka"\n$/);
    const config = await runWorm(["check", "mc", "--model", "logplayer", "--config", "small"]);
    assert.equal(config.code, 2);
    assert.match(config.stderr, /^worm: --config must be one of full, zombie, network, crash \(--model logplayer\), not "small"\n$/);
    const flag = await runWorm(["check", "mc", "--model", "logplayer", "--acceptors", "3"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^worm: --acceptors is a flag of another model; --model logplayer takes --config/);
  });
});
