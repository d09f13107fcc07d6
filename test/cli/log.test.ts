/**
 * `worm log` against a `worm dev` cluster: create, append (--data, stdin lines with idempotency
 * keys, through an embedded and through a remote `worm log sequencer`), read (one slot, a range, a
 * stream), tail, subscribe (an entry appended while it waits), trim, `worm inspect`'s log view, and
 * bad input as one-line errors with exit 2.
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

  // Single-writer mode: each append command embeds its own sequencer.
  const first = lines(ok(await worm("log", "append", "orders", "--data", "hello", "--stream", "s1", "--json"), "append --data"))[0]!;
  assert.equal(first.duplicate, false);
  const helloSlot = first.slot as number;
  const piped = lines(ok(await runWorm(["log", "append", "orders", "--key", "me:1", "--stream", "s2", "--json", ...conn], { input: "a\nb\n" }), "append from stdin"));
  assert.deepEqual(piped.map((l) => l.duplicate), [false, false]);
  const [aSlot, bSlot] = piped.map((l) => l.slot as number);
  assert.ok(helloSlot < aSlot! && aSlot! < bSlot!, "stdin lines are appended in order");
  const again = lines(ok(await runWorm(["log", "append", "orders", "--key", "me:1", "--json", ...conn], { input: "a\nb\n" }), "append again"));
  assert.deepEqual(again, [
    { slot: aSlot, duplicate: true },
    { slot: bSlot, duplicate: true },
  ]);

  // A remote sequencer serves appends and the tail.
  const seq = procs.start(["log", "sequencer", "--listen", "127.0.0.1:0", ...conn]);
  const listening = await seq.waitForJson((l) => l.event === "listening", 30_000);
  const at = `127.0.0.1:${listening.port as number}`;
  const remote = ok(await worm("log", "append", "orders", "--sequencer", at, "--data", "via-sequencer", "--stream", "s1"), "append --sequencer");
  const remoteSlot = Number(remote.stdout.trim());
  assert.ok(remoteSlot > bSlot!);
  const tail = JSON.parse(ok(await worm("log", "tail", "orders", "--sequencer", at, "--json"), "tail --sequencer").stdout) as { tail: number; source: string };
  assert.equal(tail.source, "sequencer");
  assert.ok(tail.tail > remoteSlot);
  assert.equal(Number(ok(await worm("log", "tail", "orders"), "tail by scanning").stdout.trim()), remoteSlot + 1);

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
  assert.deepEqual(view.streams, { s1: 1 });
  assert.equal(view.lastSegmentSlots.entries, 2);

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
