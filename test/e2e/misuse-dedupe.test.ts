/**
 * Misuse (issue 9 item 3): `--key` is exactly-once across processes. The same `worm log append
 * --key` run four times against `worm dev` (each run a new process, so a new sequencer that must
 * find the key in the segments the earlier runs left) stores the entry once: every run reports the
 * first run's slot, all but the first with duplicate:true, and the log holds the key at one slot.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { Procs, runWorm, tempDir } from "./harness.ts";

const RUNS = 4;

test(`worm log append --key run ${RUNS} times stores the entry once`, { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-dedupe-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const conn = ["--cluster", ready.clusterFile as string];

  const created = await runWorm(["log", "create", "idem", ...conn]);
  assert.equal(created.code, 0, created.stderr);
  const runs: { slot: number; duplicate: boolean }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const f = await runWorm(["log", "append", "idem", "--data", "pay", "--key", "cli:7", "--json", ...conn]);
    assert.equal(f.code, 0, `run ${run + 1}: exit ${f.code}; stderr: ${f.stderr}`);
    runs.push(JSON.parse(f.stdout) as { slot: number; duplicate: boolean });
  }
  const first = runs[0]!.slot;
  assert.deepEqual(runs, [{ slot: first, duplicate: false }, ...Array.from({ length: RUNS - 1 }, () => ({ slot: first, duplicate: true }))]);

  // Everything the runs left below the tail, settled: the key is at one slot.
  const tail = await runWorm(["log", "tail", "idem", "--json", ...conn]);
  assert.equal(tail.code, 0, tail.stderr);
  const to = (JSON.parse(tail.stdout) as { tail: number }).tail;
  const read = await runWorm(["log", "read", "idem", "--from", "0", "--to", String(to), "--json", ...conn]);
  assert.equal(read.code, 0, read.stderr);
  const slots = (JSON.parse(read.stdout) as { slots: { slot: number; kind: string; key?: { client: string; seq: number } }[] }).slots;
  assert.deepEqual(
    slots.filter((s) => s.kind === "entry").map((s) => [s.slot, s.key]),
    [[first, { client: "cli", seq: 7 }]],
  );
});
