/**
 * A shard served with the cluster token (apps/logplayer/node/shard-server.ts): a player, a read or a
 * status call without the token or with a wrong one is refused (UNAUTHENTICATED), said by the
 * shard's address, and applies nothing; the player stops at once instead of reconnecting forever.
 * The right token delivers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { LogPlayer } from "../../../apps/logplayer/node/player.ts";
import { ShardLinks } from "../../../apps/logplayer/node/shard-link.ts";
import { startShardServer } from "../../../apps/logplayer/node/shard-server.ts";
import { ShardStore } from "../../../apps/logplayer/node/shard-store.ts";
import { walFixture } from "./wal.ts";

const utf8 = new TextEncoder();
const tuning = { watermarkMs: 20, reconnectMs: 50, startGraceMs: 200, replyTimeoutMs: 2_000 };

test("a shard with a token refuses a player and reads without it, and serves the right one", { timeout: 60_000 }, async (t) => {
  const { dir, client, log } = await walFixture(t, "token");
  let last = -1;
  for (let i = 0; i < 10; i++) last = (await log.append(utf8.encode(`e${i}`))).slot;

  const store = await ShardStore.open(join(dir, "s0"));
  const server = await startShardServer({ store, token: "s3cret" });
  t.after(async () => {
    await server.close();
    await store.close();
  });
  const address = `127.0.0.1:${server.port}`;
  const refused = new RegExp(`^shard 127\\.0\\.0\\.1:${server.port} refused the token \\(check --token or the cluster file's token\\)$`);
  const reader = new WormLog({ client, log: "wal" });
  const play = (token?: string) => LogPlayer.start({ client, log: reader, group: "wal-player", shards: [address], tuning, ...(token ? { security: { token } } : {}) });

  for (const token of [undefined, "wrong"]) {
    const links = new ShardLinks([address], token ? { token } : {});
    await assert.rejects(links.status(0, 2_000), { message: refused }, `status with ${token ?? "no"} token`);
    await assert.rejects(links.read(0, 0, 10, 2_000), { message: refused }, `read with ${token ?? "no"} token`);
    links.close();
    const p = await play(token);
    t.after(() => p.stop());
    const stop = await Promise.race([p.done, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`a player with ${token ?? "no"} token still runs after 5 s`)), 5_000).unref())]);
    assert.equal(stop?.reason, "unauthenticated", `a player with ${token ?? "no"} token stops`);
    assert.match(stop?.message ?? "", refused);
    assert.equal(store.state.applied, -1, "the shard applied nothing for it");
  }

  const links = new ShardLinks([address], { token: "s3cret" });
  t.after(() => links.close());
  const p = await play("s3cret");
  t.after(() => p.stop());
  for (let tries = 0; (await links.status(0, 2_000)).applied < last; tries++) {
    assert.ok(tries < 200, `the shard did not reach slot ${last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await links.read(0, 0, 100, 2_000)).rows.length, 10, "the right token delivers every entry");
  p.stop();
  assert.equal(await p.done, undefined);
});
