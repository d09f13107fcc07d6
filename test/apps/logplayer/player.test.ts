/**
 * The player process (apps/logplayer/node/player.ts) in process: acceptors in memory, the log with
 * an embedded sequencer, two shard servers on classic-level over gRPC. The player delivers what is
 * appended before and after it starts; a shard restarted on its store (same port) is caught up by
 * re-reading the log; a second player takes the next epoch and resumes from the shards' applied
 * positions; the log is trimmed below what both applied. Every shard ends with exactly the log's
 * entries routed to it.
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
const tuning = { watermarkMs: 20, reconnectMs: 50, startGraceMs: 200, replyTimeoutMs: 2_000, trimEvery: 16 };

test("the player delivers the log exactly once through a shard restart and a new player", { timeout: 60_000 }, async (t) => {
  const { dir, client, log } = await walFixture(t, "player");
  const appended = new Map<number, string>();
  let n = 0;
  const append = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const payload = `e${n++}`;
      appended.set((await log.append(utf8.encode(payload))).slot, payload);
    }
  };

  const shard = async (s: number, port = 0): Promise<{ store: ShardStore; server: ShardServer }> => {
    const store = await ShardStore.open(join(dir, `s${s}`));
    return { store, server: await startShardServer({ store, port }) };
  };
  const shards = await Promise.all([shard(0), shard(1)]);
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
  const start = () => LogPlayer.start({ client, log: reader, group: "wal-player", shards: addresses, tuning });
  const caughtUp = async () => {
    const last = Math.max(...appended.keys());
    for (let s = 0; s < 2; s++) {
      // A shard just restarted may not answer at once: that is not caught up yet.
      for (let tries = 0; (await links.status(s, 2_000).then((x) => x.applied, () => -2)) < last; tries++) {
        assert.ok(tries < 200, `shard ${s} did not reach slot ${last}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  await append(40);
  const p1 = await start();
  t.after(() => p1.stop());
  assert.equal(p1.epoch, 1);
  await append(40);
  await caughtUp();

  // A shard restarted on its store and port while the log grows: re-read, caught up.
  await shards[1]!.server.close();
  await shards[1]!.store.close();
  await append(30);
  shards[1] = await shard(1, shards[1]!.server.port);
  await append(10);
  await caughtUp();

  p1.stop();
  assert.equal(await p1.done, undefined);
  await append(20);
  const p2 = await start();
  t.after(() => p2.stop());
  assert.equal(p2.epoch, 2);
  await caughtUp();
  p2.stop();

  for (let s = 0; s < 2; s++) {
    const rows = (await links.read(s, 0, 1_000, 2_000)).rows.map((r) => [r.position, text.decode(r.data)]);
    const want = [...appended].filter(([, p]) => shardOf(utf8.encode(p), 2) === s).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(rows, want, `shard ${s} holds exactly the log filtered to it`);
  }
  assert.equal((await log.read(0)).kind, "trimmed", "the log is trimmed below what both shards applied");
});
