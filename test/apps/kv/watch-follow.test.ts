/**
 * A KV client's watch follows its partitions (apps/kv/node/kv-watch.ts, KvClient.watch), on real KV
 * nodes in process over acceptors in memory: when a partition's node restarts, and when the
 * partition moves to another node and its old node stops, the watch goes on at the node serving it
 * from the revision after the last one it delivered: every change once, in revision order, none
 * missed; a node that stops answering without closing the connection is found out by the
 * connection's keepalive. Without following it ends at the first stop, saying so.
 */
import assert from "node:assert/strict";
import { type AddressInfo, type Socket, connect, createServer } from "node:net";
import { test } from "node:test";
import type { KvEvent } from "../../../apps/kv/core/messages.ts";
import { KvClient } from "../../../apps/kv/node/kv-client.ts";
import { moveKv, readMap } from "../../../apps/kv/node/kv-map.ts";
import { KvWatchError, type Watched } from "../../../apps/kv/node/kv-watch.ts";
import { stableAddresses } from "../../ports.ts";
import { kvFixture } from "./node-fixture.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Every batch of `it` into `into`, until it ends (its error, if any, into `ended`). */
function drain(it: AsyncIterableIterator<Watched>, into: Watched[]): Promise<unknown> {
  return (async () => {
    try {
      for await (const b of it) into.push(b);
      return undefined;
    } catch (e) {
      return e;
    }
  })();
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`waited ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const changesOf = (batches: readonly Watched[], partition: number): KvEvent[] => batches.filter((b) => b.partition === partition).flatMap((b) => b.events);

test("a watch goes on across its node's restart and its partition's move, every change once and in order", { timeout: 90_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  await start(0, {});
  let node1 = await start(1, {});
  const kv = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 3_000, retryForMs: 15_000 });
  t.after(() => kv.close());
  const resumed: string[] = [];
  const batches: Watched[] = [];
  const lost: string[] = [];
  const it = kv.watch({ from: "" }, { follow: { onLost: (r) => lost.push(`${r.partition}@${r.node}`), onResumed: (r) => resumed.push(`${r.partition}@${r.node} from ${r.fromRevision}`) } });
  const ended = drain(it, batches);
  await until("a first batch of each partition", () => new Set(batches.map((b) => b.partition)).size === 2);
  assert.deepEqual(
    batches.map((b) => b.events.length),
    [0, 0],
    "a watch from now starts with an empty batch per partition",
  );

  assert.ok((await kv.put("z", bytes("1"))).ok);
  assert.ok((await kv.put("a", bytes("1"))).ok);
  await until("z=1", () => changesOf(batches, 1).length === 1);

  // Partition 1's node restarts; a put made while it is down lands once it is back.
  await node1.close();
  const during = kv.put("z", bytes("2"));
  await new Promise((resolve) => setTimeout(resolve, 300));
  node1 = await start(1, {});
  const r2 = await during;
  assert.ok(r2.ok, r2.ok ? "" : r2.failure.message);
  assert.ok((await kv.put("z", bytes("3"))).ok);
  await until("z=2 and z=3", () => changesOf(batches, 1).length === 3);
  assert.equal(resumed.length, 1, `resumed: ${resumed.join("; ")}`);
  assert.deepEqual(lost, [`1@${map.partitions[1]!.node}`], "lost once, at its node");
  assert.equal(resumed[0], `1@${map.partitions[1]!.node} from 2`, "at the same node, from the revision after the last one delivered");

  // Partition 1 moves; its old node stops once the new one serves.
  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  await start(1, {}, { map: to, store: "node1-moved" });
  assert.ok((await kv.put("z", bytes("4"))).ok);
  await node1.close();
  assert.ok((await kv.put("z", bytes("5"))).ok);
  assert.ok((await kv.put("a", bytes("2"))).ok);
  await until("z=5", () => changesOf(batches, 1).length === 5);
  assert.ok(resumed.some((r) => r.startsWith(`1@${there} from `)), `resumed at the new node: ${resumed.join("; ")}`);

  const z = changesOf(batches, 1);
  assert.deepEqual(z.map((e) => (e.record ? text(e.record.value) : "-")), ["1", "2", "3", "4", "5"], "every change of z once, in order");
  const revisions = z.map((e) => e.revision);
  assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y), "in revision order");
  assert.equal(new Set(revisions).size, revisions.length, "no revision twice");
  await until("a=2", () => changesOf(batches, 0).length === 2);
  await it.return?.();
  assert.equal(await ended, undefined, "stopped by its caller, not failed");
});

test("a watch that does not follow ends when its node stops, naming it", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  const node0 = await start(0, {});
  await start(1, {});
  const kv = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 3_000 });
  t.after(() => kv.close());
  const batches: Watched[] = [];
  const ended = drain(kv.watch({ from: "", to: "m" }, { follow: false }), batches);
  await until("the first batch", () => batches.length === 1);
  await node0.close();
  const e = await ended;
  assert.ok(e instanceof KvWatchError, String(e));
  assert.equal(e.code, "unavailable");
  assert.match(e.message, new RegExp(`node ${map.partitions[0]!.node}`));
});

test("a following watch ends once no node has served its partition for retryForMs", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  const node0 = await start(0, {});
  const kv = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 1_000, retryForMs: 1_500 });
  t.after(() => kv.close());
  const batches: Watched[] = [];
  const ended = drain(kv.watch({ from: "", to: "m" }), batches);
  await until("the first batch", () => batches.length === 1);
  const stopped = Date.now();
  await node0.close();
  const e = await ended;
  const took = Date.now() - stopped;
  assert.ok(e instanceof KvWatchError, String(e));
  assert.match(e.message, /no node served partition 0's watch for \d+ ms/);
  assert.ok(took >= 1_500 && took < 6_000, `ended after ${took} ms`);
});

test("a watch whose node stops answering (paused, or cut off) finds out by the connection's keepalive, and follows its partition to the node it moved to", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  await start(0, {});
  // The watcher reaches partition 0's node through a proxy that can go silent (a paused process,
  // a cable pulled: the connection stays open, nothing comes back).
  const [host, port] = map.partitions[0]!.node.split(":") as [string, string];
  let silent = false;
  const sockets: Socket[] = [];
  const proxy = createServer((down) => {
    const up = connect(Number(port), host);
    sockets.push(down, up);
    down.on("data", (d) => void (silent || up.write(d)));
    up.on("data", (d) => void (silent || down.write(d)));
    // Silent, nothing passes, not even a close.
    for (const [a, b] of [[down, up], [up, down]] as const) for (const event of ["error", "close"]) a.on(event, () => void (silent || b.destroy()));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    proxy.close();
  });
  const through = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const proxied = { ...map, partitions: map.partitions.map((p) => (p.id === 0 ? { ...p, node: through } : p)) };
  const watcher = new KvClient({ map: proxied, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 3_000, keepaliveMs: 300 });
  t.after(() => watcher.close());
  const writer = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 3_000 });
  t.after(() => writer.close());
  const batches: Watched[] = [];
  const resumed: string[] = [];
  const ended = drain(watcher.watch({ from: "", to: "m" }, { follow: { onResumed: (r) => resumed.push(`${r.node} from ${r.fromRevision}`) } }), batches);
  await until("the first batch", () => batches.length === 1);
  assert.ok((await writer.put("a", bytes("1"))).ok);
  await until("a=1", () => changesOf(batches, 0).length === 1);

  silent = true;
  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 0, there!);
  await start(0, {}, { map: to, store: "node0-moved" });
  assert.ok((await writer.put("a", bytes("2"))).ok);
  await until("a=2 at the new node", () => changesOf(batches, 0).length === 2, 10_000);
  assert.deepEqual(resumed, [`${there} from 2`]);
  assert.deepEqual(changesOf(batches, 0).map((e) => e.record && text(e.record.value)), ["1", "2"]);
  assert.equal(await Promise.race([ended, Promise.resolve("going")]), "going");
});
