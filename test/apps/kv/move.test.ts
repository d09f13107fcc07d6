/**
 * Moving a partition (apps/kv/node/kv-owner.ts, kv-map.ts `moveKv`), on real KV nodes in process
 * over acceptors in memory: the node the next map names claims the partition in its log and serves
 * what the log holds; the old node, never told, refuses from then on, and a write it appended after
 * the claim counts for nothing; a client that reads the map follows the move, its write applied
 * once; a transaction across partitions prepared at the old node is refused (it votes NO), and one
 * whose coordinator reads the map commits at the new node.
 */
import assert from "node:assert/strict";
import { type Socket, createServer } from "node:net";
import { test } from "node:test";
import { participantName } from "../../../apps/kv/core/cross.ts";
import { KvClient } from "../../../apps/kv/node/kv-client.ts";
import type { Participant } from "../../../apps/txn/node/participant.ts";
import { moveKv, readMap } from "../../../apps/kv/node/kv-map.ts";
import { claimPartition } from "../../../apps/kv/node/kv-owner.ts";
import type { KvShardStore } from "../../../apps/kv/node/shard-store.ts";
import { partitionMap } from "../../../apps/kv/core/partitions.ts";
import { watchMaps } from "../../../apps/kv/node/map-watch.ts";
import { encodeBatch, encodeTxn } from "../../../apps/kv/core/records.ts";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import { stableAddresses } from "../../ports.ts";
import { kvFixture } from "./node-fixture.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

test("a moved partition: the new node claims it and serves the log; what the old node appends after the claim counts for nothing; the old node refuses; a client that reads the map follows", { timeout: 60_000 }, async (t) => {
  const { admin, map, start, kv } = await kvFixture(t);
  const moved: string[] = [];
  await start(0, {});
  await start(1, {}, { onMoved: (why) => moved.push(why) });
  assert.ok((await kv.put("z", bytes("1"))).ok);

  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  assert.equal(to.epoch, 1);
  assert.deepEqual(to.partitions.map((p) => p.node), [map.partitions[0]!.node, there]);
  await assert.rejects(moveKv(admin, "kv", 1, there!), /at .* already \(map epoch 1\)/);
  assert.ok((await kv.put("z", bytes("2"))).ok, "until the new node claims the partition, the old one serves it");

  await start(1, {}, { map: to, store: "node1-moved" });
  // A batch of the old node's epoch, appended after the claim (as a node that had not heard of it would).
  const sequencer = new SequencerNode({ client: admin, owner: "zombie" });
  t.after(() => sequencer.close());
  const zombie = new WormLog({ client: admin, log: map.partitions[1]!.log, tokens: sequencer });
  const late = await zombie.append(encodeBatch(0, [{ client: "zombie", seq: 0, ackedBelow: 0, txn: encodeTxn({ compares: [], success: [{ op: "put", key: "z", value: bytes("zombie") }], failure: [] }) }]), { key: { client: "zombie", seq: 0 } });
  const follower = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 3_000 });
  t.after(() => follower.close());
  const z = await follower.get("z");
  assert.ok(z.ok, z.ok ? "" : z.failure.message);
  assert.ok(z.value.revision >= 2);
  assert.equal(text(z.value.record?.value), "2", `the new node applied the log past ${late.slot}, the old epoch's batch there as nothing`);

  const stale = await kv.put("z", bytes("refused"));
  assert.ok(!stale.ok);
  assert.equal(stale.failure.code, "wrongPartition");
  assert.match(stale.failure.message, new RegExp(`partition 1 moved to the node at ${there} \\(map epoch 1; this node serves epoch 0\\)`));
  assert.equal(moved.length, 1, "the old node heard once that its partition moved");
  const again = await kv.get("z");
  assert.ok(!again.ok && again.failure.code === "wrongPartition", "the old node refuses reads too");

  const put = await follower.put("z", bytes("3"));
  assert.ok(put.ok, put.ok ? "" : put.failure.message);
  const after = await follower.get("z");
  assert.ok(after.ok);
  assert.equal(text(after.value.record?.value), "3");
  assert.equal(after.value.record?.version, 3, "z was written three times: nothing of the old epoch after the claim");
  assert.ok((await follower.put("a", bytes("0"))).ok, "partition 0 did not move");
});

