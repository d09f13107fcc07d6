/** What the player tests share (player.test.ts, local-shard.test.ts): numbered appends to the log,
 *  two shard servers on classic-level that close after the test, and waiting until both applied
 *  everything appended; then what each holds against the log. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { WormLog } from "../../../apps/log/node/log-client.ts";
import { shardOf } from "../../../apps/logplayer/core/items.ts";
import { ShardLinks } from "../../../apps/logplayer/node/shard-link.ts";
import { type ShardServer, startShardServer } from "../../../apps/logplayer/node/shard-server.ts";
import { ShardStore } from "../../../apps/logplayer/node/shard-store.ts";
import { stablePorts } from "../../ports.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

export const PLAYER_TEST_TUNING = { watermarkMs: 20, reconnectMs: 50, startGraceMs: 200, replyTimeoutMs: 2_000, trimEvery: 16 };

export async function twoShards(t: TestContext, dir: string, log: WormLog) {
  const appended = new Map<number, string>();
  let n = 0;
  /** Append `count` entries "e0", "e1", ... */
  const append = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const payload = `e${n++}`;
      appended.set((await log.append(utf8.encode(payload))).slot, payload);
    }
  };
  /** Shard `s`'s store and server (on `port`; by default one a restart can bind again, test/ports.ts). */
  const open = async (s: number, port?: number): Promise<{ store: ShardStore; server: ShardServer }> => {
    const store = await ShardStore.open(join(dir, `s${s}`));
    return { store, server: await startShardServer({ store, port: port ?? (await stablePorts(1))[0]! }) };
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
  /** Both shards applied everything appended (a shard just restarted may not answer at once). */
  const caughtUp = async () => {
    const last = Math.max(...appended.keys());
    for (let s = 0; s < 2; s++) {
      for (let tries = 0; (await links.status(s, 2_000).then((x) => x.applied, () => -2)) < last; tries++) {
        assert.ok(tries < 200, `shard ${s} did not reach slot ${last}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  /** Each shard holds exactly the log's entries routed to it. */
  const holdTheirParts = async () => {
    for (let s = 0; s < 2; s++) {
      const rows = (await links.read(s, 0, 1_000, 2_000)).rows.map((r) => [r.position, text.decode(r.data)]);
      const want = [...appended].filter(([, p]) => shardOf(utf8.encode(p), 2) === s).sort((a, b) => a[0] - b[0]);
      assert.deepEqual(rows, want, `shard ${s} holds exactly the log filtered to it`);
    }
  };
  return { appended, append, open, shards, addresses, links, caughtUp, holdTheirParts };
}
