/**
 * The player process (apps/logplayer/node/player.ts) in process: acceptors in memory, the log with
 * an embedded sequencer, two shard servers on classic-level over gRPC. The player delivers what is
 * appended before and after it starts; a shard restarted on its store (same port) is caught up by
 * re-reading the log; a second player takes the next epoch and resumes from the shards' applied
 * positions; the log is trimmed below what both applied. Every shard ends with exactly the log's
 * entries routed to it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { LogPlayer } from "../../../apps/logplayer/node/player.ts";
import { PLAYER_TEST_TUNING as tuning, twoShards } from "./player-fixture.ts";
import { walFixture } from "./wal.ts";

test("the player delivers the log exactly once through a shard restart and a new player", { timeout: 60_000 }, async (t) => {
  const { dir, client, log } = await walFixture(t, "player");
  const { append, open, shards, addresses, caughtUp, holdTheirParts } = await twoShards(t, dir, log);
  const reader = new WormLog({ client, log: "wal" });
  const start = () => LogPlayer.start({ client, log: reader, group: "wal-player", shards: addresses, tuning });

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
  shards[1] = await open(1, shards[1]!.server.port);
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

  await holdTheirParts();
  assert.equal((await log.read(0)).kind, "trimmed", "the log is trimmed below what both shards applied");
});
