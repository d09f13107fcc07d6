/**
 * `worm shard serve` when its store's write fails (docs/ARCHITECTURE.md §4.4): the store's directory
 * is moved away under the running shard, so the write that needs a new file (LevelDB's next log
 * file, once its memtable is full) fails. The shard acks nothing that write held, ends with one line
 * (`worm: shard store D: a write failed: …`) and exit 1; moved back, a restart on the same store
 * resumes from the durable applied position, which is exactly what was acked.
 */
import assert from "node:assert/strict";
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { ShardReply } from "../../apps/logplayer/core/items.ts";
import { ShardLinks } from "../../apps/logplayer/node/shard-link.ts";
import { Procs, oneLineError, tempDir } from "./harness.ts";

/** Batches sent at most before the write must have failed (1 MiB each; LevelDB's memtable holds 4 MiB). */
const BATCHES_MAX = 32;
const binding = { group: "g", shard: 0, shards: 1 };

test("a shard whose write fails acks nothing of it, exits 1 with one line, and resumes from what is durable", { timeout: 90_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-shard-fail-");
  const store = join(dir, "s0");
  const serve = async () => {
    const proc = procs.start(["shard", "serve", "--dir", store]);
    return { proc, links: new ShardLinks([`127.0.0.1:${(await proc.waitForJson((l) => l.event === "listening", 60_000)).port as number}`]) };
  };
  const first = await serve();
  t.after(() => first.links.close());

  const replies: ShardReply[] = [];
  let down: string | undefined;
  let wake = () => {};
  const s = first.links.open(0, {
    reply: (r) => {
      replies.push(r);
      wake();
    },
    down: (why) => {
      down = why;
      wake();
    },
  });
  const next = () =>
    new Promise<ShardReply | undefined>((resolve) => {
      const check = () => (replies.length > 0 ? resolve(replies.shift()) : down !== undefined ? resolve(undefined) : (wake = check));
      check();
    });
  s.send({ kind: "hello", epoch: 1, player: "p1", binding });
  assert.deepEqual(await next(), { kind: "state", applied: -1, epoch: 1 });

  await rename(store, `${store}.away`);
  let acked = -1;
  let sent = 0;
  for (; sent < BATCHES_MAX; sent++) {
    s.send({ kind: "batch", epoch: 1, items: [{ position: sent, previous: sent - 1, data: new Uint8Array(1 << 20).fill(sent) }] });
    const r = await next();
    if (r === undefined) break;
    assert.deepEqual(r, { kind: "ack", applied: sent });
    acked = sent;
  }
  assert.ok(sent < BATCHES_MAX, `no write failed in ${BATCHES_MAX} MiB`);
  assert.match(down ?? "", /the shard's storage failed/);
  const ended = await Promise.race([first.proc.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the shard still serves 15 s after its write failed")), 15_000).unref())]);
  assert.equal(ended.code, 1, ended.stderr);
  assert.match(oneLineError(ended), /^worm: shard store .*s0: a write failed: /);

  await rename(`${store}.away`, store);
  const second = await serve();
  t.after(() => second.links.close());
  const st = await second.links.status(0, 5_000);
  assert.equal(st.applied, acked, "the restart resumes from the durable applied position: what was acked, not the failed batch");
  assert.deepEqual((await second.links.read(0, 0, 64, 5_000)).rows.map((r) => r.position), Array.from({ length: acked + 1 }, (_, i) => i));
  assert.equal((await second.proc.kill("SIGTERM")).code, 0);
});
