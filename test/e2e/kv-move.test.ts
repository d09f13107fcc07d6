/**
 * Moving a KV partition as a user does it, with real processes (apps/kv/node/kv-owner.ts,
 * docs/OPERATIONS.md): `worm kv move` chooses the next map; `worm kv serve` of that partition on a
 * new directory listens at its new address, claims the partition in its log and fills from it; the
 * old node says it moved and refuses; the verbs, a transaction across partitions included, follow
 * the newest map. Misuse is refused before anything is written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { partitionMap } from "../../apps/kv/core/partitions.ts";
import { KvClient } from "../../apps/kv/node/kv-client.ts";
import { runWorm } from "./harness.ts";
import { kvCluster } from "./kv-cluster.ts";
import { stableAddresses } from "../ports.ts";

test("worm kv move: the new node claims the partition and serves what its log holds; the old node stops serving it; misuse is refused", { timeout: 150_000 }, async (t) => {
  const { cluster, procs, dir, nodes, served, kv, ok } = await kvCluster(t, "kvmove");
  await ok("put", "pear", "yellow");
  await ok("put", "apple", "red");
  const [there] = await stableAddresses(1);

  // Misuse: refused, the map unchanged.
  for (const [args, code, why] of [
    [["--partition", "7", "--to", there!], 2, /KV kv has no partition 7 \(it has 0, 1\)/],
    [["--partition", "1", "--to", nodes[0]!], 2, /partitions 0 and 1 name one node/],
    [["--partition", "1", "--to", nodes[1]!], 2, /partition 1 of KV kv is at .* already \(map epoch 0\)/],
    [["--partition", "1", "--to", "nowhere"], 2, /--to/],
    [["--partition", "1"], 2, /to/],
  ] as const) {
    const r = await kv("move", ...args);
    assert.equal(r.code, code, `move ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }

  const moved = JSON.parse(await ok("move", "--partition", "1", "--to", there!, "--json")) as { partition: number; from: string; to: string; map: { epoch: number } };
  assert.deepEqual([moved.partition, moved.from, moved.to, moved.map.epoch], [1, nodes[1], there, 1]);
  const node = procs.start(["kv", "serve", "--partition", "1", "--data-dir", join(dir, "node1-moved"), "--cluster", cluster]);
  // On an empty data directory it copies the store of the node the map named before, still serving.
  const seeded = await node.waitForJson((l) => l.event === "seeded" || l.event === "notSeeded", 60_000);
  assert.deepEqual([seeded.event, seeded.from, seeded.revision], ["seeded", nodes[1], 1], JSON.stringify(seeded));
  assert.equal((await node.waitForJson((l) => l.event === "listening", 60_000)).address, there);
  const heard = await served[1]!.waitForJson((l) => l.event === "moved", 30_000);
  assert.match(String(heard.why), new RegExp(`partition 1 moved to the node at ${there} \\(map epoch 1; this node serves epoch 0\\)`));

  assert.equal(await ok("get", "pear"), "yellow\n", "the new node holds the partition (the copy, then the log after it)");
  assert.match(await ok("put", "pear", "green"), /^put pear \(revision 2; previous: "yellow"\)\n$/);
  const across = JSON.parse(
    (await runWorm(["kv", "txn", "-", "--json", "--cluster", cluster], { input: '{"then": [{"put": {"key": "apple", "value": "x"}}, {"put": {"key": "pear", "value": "x"}}]}' })).stdout,
  ) as { succeeded?: boolean; partitions?: number[] };
  assert.deepEqual([across.succeeded, across.partitions], [true, [0, 1]], "node 0 reads the map again and prepares at the new node");
  assert.equal(await ok("get", "pear"), "x\n");
  const status = JSON.parse(await ok("status", "--json")) as { partitions: { partition: number; node: string; status?: { mapEpoch: number } }[] };
  assert.deepEqual(
    status.partitions.map((p) => [p.partition, p.node, p.status?.mapEpoch]),
    [
      [0, nodes[0], 0],
      [1, there, 1],
    ],
  );
  // The old node, stopped: nothing needs it any more.
  served[1]!.kill("SIGTERM");
  await served[1]!.exited;
  assert.equal(await ok("get", "pear"), "x\n");
});

test("worm kv serve --listen: a standby follows the partition's log while the old node serves; a move to it serves at once, caught up", { timeout: 150_000 }, async (t) => {
  const { cluster, procs, dir, nodes, served, ok } = await kvCluster(t, "kvstandby");
  const puts = Array.from({ length: 40 }, (_, i) => ({ put: { key: `p${String(i).padStart(2, "0")}`, value: String(i) } }));
  assert.equal((await runWorm(["kv", "txn", "-", "--cluster", cluster], { input: `{"then": ${JSON.stringify(puts)}}` })).code, 0);
  const [there] = await stableAddresses(1);
  for (const [args, why] of [
    [["--partition", "1", "--data-dir", join(dir, "x"), "--listen", nodes[0]!], /--listen .*: the KV's map names it for partition 0/],
    [["--partition", "0", "--data-dir", join(dir, "x"), "--partition", "1", "--data-dir", join(dir, "y"), "--listen", there!], /give one --partition with it/],
  ] as const) {
    const r = await runWorm(["kv", "serve", ...args, "--cluster", cluster]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, why);
  }
  const standby = procs.start(["kv", "serve", "--partition", "1", "--data-dir", join(dir, "standby1"), "--listen", there!, "--cluster", cluster]);
  const copied = await standby.waitForJson((l) => l.event === "seeded" || l.event === "notSeeded", 60_000);
  assert.deepEqual([copied.event, copied.from, copied.revision], ["seeded", nodes[1], 1], JSON.stringify(copied));
  const line = await standby.waitForJson((l) => l.event === "listening", 60_000);
  assert.deepEqual([line.standby, line.address, line.partition], [true, there, 1]);
  // A second standby for the same partition, elsewhere: its own player group (one per address).
  const [elsewhere] = await stableAddresses(1);
  const second = procs.start(["kv", "serve", "--partition", "1", "--data-dir", join(dir, "standby2"), "--listen", elsewhere!, "--cluster", cluster]);
  assert.equal((await second.waitForJson((l) => l.event === "listening", 60_000)).standby, true);
  // A client that read the move's map before the node started there is told to try again, not refused.
  const early = new KvClient({ map: partitionMap("kv", 1, [nodes[0]!, there!], ["m"]), attemptTimeoutMs: 2_000, retryForMs: 300 });
  const r = await early.get("pear");
  early.close();
  assert.ok(!r.ok && r.failure.code === "unavailable", JSON.stringify(r));
  assert.match(r.failure.message, /is a standby \(it serves once moved here\)/);
  await ok("put", "pear", "late");
  const started = Date.now();
  await ok("move", "--partition", "1", "--to", there!);
  const serving = await standby.waitForJson((l) => l.event === "serving", 30_000);
  t.diagnostic(`the standby served ${Date.now() - started} ms after the move began (applied ${serving.applied}, revision ${serving.revision})`);
  assert.deepEqual([serving.mapEpoch, serving.address, serving.revision], [1, there, 2]);
  assert.equal(await ok("get", "pear"), "late\n");
  assert.equal(await ok("get", "p39"), "39\n");
  await served[1]!.waitForJson((l) => l.event === "moved", 30_000);
  // On to the second standby, which followed the log all along.
  await ok("put", "pear", "later");
  await ok("move", "--partition", "1", "--to", elsewhere!);
  const next = await second.waitForJson((l) => l.event === "serving", 30_000);
  assert.deepEqual([next.mapEpoch, next.address], [2, elsewhere]);
  assert.equal(await ok("get", "pear"), "later\n");
  assert.equal(await ok("get", "p39"), "39\n");
  second.kill("SIGTERM");
  await second.exited;
  standby.kill("SIGTERM");
  const stopped = await standby.exited;
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /"event":"stopped","kv":"kv","partition":1/);
});
