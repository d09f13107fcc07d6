/**
 * A KV shard's snapshot (apps/kv/node/shard-snapshot.ts), on real KV nodes in process over acceptors
 * in memory: a new store seeded with a copy of a serving node's store, then opened by the node a
 * move names, serves what the whole log holds (the copy up to its position, its own player's
 * replay after it) without replaying the log from its start; a store that exists is refused before
 * anything is written, and a copy of another partition or one that cannot be had leaves nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ClassicLevel } from "classic-level";
import { KvClient } from "../../../apps/kv/node/kv-client.ts";
import { describePartition, moveKv, readMap } from "../../../apps/kv/node/kv-map.ts";
import { installSnapshot } from "../../../apps/kv/node/shard-snapshot.ts";
import { KvShardStore } from "../../../apps/kv/node/shard-store.ts";
import { stableAddresses } from "../../ports.ts";
import { kvFixture } from "./node-fixture.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

async function keysIn(dir: string): Promise<number> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
  const keys = await db.keys().all();
  await db.close();
  return keys.length;
}

test("a node seeded with a snapshot of the serving node serves the whole log after a move, its player going on from the copy's position", { timeout: 60_000 }, async (t) => {
  const { admin, map, start, kv, dir } = await kvFixture(t);
  await start(0, {});
  await start(1, {});
  for (const [k, v] of [["z", "1"], ["y", "1"], ["z", "2"], ["x", "1"]] as const) assert.ok((await kv.put(k, bytes(v))).ok);
  assert.ok((await kv.delete("y")).ok);
  const before = (await kv.status())[1]!;
  assert.ok(before.ok);

  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  const seeded = join(dir, "node1-seeded");
  const installed = await installSnapshot({ dir: seeded, holds: describePartition("kv", to.partitions[1]!), source: map.partitions[1]!.node, timeoutMs: 10_000 });
  assert.equal(installed.revision, before.value.revision, "the copy is of the node's store as it was");
  assert.ok(installed.applied >= before.value.applied && installed.entries > 3, JSON.stringify(installed));
  // Written after the copy, before the new node claims: its player replays it from the log.
  assert.ok((await kv.put("z", bytes("3"))).ok);

  await start(1, {}, { map: to, store: "node1-seeded" });
  const follower = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 3_000 });
  t.after(() => follower.close());
  const z = await follower.get("z");
  assert.ok(z.ok, z.ok ? "" : z.failure.message);
  assert.equal(text(z.value.record?.value), "3");
  assert.equal(z.value.record?.version, 3);
  const y = await follower.get("y");
  assert.ok(y.ok && y.value.record === undefined, "the delete is in the copy");
  const all = await follower.range({ from: "m" });
  assert.ok(all.ok);
  assert.deepEqual(all.value.found.map(([k, r]) => `${k}=${text(r.value)}`), ["x=1", "z=3"]);
  const after = (await follower.status())[1]!;
  assert.ok(after.ok && after.value.revision === before.value.revision + 1, "one write after the copy, applied once");
});

test("a snapshot seeds only a new store: one that exists is refused untouched; another partition's copy, or none to be had, leaves the directory empty", { timeout: 60_000 }, async (t) => {
  const { map, start, kv, dir } = await kvFixture(t);
  await start(0, {});
  await start(1, {});
  assert.ok((await kv.put("z", bytes("1"))).ok);
  const holds1 = describePartition("kv", map.partitions[1]!);

  const existing = join(dir, "existing");
  const store = await KvShardStore.open(existing, { holds: holds1 });
  await store.close();
  const kept = await keysIn(existing);
  await assert.rejects(installSnapshot({ dir: existing, holds: holds1, source: map.partitions[1]!.node, timeoutMs: 10_000 }), /holds a store already/);
  assert.equal(await keysIn(existing), kept);

  const wrong = join(dir, "wrong");
  await assert.rejects(installSnapshot({ dir: wrong, holds: describePartition("kv", map.partitions[0]!), source: map.partitions[1]!.node, timeoutMs: 10_000 }), /is of partition 1 of KV kv \(log kv-p1\), not partition 0/);
  assert.equal(await keysIn(wrong), 0);

  const [nobody] = await stableAddresses(1);
  const none = join(dir, "none");
  await assert.rejects(installSnapshot({ dir: none, holds: holds1, source: nobody!, timeoutMs: 5_000 }), new RegExp(`the snapshot of the node at ${nobody}: connection refused`));
  assert.equal(await keysIn(none), 0);
});
