/**
 * Preloaded into the real `worm shard serve` and (with `--stages`) `worm logplayer run` processes by
 * bench/logplayer.ts (`node --import tsx --import this worm.ts …`). Each probe is on only when its
 * environment variable names a file (bench/lib/apply-times.ts):
 * - WORM_BENCH_APPLY_TIMES (shard): the store's `write` wrapped to note, right after each synced
 *   batch completes, `(position, nowMs())` for every row the batch held: the apply time;
 * - WORM_BENCH_RECEIVE_TIMES (shard): when a batch frame holding the position arrived;
 * - WORM_BENCH_OFFER_TIMES (player): when the log's subscription handed the position to the player.
 * Notes go to a buffer in memory, written to the file every `FLUSH_MS` and at exit (one small
 * synchronous write: microseconds, off the delivery path), so observing does not slow the process.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { PlayerCore } from "../../apps/logplayer/core/player-core.ts";
import { ShardCore } from "../../apps/logplayer/core/shard-core.ts";
import { ShardStore } from "../../apps/logplayer/node/shard-store.ts";
import { APPLY_RECORD_BYTES, APPLY_TIMES_ENV, OFFER_TIMES_ENV, RECEIVE_TIMES_ENV, nowMs } from "./apply-times.ts";

const FLUSH_MS = 100;

/** `note(key, t)` appends a record to `file`'s buffer. */
function recorder(file: string): (key: number, t: number) => void {
  const fd = openSync(file, "a");
  let buf = new Float64Array(2 * 65_536);
  let n = 0;
  const flush = () => {
    if (n > 0) writeSync(fd, new Uint8Array(buf.buffer, 0, n * APPLY_RECORD_BYTES));
    n = 0;
  };
  setInterval(flush, FLUSH_MS).unref();
  process.on("exit", () => {
    flush();
    closeSync(fd);
  });
  return (key, t) => {
    if (n * 2 === buf.length) {
      const bigger = new Float64Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    buf[n * 2] = key;
    buf[n * 2 + 1] = t;
    n++;
  };
}

const applied = process.env[APPLY_TIMES_ENV];
if (applied) {
  const note = recorder(applied);
  const write = ShardStore.prototype.write;
  ShardStore.prototype.write = async function (this: ShardStore, w) {
    const receipt = await write.call(this, w);
    const t = nowMs();
    for (const r of w.rows) note(r.position, t);
    return receipt;
  };
}
const received = process.env[RECEIVE_TIMES_ENV];
if (received) {
  const note = recorder(received);
  const receive = ShardCore.prototype.receive;
  ShardCore.prototype.receive = function (this: ShardCore, session, frame) {
    if (frame.kind === "batch") {
      const t = nowMs();
      for (const item of frame.items) if (item.data !== undefined) note(item.position, t);
    }
    receive.call(this, session, frame);
  };
}
const offered = process.env[OFFER_TIMES_ENV];
if (offered) {
  const note = recorder(offered);
  const offer = PlayerCore.prototype.offer;
  PlayerCore.prototype.offer = function (this: PlayerCore, record) {
    note(record.position, nowMs());
    offer.call(this, record);
  };
}
