/**
 * A player delivering to a shard in its own process (apps/logplayer/node/shard-server.ts `local`,
 * shard-link.ts `LocalShard`): the same core and store as over gRPC, no stream on the network. Two
 * shards, one in process and one over gRPC: both end with exactly the log's entries routed to them;
 * the in-process one is known to the player by an address nothing listens on, so it took its whole
 * delivery in process; a shard closing ends the in-process stream, and a new player delivers there
 * again once it is back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { shardOf } from "../../../apps/logplayer/core/items.ts";
import { LogPlayer } from "../../../apps/logplayer/node/player.ts";
import { ShardLinks } from "../../../apps/logplayer/node/shard-link.ts";
import { type ShardServer, startShardServer } from "../../../apps/logplayer/node/shard-server.ts";
import { ShardStore } from "../../../apps/logplayer/node/shard-store.ts";
import { walFixture } from "./wal.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();
const tuning = { watermarkMs: 20, reconnectMs: 50, startGraceMs: 200, replyTimeoutMs: 2_000, trimEvery: Number.POSITIVE_INFINITY };

test("a player delivers to a shard in its own process without the network, and over gRPC to the other", { timeout: 60_000 }, async (t) => {
  const { dir, client, log } = await walFixture(t, "local");
  const appended = new Map<number, string>();
  let n = 0;
  const append = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const payload = `e${n++}`;
      appended.set((await log.append(utf8.encode(payload))).slot, payload);
    }
  };
  const open = async (s: number, port = 0): Promise<{ store: ShardStore; server: ShardServer }> => {
    const store = await ShardStore.open(join(dir, `s${s}`));
    return { store, server: await startShardServer({ store, port }) };
  };
  const shards = [await open(0), await open(1)];
  t.after(async () => {
    for (const s of shards) {
      await s.server.close();
      await s.store.close();
    }
  });
  const addresses = shards.map((s) => `127.0.0.1:${s.server.port}`);
  const links = new ShardLinks(addresses);
  t.after(() => links.close());
  const reader = new WormLog({ client, log: "wal" });
  // The player knows shard 0 by an address nothing listens on: only the in-process stream reaches it.
  const nowhere = "127.0.0.1:1";
  const start = () => LogPlayer.start({ client, log: reader, group: "wal-local", shards: [nowhere, addresses[1]!], tuning, localShards: new Map([[nowhere, shards[0]!.server]]) });
  const caughtUp = async () => {
    const last = Math.max(...appended.keys());
    for (let s = 0; s < 2; s++) {
      for (let tries = 0; (await links.status(s, 2_000).then((x) => x.applied, () => -2)) < last; tries++) {
        assert.ok(tries < 200, `shard ${s} did not reach slot ${last}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  await append(30);
  const p1 = await start();
  t.after(() => p1.stop());
  await append(30);
  await caughtUp();
  // Status counts the open delivery sessions: the in-process one, and none from the network there.
  assert.equal((await links.status(0, 2_000)).streams, 1, "shard 0: one session, the player's in-process one");

  // Shard 0 closes: the in-process stream ends; back on its store and port, a new player delivers again.
  p1.stop();
  await shards[0]!.server.close();
  await shards[0]!.store.close();
  await append(20);
  shards[0] = await open(0, shards[0]!.server.port);
  const p2 = await LogPlayer.start({ client, log: reader, group: "wal-local", shards: [nowhere, addresses[1]!], tuning, localShards: new Map([[nowhere, shards[0]!.server]]) });
  t.after(() => p2.stop());
  await append(10);
  await caughtUp();

  for (let s = 0; s < 2; s++) {
    const held = (await links.read(s, 0, 1_000, 2_000)).rows.map((r) => [r.position, text.decode(r.data)]);
    const want = [...appended].filter(([, p]) => shardOf(utf8.encode(p), 2) === s).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(held, want, `shard ${s} holds exactly its part of the log`);
  }
});
