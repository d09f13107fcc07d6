/**
 * The player's report (apps/logplayer/node/player.ts → the shard's Status): a running player tells
 * the shard what it holds for it; while the shard's write is held back the status shows items in
 * flight, and once it is synced and acknowledged, none. `worm logplayer status` and `worm inspect`
 * show a fresh report and say "no report" for none or a stale one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { windowCells, windowOf } from "../../../apps/cli/logplayer.ts";
import { LogPlayer, REPORT_LIMITS } from "../../../apps/logplayer/node/player.ts";
import { ShardLinks } from "../../../apps/logplayer/node/shard-link.ts";
import { startShardServer } from "../../../apps/logplayer/node/shard-server.ts";
import { ShardStore } from "../../../apps/logplayer/node/shard-store.ts";
import type { PlayerReportView } from "../../../apps/logplayer/wire/codec.ts";
import { walFixture } from "./wal.ts";

const utf8 = new TextEncoder();

test("a running player's window shows in the shard's status: in flight while the write is held, none after", { timeout: 30_000 }, async (t) => {
  const { dir, client, log } = await walFixture(t, "report");

  const store = await ShardStore.open(join(dir, "s0"));
  const write = store.write.bind(store);
  let gate: Promise<void> = Promise.resolve();
  store.write = async (w) => {
    await gate;
    return write(w);
  };
  const server = await startShardServer({ store });
  const links = new ShardLinks([`127.0.0.1:${server.port}`]);
  t.after(async () => {
    links.close();
    await server.close();
    await store.close();
  });

  /** Poll the shard's status until its player's report satisfies `ok`. */
  const reported = async (ok: (r: PlayerReportView | undefined) => boolean, what: string): Promise<PlayerReportView | undefined> => {
    for (let tries = 0; ; tries++) {
      const r = (await links.status(0, 2_000)).player;
      if (ok(r)) return r;
      assert.ok(tries < 200, `${what}: the shard's status says ${JSON.stringify(r)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  assert.equal((await links.status(0, 2_000)).player, undefined, "no player has reported yet");
  const player = await LogPlayer.start({ client, log: new WormLog({ client, log: "wal" }), group: "wal-player", shards: [`127.0.0.1:${server.port}`], tuning: { startGraceMs: 100 } });
  t.after(() => player.stop());
  await reported((r) => r !== undefined, "the live player reports");

  let open!: () => void;
  gate = new Promise((resolve) => {
    open = resolve;
  });
  for (let i = 0; i < 3; i++) await log.append(utf8.encode(`e${i}`));
  const held = await reported((r) => (r?.inflight ?? 0) > 0, "items in flight while the write is held");
  assert.deepEqual({ ...held, inflight: undefined, ageMs: undefined }, { epoch: 1, inflight: undefined, windowMax: 8_192, queued: 0, behind: false, ageMs: undefined });
  assert.ok(held!.ageMs < 5_000, `a fresh report (${held!.ageMs} ms)`);
  open();
  const after = await reported((r) => r?.inflight === 0, "nothing in flight once acknowledged");
  assert.equal(after!.epoch, 1);
  assert.ok((await links.status(0, 2_000)).applied >= 2, "the entries were applied");
});

test("status shows a fresh report as window, queued and behind, and 'no report' for none or one older than the bound", () => {
  const base = { applied: 4, epoch: 2, streams: 1, batches: 0, duplicates: 0, rewinds: 0, fenced: 0, writes: 0 };
  const report = { epoch: 2, inflight: 3, windowMax: 8, queued: 5, behind: true };
  const fresh = windowOf({ ...base, player: { ...report, ageMs: REPORT_LIMITS.staleMs } });
  assert.deepEqual(fresh, { epoch: 2, inflight: 3, window: 8, queued: 5, behind: true, ageMs: REPORT_LIMITS.staleMs });
  assert.deepEqual(windowCells(fresh), ["3/8", "5", "yes"]);
  assert.equal(windowOf({ ...base, player: { ...report, ageMs: REPORT_LIMITS.staleMs + 1 } }), null, "a stale report is not shown");
  assert.equal(windowOf(base), null);
  assert.deepEqual(windowCells(null), ["no report", "", ""]);
});
