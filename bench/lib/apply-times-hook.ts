/**
 * Preloaded into a `worm shard serve` process by bench/logplayer.ts (`node --import tsx --import
 * this worm.ts shard serve …`, with WORM_BENCH_APPLY_TIMES naming a file): the real shard, with its
 * store's `write` wrapped to note, right after each synced batch completes, `(position, nowMs())` for
 * every row the batch held (bench/lib/apply-times.ts). The notes go to a buffer in memory, written
 * to the file every `FLUSH_MS` and at exit (one small synchronous write: microseconds, off the
 * write path), so the shard is not slowed down by its observation.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { ShardStore } from "../../apps/logplayer/node/shard-store.ts";
import { APPLY_RECORD_BYTES, APPLY_TIMES_ENV, nowMs } from "./apply-times.ts";

const FLUSH_MS = 100;
const file = process.env[APPLY_TIMES_ENV];
if (file) {
  const fd = openSync(file, "a");
  let buf = new Float64Array(2 * 65_536);
  let n = 0;
  const flush = () => {
    if (n > 0) writeSync(fd, new Uint8Array(buf.buffer, 0, n * APPLY_RECORD_BYTES));
    n = 0;
  };
  const write = ShardStore.prototype.write;
  ShardStore.prototype.write = async function (this: ShardStore, w) {
    const receipt = await write.call(this, w);
    const t = nowMs();
    if ((n + w.rows.length) * 2 > buf.length) {
      const bigger = new Float64Array(Math.max(buf.length * 2, (n + w.rows.length) * 2));
      bigger.set(buf.subarray(0, n * 2));
      buf = bigger;
    }
    for (const r of w.rows) {
      buf[n * 2] = r.position;
      buf[n * 2 + 1] = t;
      n++;
    }
    return receipt;
  };
  setInterval(flush, FLUSH_MS).unref();
  process.on("exit", () => {
    flush();
    closeSync(fd);
  });
}
