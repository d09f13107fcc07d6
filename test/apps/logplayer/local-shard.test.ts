/**
 * A player delivering to a shard in its own process (apps/logplayer/node/shard-server.ts `local`,
 * shard-link.ts `LocalShard`): the same core and store as over gRPC, no stream on the network. Two
 * shards, one in process and one over gRPC: both end with exactly the log's entries routed to them;
 * the in-process one is known to the player by an address nothing listens on, so it took its whole
 * delivery in process; a shard closing ends the in-process stream, and a new player delivers there
 * again once it is back.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { LogPlayer } from "../../../apps/logplayer/node/player.ts";
import { PLAYER_TEST_TUNING, twoShards } from "./player-fixture.ts";
import { walFixture } from "./wal.ts";

const tuning = { ...PLAYER_TEST_TUNING, trimEvery: Number.POSITIVE_INFINITY };

test("a player delivers to a shard in its own process without the network, and over gRPC to the other", { timeout: 60_000 }, async (t) => {
  const { dir, client, log } = await walFixture(t, "local");
  const { append, open, shards, addresses, links, caughtUp, holdTheirParts } = await twoShards(t, dir, log);
  const reader = new WormLog({ client, log: "wal" });
  // The player knows shard 0 by an address nothing listens on: only the in-process stream reaches it.
  const nowhere = "127.0.0.1:1";
  const start = () => LogPlayer.start({ client, log: reader, group: "wal-local", shards: [nowhere, addresses[1]!], tuning, localShards: new Map([[nowhere, shards[0]!.server]]) });

  await append(30);
  const p1 = await start();
  t.after(() => p1.stop());
  await append(30);
  await caughtUp();
  assert.equal((await links.status(0, 2_000)).streams, 1, "shard 0: one session, the player's in-process one");

  // Shard 0 closes: the in-process stream ends; back on its store and port, a new player delivers again.
  p1.stop();
  await shards[0]!.server.close();
  await shards[0]!.store.close();
  await append(20);
  shards[0] = await open(0, shards[0]!.server.port);
  const p2 = await start();
  t.after(() => p2.stop());
  await append(10);
  await caughtUp();
  await holdTheirParts();
});