test("a transaction across partitions after a move: the old node votes NO, naming the move; a coordinator that reads the map commits at the new node", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  const coordinator = await start(0, {});
  await start(1, {});
  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  await start(1, {}, { map: to, store: "node1-moved" });
  const kv = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 10_000 });
  t.after(() => kv.close());
  const txn = { compares: [], success: [{ op: "put" as const, key: "a", value: bytes("x") }, { op: "put" as const, key: "z", value: bytes("y") }], failure: [] };
  // Node 0 keeps map 0 and reads no other: its prepares go to the old node of partition 1.
  const refused = await kv.txn(txn);
  assert.ok(!refused.ok);
  assert.equal(refused.failure.code, "aborted");
  assert.match(refused.failure.message, new RegExp(`p1: moved: partition 1 moved to the node at ${there}`));
  // Node 0 again, reading the map when a partition refuses: the next try goes to the new node.
  await coordinator.close();
  await start(0, {}, { follow: true });
  const both = await kv.txn(txn);
  assert.ok(both.ok, both.ok ? "" : both.failure.message);
  assert.equal(both.value.result.succeeded, true);
  const z = await kv.get("z");
  assert.equal(z.ok && text(z.value.record?.value), "y", "partition 1's part is applied at its new node");
  const a = await kv.get("a");
  assert.equal(a.ok && text(a.value.record?.value), "x");
});

test("a partition moved away from a process: its other nodes stop calling the old node's participant directly, and reach the new one", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  const colocated = new Map<string, Participant>();
  await start(0, {}, { colocated, follow: true });
  await start(1, {}, { colocated });
  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  await start(1, {}, { map: to, store: "node1-moved" });
  const kv = new KvClient({ map, refreshMap: () => readMap(admin, "kv"), attemptTimeoutMs: 10_000 });
  t.after(() => kv.close());
  const both = await kv.txn({ compares: [], success: [{ op: "put", key: "a", value: bytes("x") }, { op: "put", key: "z", value: bytes("y") }], failure: [] });
  assert.ok(both.ok, both.ok ? "" : both.failure.message);
  assert.equal(both.value.result.succeeded, true);
  assert.deepEqual([...colocated.keys()], [participantName(0)], "the old node of partition 1 left the process's participants");
  const z = await kv.get("z");
  assert.equal(z.ok && text(z.value.record?.value), "y");
});

