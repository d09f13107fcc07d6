/**
 * `worm log` against a `worm dev` cluster: create, append (--data, stdin lines with idempotency
 * keys; through the sequencer `worm dev` runs, through a second `worm log sequencer`, which stands by
 * and redirects there, and through an embedded sequencer), read (one slot, a range, a stream), tail,
 * subscribe (an entry appended while it waits), trim, `worm inspect`'s log view, and bad input as
 * one-line errors with exit 2.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { type Finished, Procs, oneLineError, runWorm, tempDir } from "../e2e/harness.ts";

const lines = (f: Finished) =>
  f.stdout
    .trim()
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function ok(f: Finished, what: string): Finished {
  assert.equal(f.code, 0, `${what}: exit ${f.code}; stderr: ${f.stderr}`);
  return f;
}

test("worm log: create, append, read, tail, subscribe, trim, a remote sequencer, inspect, bad input", { timeout: 240_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-log-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const conn = ["--cluster", ready.clusterFile as string];
  const worm = (...args: string[]) => runWorm([...args, ...conn]);

  assert.match(ok(await worm("log", "create", "orders"), "create").stdout, /^created log orders \(log, segment size 4096\)\n$/);

  // Appends go through the sequencer worm dev runs (the cluster file names it).
  const first = lines(ok(await worm("log", "append", "orders", "--data", "hello", "--stream", "s1", "--json"), "append --data"))[0]!;
  assert.equal(first.duplicate, false);
  const helloSlot = first.slot as number;
  const piped = lines(ok(await runWorm(["log", "append", "orders", "--key", "me:1", "--stream", "s2", "--json", ...conn], { input: "a\nb\n" }), "append from stdin"));
  assert.deepEqual(piped.map((l) => l.duplicate), [false, false]);
  const [aSlot, bSlot] = piped.map((l) => l.slot as number);
  assert.deepEqual([aSlot, bSlot], [helloSlot + 1, helloSlot + 2], "stdin lines are appended in order, in consecutive slots");
  const again = lines(ok(await runWorm(["log", "append", "orders", "--key", "me:1", "--json", ...conn], { input: "a\nb\n" }), "append again"));
  assert.deepEqual(again, [
    { slot: aSlot, duplicate: true },
    { slot: bSlot, duplicate: true },
  ]);

  // A second sequencer stands by: it redirects appends and the tail to the active one.
  const seq = procs.start(["log", "sequencer", "--listen", "127.0.0.1:0", ...conn]);
  const listening = await seq.waitForJson((l) => l.event === "listening", 30_000);
  const at = `127.0.0.1:${listening.port as number}`;
  const remote = ok(await worm("log", "append", "orders", "--sequencer", at, "--data", "via-sequencer", "--stream", "s1"), "append --sequencer");
  const remoteSlot = Number(remote.stdout.trim());
  assert.ok(remoteSlot > bSlot!, "after the slots the duplicates used (each filled)");
  const tail = JSON.parse(ok(await worm("log", "tail", "orders", "--sequencer", at, "--json"), "tail --sequencer").stdout) as { tail: number; source: string };
  assert.equal(tail.source, "sequencer");
  assert.equal(tail.tail, remoteSlot + 1);
  assert.equal(Number(ok(await worm("log", "tail", "orders"), "tail from the cluster's sequencer").stdout.trim()), remoteSlot + 1);
  const scanned = await runWorm(["log", "tail", "orders", "--peers", (ready.addresses as string[]).join(",")]);
  assert.equal(Number(ok(scanned, "tail by scanning").stdout.trim()), remoteSlot + 1);

  // Reads: one slot, a range (holes between segments are filled), one stream.
  const one = JSON.parse(ok(await worm("log", "read", "orders", String(helloSlot), "--json"), "read slot").stdout) as Record<string, unknown>;
  assert.deepEqual({ kind: one.kind, streams: one.streams, text: (one.value as { text: string }).text }, { kind: "entry", streams: ["s1"], text: "hello" });
  const range = JSON.parse(ok(await worm("log", "read", "orders", "--from", String(aSlot), "--to", String(bSlot! + 1), "--json"), "read range").stdout) as { slots: { slot: number; kind: string }[] };
  assert.deepEqual(range.slots.map((s) => [s.slot, s.kind]), [
    [aSlot, "entry"],
    [bSlot, "entry"],
  ]);
  const s1 = JSON.parse(ok(await worm("log", "read", "orders", "--stream", "s1", "--json"), "read --stream").stdout) as { slots: { slot: number }[] };
  assert.deepEqual(s1.slots.map((s) => s.slot), [helloSlot, remoteSlot]);

  // Subscribe: catch up, then an entry appended while it waits.
  const sub = procs.start(["log", "subscribe", "orders", "--from", String(bSlot), "--count", "3", ...conn]);
  await sub.waitForJson((l) => l.slot === remoteSlot, 30_000);
  const late = Number(ok(await worm("log", "append", "orders", "--sequencer", at, "--data", "late"), "append while subscribed").stdout.trim());
  const subbed = await sub.exited;
  assert.equal(subbed.code, 0, subbed.stderr);
  assert.deepEqual(lines(subbed).map((l) => [l.slot, (l.value as { text: string }).text]), [
    [bSlot, "b"],
    [remoteSlot, "via-sequencer"],
    [late, "late"],
  ]);

  // worm inspect shows the log.
  const inspect = JSON.parse(ok(await worm("inspect", "--json"), "inspect").stdout) as { logs: { log: string; tail: number; streams: Record<string, number>; lastSegmentSlots: { entries: number } }[] };
  const view = inspect.logs.find((l) => l.log === "orders");
  assert.ok(view, JSON.stringify(inspect.logs));
  assert.equal(view.tail, late + 1);
  assert.deepEqual(view.streams, { s1: 2, s2: 2 });
  assert.equal(view.lastSegmentSlots.entries, 5);

  // The embedded single-writer mode, on request: it fences the other sequencers and starts a new segment.
  const embedded = Number(ok(await worm("log", "append", "orders", "--embedded-sequencer", "--data", "alone"), "append --embedded-sequencer").stdout.trim());
  assert.ok(embedded > late && embedded % 4096 === 0, `an embedded sequencer starts a new segment (${embedded})`);

  // Trim: slots below the mark read as trimmed.
  assert.equal(JSON.parse(ok(await worm("log", "trim", "orders", "--below", String(aSlot), "--json"), "trim").stdout).mark, aSlot);
  assert.equal(JSON.parse(ok(await worm("log", "read", "orders", String(helloSlot), "--json"), "read trimmed").stdout).kind, "trimmed");

  const stopped = await seq.kill("SIGTERM");
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.ok(seq.jsonLines().some((l) => l.event === "stopped"));

  // Bad input: one line, exit 2.
  for (const args of [
    ["log", "read", "bad name", "0"],
    ["log", "read", "nolog", "0"],
    ["log", "read", "orders", "1", "--from", "0"],
    ["log", "append", "orders", "--key", "nocolon", "--data", "x"],
    ["log", "append", "orders", "--sequencer", "nowhere", "--data", "x"],
    ["log", "append", "orders", "--sequencer", "127.0.0.1:1", "--embedded-sequencer", "--data", "x"],
    ["log", "append", "orders", "--stream", "a", "--stream", "a", "--data", "x"],
    ["log", "trim", "orders", "--below", "-1"],
  ]) {
    const f = await worm(...args);
    assert.equal(f.code, 2, `${args.join(" ")}: exit ${f.code}; stderr ${f.stderr}`);
    oneLineError(f);
  }
  const noData = await runWorm(["log", "append", "orders", ...conn], { input: "" });
  assert.equal(noData.code, 2, noData.stderr);
  assert.match(oneLineError(noData), /nothing to append/);
});
