/**
 * `worm dev --kv`: the dev cluster with the example KV `kv` and a node per partition. In this
 * process: it comes up, its self-check puts and gets a key, `worm kv put|get|range|status` work
 * against its cluster file on both partitions, and a restart on the same data directory finds the
 * same map and keeps the values; a map in place that other flags would not make, and
 * `--kv-partitions` out of 1..8, are refused with exit 2 and one line. With `--processes`: each node
 * a `worm kv serve` process in the status table, one killed and started again by hand. A partition
 * moved away: dev says so as its node hears it, a restart refuses with the way back, and that way
 * works (worm dev without --kv, the move back, worm dev --kv serving it again).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Procs, oneLineError, runWorm, tempDir } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

interface Row {
  readonly role: string;
  readonly address: string;
  readonly pid?: number;
  readonly state: string;
  readonly data: string;
}

interface ReadyKv {
  readonly name: string;
  readonly partitions: { readonly id: number; readonly from: string; readonly node: string; readonly log: string }[];
  readonly selfCheck: { readonly keys: readonly string[]; readonly ok: boolean };
}

const kvOf = (cluster: string) => async (...args: string[]) => {
  const r = await runWorm(["kv", ...args, "--cluster", cluster], { deadlineMs: 60_000 });
  assert.equal(r.code, 0, `kv ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

test("worm dev --kv: a KV of two partitions, self-checked, served to worm kv; a restart keeps the map and the values; bad flags refused", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dataDir = join(await tempDir(t, "worm-dev-kv-"), "dev");
  const dev = procs.start(["dev", "--kv", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const kv = ready.kv as ReadyKv;
  assert.deepEqual(kv.partitions.map((p) => [p.id, p.from, p.log]), [[0, "", "kv-p0"], [1, "n", "kv-p1"]]);
  assert.deepEqual(kv.selfCheck, { keys: ["a-self-check", "n-self-check"], ok: true }, "a key in each partition");
  const rows = ready.processes as Row[];
  assert.deepEqual(rows.slice(-2).map((r) => [r.role, r.address, r.state, r.data]), [
    ["kv node 0", kv.partitions[0]!.node, "up", join(dataDir, "kv-0")],
    ["kv node 1", kv.partitions[1]!.node, "up", join(dataDir, "kv-1")],
  ]);
  const cluster = ready.clusterFile as string;
  const ok = kvOf(cluster);

  assert.match(await ok("put", "apple", "red"), /^put apple \(revision \d+; previous: none\)\n$/);
  assert.match(await ok("put", "pear", "green"), /^put pear \(revision \d+; previous: none\)\n$/);
  assert.equal(await ok("get", "apple"), "red\n");
  assert.equal(await ok("get", "pear"), "green\n");
  const range = JSON.parse(await ok("range", "--json")) as { found: { key: string; value: string }[] };
  assert.deepEqual(range.found.filter((r) => !kv.selfCheck.keys.includes(r.key)).map((r) => [r.key, r.value]), [["apple", "red"], ["pear", "green"]]);
  const status = JSON.parse(await ok("status", "--json")) as { partitions: { partition: number; node: string; status?: { keys: number } }[] };
  assert.deepEqual(status.partitions.map((p) => [p.partition, p.node]), kv.partitions.map((p) => [p.id, p.node]));
  assert.deepEqual(status.partitions.map((p) => p.status?.keys), [2, 2], "each partition: its self-check key and one of ours");
  const stopped = await dev.kill("SIGTERM");
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(stopped.stderr, "");

  // Again on the same data directory: the same map (its nodes where it names them), the values kept.
  const dev2 = procs.start(["dev", "--kv", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready2 = await dev2.waitForJson((l) => l.event === "ready", 60_000);
  assert.deepEqual((ready2.kv as ReadyKv).partitions, kv.partitions);
  assert.equal(await ok("get", "apple"), "red\n");
  assert.equal(await ok("get", "pear"), "green\n");
  assert.equal((await dev2.kill("SIGINT")).code, 0);

  // Another partition count than the map in place: refused, naming the flags that made it.
  const other = await runWorm(["dev", "--kv-partitions", "4", "--data-dir", dataDir, "--base-port", "0"], { deadlineMs: 60_000 });
  assert.equal(other.code, 2, other.stderr);
  assert.match(oneLineError(other), /^worm: KV kv of .* has another map: 2 partitions: .*; these flags make 4 partitions: 0 \[start, "g"\).*run with --kv-partitions 2 /);
  for (const n of ["0", "9"]) {
    const bad = await runWorm(["dev", "--kv", "--kv-partitions", n, "--data-dir", dataDir, "--base-port", "0"], { deadlineMs: 60_000 });
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(oneLineError(bad), `worm: --kv-partitions must be 1..8 (got ${n})`);
  }
});

test("worm dev --processes --kv: each KV node a worm kv serve process in the status table, restartable by hand", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dataDir = join(await tempDir(t, "worm-dev-kv-processes-"), "dev");
  const dev = procs.start(["dev", "--processes", "--kv", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 90_000);
  const rows = ready.processes as Row[];
  assert.deepEqual(rows.map((r) => [r.role, r.state]), [["acceptor 1", "up"], ["acceptor 2", "up"], ["acceptor 3", "up"], ["sequencer", "up"], ["kv node 0", "up"], ["kv node 1", "up"]]);
  assert.equal(new Set([...rows.map((r) => r.pid), dev.child.pid]).size, 7, "six processes besides worm dev");
  const cluster = ready.clusterFile as string;
  const ok = kvOf(cluster);
  assert.match(await ok("put", "pear", "green"), /^put pear /);

  // KV node 1 killed: the table says so; started again by hand on its store, it serves the value
  // (after a write: a restarted node's reads wait for an entry past its new sequencer's gap).
  process.kill(rows[5]!.pid!, "SIGKILL");
  await dev.waitForJson((l) => l.event === "status" && (l.processes as Row[])[5]!.state === "stopped (signal SIGKILL)", 20_000);
  const again = procs.start(["kv", "serve", "--partition", "1", "--data-dir", join(dataDir, "kv-1"), "--cluster", cluster]);
  await again.waitForJson((l) => l.event === "listening", 60_000);
  await dev.waitForJson((l) => l.event === "status" && (l.processes as Row[])[5]!.state === "up (not started by worm dev)", 20_000);
  assert.match(await ok("put", "plum", "purple"), /^put plum /);
  assert.equal(await ok("get", "pear"), "green\n");

  // worm dev stopped: the processes it started stop; the one started by hand is left alone.
  assert.equal((await dev.kill("SIGTERM")).code, 0);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const r of rows.slice(0, 5)) {
    for (const start = Date.now(); alive(r.pid!); await sleep(100)) if (Date.now() - start > 20_000) assert.fail(`${r.role} (pid ${r.pid}) still runs`);
  }
  assert.ok(again.running);
  assert.equal((await again.kill("SIGTERM")).code, 0);
});

test("worm dev --kv, a partition moved away: dev says so as it happens, and a restart says how to move it back", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-dev-kv-moved-");
  const dataDir = join(dir, "dev");
  const dev = procs.start(["dev", "--kv", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const cluster = ready.clusterFile as string;
  const ok = kvOf(cluster);
  await ok("put", "pear", "green");
  const [there] = await stableAddresses(1);
  await ok("move", "--partition", "1", "--to", there!);
  const node = procs.start(["kv", "serve", "--partition", "1", "--data-dir", join(dir, "moved-1"), "--cluster", cluster]);
  await node.waitForJson((l) => l.event === "listening", 60_000);
  const moved = await dev.waitForJson((l) => l.event === "moved", 30_000);
  assert.equal(moved.partition, 1);
  assert.match(moved.why as string, new RegExp(`partition 1 moved to the node at ${there} \\(map epoch 1; this node serves epoch 0\\)`));
  assert.equal(await ok("get", "pear"), "green\n", "the new node serves what the log holds");
  assert.equal((await dev.kill("SIGTERM")).code, 0);
  assert.equal((await node.kill("SIGTERM")).code, 0);
  const again = await runWorm(["dev", "--kv", "--data-dir", dataDir, "--base-port", "0"], { deadlineMs: 60_000 });
  assert.equal(again.code, 2, again.stderr);
  assert.match(oneLineError(again), /partition 1 .*was moved \(map epoch 1, 'worm kv move'\).*run worm dev without --kv, move it back/);
  // As it says: worm dev without --kv, the partition moved back, worm dev --kv serves it again.
  const home = (ready.kv as ReadyKv).partitions[1]!.node;
  assert.match(oneLineError(again), new RegExp(`'worm kv move --partition 1 --to ${home}'`));
  const bare = procs.start(["dev", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  await bare.waitForJson((l) => l.event === "ready", 60_000);
  await ok("move", "--partition", "1", "--to", home);
  assert.equal((await bare.kill("SIGTERM")).code, 0);
  const back = procs.start(["dev", "--kv", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready3 = await back.waitForJson((l) => l.event === "ready", 60_000);
  assert.deepEqual((ready3.kv as ReadyKv).partitions.map((p) => p.node), (ready.kv as ReadyKv).partitions.map((p) => p.node));
  assert.equal(await ok("get", "pear"), "green\n");
  assert.equal((await back.kill("SIGTERM")).code, 0);
});