test("under writes, the old node's sequencer gives way to the new node's (a newer map epoch) instead of taking the log back", { timeout: 60_000 }, async (t) => {
  const { admin, start, kv } = await kvFixture(t);
  await start(0, {});
  const old = await start(1, {});
  // Writers of partition 1 through a client that keeps map 0: they load the old node until it refuses.
  let stop = false;
  const outcomes = new Map<string, number>();
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const r = await kv.put(`z${w}`, bytes(String(i)));
      const code = r.ok ? "ok" : r.failure.code;
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
      if (!r.ok && r.failure.code === "wrongPartition") return;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  const moved = await start(1, {}, { map: to, store: "node1-moved" });
  const follower = new KvClient({ map: to, attemptTimeoutMs: 3_000 });
  t.after(() => follower.close());
  for (let i = 0; i < 20; i++) assert.ok((await follower.put("z", bytes(String(i)))).ok);
  await Promise.race([Promise.all(writers), new Promise((resolve) => setTimeout(resolve, 10_000))]);
  stop = true;
  await Promise.all(writers);
  const [o] = old.sequencer.status();
  const [n] = moved.sequencer.status();
  console.log(`# old node's sequencer: ${JSON.stringify(o)}; new node's: ${JSON.stringify(n)}; the old node's writers: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  assert.ok((outcomes.get("ok") ?? 0) > 0, "the old node served writes before the move");
  assert.equal(n?.phase, "ready");
  assert.equal(n?.recoveries, 1, "the new node's sequencer recovered once, at its claim: the old one never took the log back");
  assert.ok(o?.phase === "deposed" || o?.phase === "ready", `the old node's sequencer is ${o?.phase}`);
});

test("a client that follows the chain of maps sends a request stuck at a node that never answers to the new node once the move is chosen, without waiting out its attempt", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  await start(0, {});
  // Partition 1's node of map 0 is frozen: its port accepts connections and answers nothing.
  const sockets: Socket[] = [];
  const frozen = createServer((s) => sockets.push(s));
  const [host, port] = map.partitions[1]!.node.split(":");
  await new Promise<void>((resolve) => frozen.listen(Number(port), host, resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    frozen.close();
  });
  const kv = new KvClient({ map, attemptTimeoutMs: 20_000, retryForMs: 30_000 });
  t.after(() => kv.close());
  const watch = watchMaps(admin, "kv", map, (m) => {
    kv.adopt(m);
    return false;
  });
  t.after(() => watch.close());
  const began = Date.now();
  const put = kv.put("z", bytes("1"));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  await start(1, {}, { map: to, store: "node1-moved" });
  const r = await put;
  const took = Date.now() - began;
  assert.ok(r.ok, r.ok ? "" : r.failure.message);
  assert.ok(took < 10_000, `the put took ${took} ms: it waited for its attempt at the frozen node to time out (20 s)`);
  const z = await kv.get("z");
  assert.equal(z.ok && text(z.value.record?.value), "1", "the put was applied at the new node");
});

test("a client that follows the chain of maps keeps writing at the old node while it answers: the new node has not claimed the partition yet", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  await start(0, {});
  await start(1, {});
  const kv = new KvClient({ map, attemptTimeoutMs: 3_000, retryForMs: 2_000 });
  t.after(() => kv.close());
  const [there] = await stableAddresses(1);
  const { to } = await moveKv(admin, "kv", 1, there!);
  kv.adopt(to);
  // Nothing listens at the new address yet: routed there, the put would fail after retryForMs.
  const r = await kv.put("z", bytes("old node"));
  assert.ok(r.ok, r.ok ? "" : r.failure.message);
  const z = await kv.get("z");
  assert.equal(z.ok && text(z.value.record?.value), "old node");
});

/** A shard for claimPartition that catches up at once to what it is asked to; `heard` hears each ask. */
function caughtUpStore(heard: (position: number) => void = () => {}) {
  const store = {
    mapEpoch: 0,
    owner: undefined,
    applied: -1,
    whenApplied: async (position: number) => {
      heard(position);
      store.applied = Math.max(store.applied, position);
    },
  };
  return store;
}

test("a node taking a partition over catches up to the log's chosen tail before it asks its own sequencer (whose first tail makes the old node give way); a restart does not", async () => {
  const calls: string[] = [];
  const store = caughtUpStore((position) => calls.push(`caught up to ${position}`));
  /** Says what was asked, and answers `value`. */
  const heard = <T>(what: () => string, value: T) => async (): Promise<T> => {
    calls.push(what());
    return value;
  };
  // The registers' tail: far the first time (a long log), near the second (the old node went on).
  const chosen = [1_000, 1_100];
  const log = {
    name: "kv-p1",
    chosenTail: async () => {
      const at = chosen.shift() ?? 1_100;
      calls.push(`chosen tail ${at}`);
      return at;
    },
    tail: heard(() => `sequencer's tail, applied ${store.applied}`, 1_110),
    append: heard(() => "owner entry", { slot: 1_110, duplicate: false }),
  };
  const map = partitionMap("kv", 1, ["127.0.0.1:1", "127.0.0.1:2"], ["m"]);
  await claimPartition(log as unknown as WormLog, store as unknown as KvShardStore, map, map.partitions[1]!);
  assert.deepEqual(calls, ["chosen tail 1000", "caught up to 999", "chosen tail 1100", "caught up to 1099", "sequencer's tail, applied 1099", "caught up to 1109", "owner entry", "caught up to 1110"]);
  // A restart under the map its store already serves: straight to the sequencer's tail.
  calls.length = 0;
  store.applied = -1;
  store.mapEpoch = 1;
  await claimPartition(log as unknown as WormLog, store as unknown as KvShardStore, map, map.partitions[1]!);
  assert.deepEqual(calls, ["sequencer's tail, applied -1", "caught up to 1109"]);
});

