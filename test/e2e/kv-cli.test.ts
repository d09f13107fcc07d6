/**
 * The example KV's verbs as a user runs them, with real processes (apps/kv, docs/ARCHITECTURE.md
 * §4.5): put, get, cas, del, range, txn (within a partition and across both), watch, status and
 * `worm inspect`, their JSON and exit codes, the refusals (bad flags, a transaction across
 * partitions with an else branch) before anything is written; a node killed and restarted, rebuilt
 * on an empty directory, and refused on another partition's.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runWorm } from "./harness.ts";
import { kvCluster } from "./kv-cluster.ts";

test("worm kv: create, serve, put, get, cas, del, range, txn and status as a user runs them; misuse refused before anything is written", { timeout: 150_000 }, async (t) => {
  const { cluster, procs, dir, serve, served, kv, ok } = await kvCluster(t, "kvcli");
  const json = async (...args: string[]) => JSON.parse(await ok(...args, "--json")) as Record<string, unknown>;

  assert.match(await ok("put", "apple", "red"), /^put apple \(revision 1; previous: none\)\n$/);
  assert.match(await ok("put", "apple", "green"), /^put apple \(revision 2; previous: "red"\)\n$/);
  assert.equal(await ok("put", "pear", "yellow"), "put pear (revision 1; previous: none)\n", "partition 1 counts its own revisions");
  assert.equal(await ok("get", "apple"), "green\n");
  assert.deepEqual((await json("get", "apple")).record, { key: "apple", value: "green", createRevision: 1, modRevision: 2, version: 2 });
  assert.equal(await ok("get", "nothing"), "(none)\n");
  // Compare-and-set: by value, by revision, by absence; a failed one exits 3 and says what is there.
  assert.match(await ok("cas", "apple", "blue", "--expect", "green"), /^set apple \(revision 3\)\n$/);
  const lost = await kv("cas", "apple", "black", "--expect-revision", "2");
  assert.equal(lost.code, 3, lost.stderr);
  assert.match(lost.stderr, /^worm: not set: apple holds "blue" \(modRevision 3\)\n$/);
  assert.equal(await ok("get", "apple"), "blue\n");
  assert.match(await ok("cas", "fig", "purple", "--expect-absent"), /^set fig/);
  // A range across both partitions, in key order; a prefix.
  const all = (await json("range")) as { found: { key: string; value: string }[]; more: boolean };
  assert.deepEqual(all.found.map((r) => [r.key, r.value]), [["apple", "blue"], ["fig", "purple"], ["pear", "yellow"]]);
  assert.equal(all.more, false);
  assert.deepEqual(((await json("range", "--prefix", "p")) as typeof all).found.map((r) => r.key), ["pear"]);
  assert.deepEqual(((await json("range", "--limit", "2")) as typeof all).more, true);
  // A transaction within partition 0, from standard input.
  const txn = '{"if": [{"key": "apple", "value": "blue"}, {"key": "kiwi", "absent": true}], "then": [{"put": {"key": "kiwi", "value": "brown"}}, {"del": {"key": "fig"}}, {"get": {"key": "apple"}}], "else": [{"get": {"key": "kiwi"}}]}';
  const ran = JSON.parse((await runWorm(["kv", "txn", "-", "--json", "--cluster", cluster], { input: txn })).stdout) as { succeeded: boolean; revision: number; responses: unknown[] };
  assert.deepEqual([ran.succeeded, ran.revision, ran.responses.length], [true, 5, 3]);
  assert.equal(await ok("get", "fig"), "(none)\n");
  assert.match(await ok("del", "kiwi"), /^deleted kiwi \(revision 6\)\n$/);
  assert.match(await ok("del", "kiwi"), /^kiwi was not there \(revision 6\)\n$/);

  // Refused before anything is written: a transaction across partitions with an else branch, flags that do not fit.
  const across = await runWorm(["kv", "txn", "-", "--cluster", cluster], { input: '{"then": [{"put": {"key": "apple", "value": "x"}}, {"put": {"key": "pear", "value": "x"}}], "else": [{"get": {"key": "apple"}}]}' });
  assert.equal(across.code, 2, across.stderr);
  assert.match(across.stderr, /^worm: a transaction across partitions has no failure branch/);
  for (const [args, why] of [
    [["cas", "apple", "x"], /exactly one of --expect/],
    [["put", "", "x"], /non-empty/],
    [["range", "b", "a"], /must sort before/],
    [["range", "a", "--prefix", "a"], /--prefix or FROM/],
  ] as const) {
    const r = await kv(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  const unknown = await kv("get", "apple", "--kv", "nope");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^worm: no KV named nope; create it with 'worm kv create --kv nope --nodes HOST:PORT,\.\.\.'\n$/);
  const bad = await runWorm(["kv", "txn", "-", "--cluster", cluster], { input: '{"then": [{"put": {"key": "a"}}]}' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /then\[0\]\.put\.value must be a string/);
  assert.equal(await ok("get", "apple"), "blue\n", "nothing refused was written");

  // Watch: a prefix's past changes from a revision of its partition, then the new ones as they land.
  const watch = procs.start(["kv", "watch", "--prefix", "ki", "--from-revision", "5", "--json", "--cluster", cluster]);
  await watch.waitForJson((l) => l.key === "kiwi" && l.type === "delete");
  assert.match(await ok("put", "kiwi", "gold"), /revision 7/);
  await watch.waitForJson((l) => l.key === "kiwi" && l.value === "gold");
  assert.deepEqual(
    watch.jsonLines().map((l) => [l.type, l.key, l.revision, l.partition]),
    [
      ["put", "kiwi", 5, 0],
      ["delete", "kiwi", 6, 0],
      ["put", "kiwi", 7, 0],
    ],
  );
  await watch.kill("SIGINT");
  const spans = await kv("watch", "--from-revision", "3");
  assert.equal(spans.code, 2);
  assert.match(spans.stderr, /--from-revision needs a range within one partition/);

  const status = (await json("status")) as { partitions: { partition: number; status: { revision: number; keys: number; applied: number } }[] };
  assert.deepEqual(status.partitions.map((p) => [p.partition, p.status.revision, p.status.keys]), [[0, 7, 2], [1, 1, 1]]);
  assert.ok(status.partitions.every((p) => p.status.applied >= 0));

  // worm inspect shows the KV: its map and each partition's node, against its log's tail.
  const inspected = JSON.parse((await runWorm(["inspect", "--json", "--cluster", cluster])).stdout) as { kvs: { kv: string; mapEpoch: number; partitions: { partition: number; applied: number; tail: number; revision: number; keys: number }[] }[] };
  assert.deepEqual(
    inspected.kvs.map((v) => [v.kv, v.mapEpoch, v.partitions.map((p) => [p.partition, p.revision, p.keys, p.applied === p.tail - 1])]),
    [["kv", 0, [[0, 7, 2, true], [1, 1, 1, true]]]],
  );
  const table = (await runWorm(["inspect", "--cluster", cluster])).stdout;
  assert.match(table, /KV +MAP EPOCH +PARTITION +FROM +NODE[\s\S]*kv +0 +1 +m +127\.0\.0\.1:\d+ +kv-p1 +\d+ +\d+ +0 +1 +1 +up/);

  // A transaction across both partitions: committed when its compare holds, not when it does not.
  const moved = await runWorm(["kv", "txn", "-", "--json", "--cluster", cluster], { input: '{"if": [{"key": "apple", "value": "blue"}], "then": [{"put": {"key": "apple", "value": "red"}}, {"put": {"key": "plum", "value": "purple"}}]}' });
  assert.equal(moved.code, 0, moved.stderr);
  assert.deepEqual(JSON.parse(moved.stdout), { succeeded: true, txn: JSON.parse(moved.stdout).txn, partitions: [0, 1] });
  assert.deepEqual([await ok("get", "apple"), await ok("get", "plum")], ["red\n", "purple\n"]);
  const stale = await runWorm(["kv", "txn", "-", "--cluster", cluster], { input: '{"if": [{"key": "apple", "value": "blue"}], "then": [{"put": {"key": "apple", "value": "x"}}, {"del": {"key": "plum"}}]}' });
  assert.equal(stale.code, 0, stale.stderr);
  assert.match(stale.stdout, /^not committed: a compare failed \(transaction \d+ across partitions 0, 1\)\n$/);
  assert.deepEqual([await ok("get", "apple"), await ok("get", "plum")], ["red\n", "purple\n"], "nothing of it was written");
  const held = (await json("status")) as { partitions: { status: { lockedKeys: number; inDoubt: number } }[] };
  assert.deepEqual(held.partitions.map((p) => [p.status.lockedKeys, p.status.inDoubt]), [[0, 0], [0, 0]], "nothing held once decided and applied");
  assert.match(await ok("status"), /^PARTITION +FROM +NODE +LOG +APPLIED +REVISION +KEYS +LOCKED +IN DOUBT +ERROR\n0 +\(start\) +127\.0\.0\.1:\d+ +kv-p0 +\d+ +\d+ +\d+ +0 +0/);

  // A node killed and started again answers a linearizable read at once, with no write after it:
  // its new sequencer sealed the log with fills, which its player carries its shard past.
  await served[1]!.kill("SIGKILL");
  served[1] = await serve(1);
  const again = await kv("get", "pear");
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, "yellow\n");
  assert.ok(again.ms < 10_000, `took ${again.ms} ms`);

  // A node whose data directory is lost is rebuilt on an empty one: it replays its partition's log.
  await served[1]!.kill("SIGKILL");
  await rm(join(dir, "node1"), { recursive: true, force: true });
  served[1] = await serve(1);
  assert.equal((await kv("get", "pear")).stdout, "yellow\n");

  // A node started on another partition's data directory refuses before it serves anything.
  await served[0]!.kill("SIGKILL");
  const mixed = await runWorm(["kv", "serve", "--partition", "1", "--data-dir", join(dir, "node0"), "--cluster", cluster]);
  assert.equal(mixed.code, 2, mixed.stderr);
  assert.match(mixed.stderr, /refusing to start: KV shard store .*node0 holds partition 0 of KV kv \(log kv-p0\), not partition 1 of KV kv \(log kv-p1\): give each node its own data directory/);
});

