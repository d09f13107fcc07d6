/**
 * Typed spaces, as a new user meets them (issue: misuse never loses data). Against `worm dev`:
 * a log verb on a register space used to fill its whole first segment with fills; a
 * `--segment-size` that disagreed with a log's used to append at the wrong slot; `space create`
 * said "exists" on a first create. Each is now refused (exit 2) before anything is written, or
 * reported truthfully.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { type Finished, Procs, runWorm, tempDir } from "./harness.ts";

const oneLine = (f: Finished) => f.stderr.trim();

test("a verb of one kind never writes to a space of another; geometry disagreements are errors", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-spaces-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const conn = ["--cluster", ready.clusterFile as string];
  const worm = (...args: string[]) => runWorm([...args, ...conn]);

  const created = await worm("space", "create", "regs");
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout, "created space regs (registers, segment size 4096)\n");
  assert.equal((await worm("space", "create", "regs")).stdout, "space regs exists (registers, segment size 4096)\n");
  assert.equal((await worm("wor", "write", "regs", "5", "--value", "keep")).code, 0);

  const append = await worm("log", "append", "regs", "--data", "oops");
  assert.equal(append.code, 2, append.stdout);
  assert.equal(oneLine(append), "worm: regs is a register space, not a log");
  assert.equal(append.stdout, "");
  const logCreate = await worm("log", "create", "regs");
  assert.equal(logCreate.code, 2);
  assert.match(oneLine(logCreate), /regs already exists as a register space/);

  // Nothing but address 5 holds a value, and no segment was allocated.
  const read = await worm("wor", "read", "regs", "0", "--to", "4096", "--json");
  assert.equal(read.code, 0, read.stderr);
  const rows = (JSON.parse(read.stdout) as { results: { address: number; result: string }[] }).results;
  assert.deepEqual(
    rows.filter((r) => r.result !== "Unwritten").map((r) => [r.address, r.result]),
    [[5, "Written"]],
  );
  assert.match((await worm("wor", "check", "regs", "0")).stdout, /unallocated/);

  // A log keeps the segment size it was created with; a disagreeing --segment-size is refused.
  assert.equal((await worm("log", "create", "lg")).code, 0);
  assert.equal((await worm("log", "append", "lg", "--data", "a")).stdout.trim(), "0");
  const wrongGeometry = await worm("log", "append", "lg", "--data", "b", "--segment-size", "1024");
  assert.equal(wrongGeometry.code, 2);
  assert.match(oneLine(wrongGeometry), /--segment-size 1024 disagrees with lg's segment size 4096/);
  const writeToLog = await worm("wor", "write", "lg", "3", "--value", "x");
  assert.equal(writeToLog.code, 2);
  assert.equal(oneLine(writeToLog), "worm: lg is a log, not a register space");
  const noLog = await worm("log", "read", "nosuch", "0");
  assert.equal(noLog.code, 2);
  assert.equal(oneLine(noLog), "worm: no log named nosuch; create it with 'worm log create nosuch'");
});