test("a node taking a partition over asks for the log's tail again when it times out while its shard is still catching up (a long replay keeps the process busy), and fails once nothing is applied between timeouts", async () => {
  const store = caughtUpStore();
  const timeout = () => Object.assign(new Error("timeout: tail of kv-p1 did not finish within 3000 ms"), { failure: { code: "timeout", message: "…" } });
  let asked = 0;
  const log = {
    name: "kv-p1",
    // Times out twice, the shard applying meanwhile (the player replays), then answers.
    chosenTail: async () => {
      asked++;
      if (asked <= 2) {
        store.applied += 100;
        throw timeout();
      }
      return 250;
    },
    tail: async () => 260,
    append: async () => ({ slot: 260, duplicate: false }),
  };
  const map = partitionMap("kv", 1, ["127.0.0.1:1", "127.0.0.1:2"], ["m"]);
  await claimPartition(log as unknown as WormLog, store as unknown as KvShardStore, map, map.partitions[1]!);
  assert.equal(asked, 3);
  assert.equal(store.applied, 260);
  // Nothing applied between timeouts: it gives up after three, with the timeout.
  store.applied = -1;
  let tries = 0;
  const stuck = {
    ...log,
    chosenTail: async () => {
      tries++;
      throw timeout();
    },
  };
  await assert.rejects(claimPartition(stuck as unknown as WormLog, store as unknown as KvShardStore, map, map.partitions[1]!), /timeout: tail of kv-p1/);
  assert.equal(tries, 3);
});

test("a node taking a partition over waits for its shard to catch up however long the replay takes, failing only once the shard applies nothing for the stall bound", { timeout: 30_000 }, async () => {
  /** A shard applying `step` positions every 20 ms, up to `upTo`. */
  const replaying = (step: number, upTo: number) => {
    let applied = -1;
    const timer = setInterval(() => {
      applied = Math.min(upTo, applied + step);
    }, 20);
    return {
      stop: () => clearInterval(timer),
      store: {
        mapEpoch: 0,
        owner: undefined,
        get applied() {
          return applied;
        },
        whenApplied: (position: number, signal?: AbortSignal) =>
          new Promise<void>((resolve, reject) => {
            const poll = setInterval(() => {
              if (applied >= position) done(resolve);
            }, 5);
            const done = (f: () => void) => {
              clearInterval(poll);
              f();
            };
            signal?.addEventListener("abort", () => done(() => reject(signal.reason)), { once: true });
          }),
      },
    };
  };
  const log = { name: "kv-p1", chosenTail: async () => 100, tail: async () => 100, append: async () => ({ slot: 100, duplicate: false }) };
  const map = partitionMap("kv", 1, ["127.0.0.1:1", "127.0.0.1:2"], ["m"]);
  // 100 positions at 2 every 20 ms: about a second, five times the stall bound.
  const slow = replaying(2, 1_000);
  const began = Date.now();
  await claimPartition(log as unknown as WormLog, slow.store as unknown as KvShardStore, map, map.partitions[1]!, undefined, 200);
  slow.stop();
  assert.ok(Date.now() - began >= 800, `caught up after ${Date.now() - began} ms`);
  // A shard that stops at 40: the claim fails, saying where it stood.
  const stuck = replaying(10, 40);
  await assert.rejects(claimPartition(log as unknown as WormLog, stuck.store as unknown as KvShardStore, map, map.partitions[1]!, undefined, 200), /the shard applied nothing for 200 ms, at position 40 of 99/);
  stuck.stop();
});
