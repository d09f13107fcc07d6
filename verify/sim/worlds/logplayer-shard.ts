/**
 * A storage shard inside the LogPlayer world (worlds/logplayer.ts): the real `ShardCore` over a
 * simulated store that persists before it replies, as apps/logplayer/node/shard-store.ts does: each
 * `takeWrite` is one write of the rows, the applied position, the epoch and the binding together,
 * durable only when its simulated sync completes (then the receipt releases the replies); a crash
 * before that loses the write whole. A crash takes the shard down (its streams break); it restarts
 * later from what its disk holds. Every batch and every durable write is checked with the
 * `DeliveryObserver` (apps/logplayer/core/invariants.ts).
 */
import type { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import type { PlayerFrame, ShardReply } from "../../../apps/logplayer/core/items.ts";
import { type Row, ShardCore, type ShardDurable } from "../../../apps/logplayer/core/shard-core.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";

/** What the shard's simulated disk holds: its durable state and every row written. */
interface ShardDisk extends ShardDurable {
  readonly rows: Row[];
}

export interface ShardHost {
  readonly k: Kernel;
  readonly observer: DeliveryObserver;
  /** A reply of the shard for delivery stream `session`. */
  reply(shard: SimShard, session: number, reply: ShardReply): void;
}

export class SimShard {
  /** Undefined while the shard is down. */
  private core: ShardCore | undefined;
  private disk: ShardDisk = { applied: -1, epoch: 0, rows: [] };
  private syncs = 0;
  /** Bumped at each crash: a sync of an earlier life completes nothing. */
  private life = 0;
  /** The durable applied position it restarted at (a probe when it catches up past it). */
  private restartedAt: number | undefined;

  constructor(
    readonly index: number,
    readonly name: string,
    private readonly h: ShardHost,
  ) {
    this.core = new ShardCore(this.disk, mintReceipt(0));
  }

  get up(): boolean {
    return this.core !== undefined;
  }
  /** The rows on its disk. */
  get rows(): readonly Row[] {
    return this.disk.rows;
  }

  /** A frame of delivery stream `session` reaches the shard. */
  receive(session: number, frame: PlayerFrame): void {
    const core = this.core;
    if (!core) {
      this.h.k.record(`drop>${this.name} ${frame.kind}`);
      return;
    }
    const before = core.applied;
    const epoch = core.epoch;
    const { duplicates, watermarks } = core.counters;
    core.receive(session, frame);
    this.h.k.record(`${this.name}<${session} ${frame.kind} e${frame.epoch} → a${core.applied}`);
    if (frame.kind === "batch") this.h.k.check(this.h.observer.batch(this.index, epoch, frame.epoch, before, core.applied));
    if (core.counters.duplicates > duplicates) probe("logplayer.shard.duplicate");
    if (core.counters.watermarks > watermarks) probe("logplayer.shard.watermark");
    this.settle();
  }

  /** The shard crashes: what it has not synced is lost, and it is down until `restart`. */
  crash(): void {
    this.life++;
    this.core = undefined;
    this.h.k.record(`${this.name} crashes`);
  }

  /** Up again, from what its disk holds. */
  restart(): void {
    if (this.core) return;
    this.core = new ShardCore(this.disk, mintReceipt(this.syncs));
    this.restartedAt = this.disk.applied;
    this.h.k.record(`${this.name} restarts at ${this.disk.applied}`);
  }

  /** Send the replies now true, and hand the store the next write (one at a time). */
  private settle(): void {
    const core = this.core!;
    for (const r of core.takeReplies()) this.h.reply(this, r.session, r.reply);
    const w = core.takeWrite();
    if (!w) return;
    const life = this.life;
    const ms = 1 + this.h.k.prng.int(3) + (buggify("sim.logplayer.slowShardSync") ? 20 + this.h.k.prng.int(60) : 0);
    this.h.k.later(ms, () => {
      if (life !== this.life) return;
      this.h.k.check(this.h.observer.durable(this.index, w));
      this.disk = { applied: w.applied, epoch: w.epoch, ...(w.binding ? { binding: w.binding } : {}), rows: this.disk.rows };
      this.disk.rows.push(...w.rows);
      this.h.k.record(`${this.name} synced a${w.applied} e${w.epoch} +${w.rows.length}`);
      if (this.restartedAt !== undefined && w.applied > this.restartedAt) {
        probe("logplayer.shard.restartCaughtUp");
        this.restartedAt = undefined;
      }
      this.core!.durable(mintReceipt(++this.syncs));
      this.settle();
    });
  }
}
