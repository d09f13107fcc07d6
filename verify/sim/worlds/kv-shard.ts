/**
 * A KV shard inside the KV world (worlds/kv.ts), what apps/kv/node/shard-store.ts is under a
 * LogPlayer shard server: the real `ShardCore` (the delivery rule: in order, exactly once, fenced)
 * over a simulated store that applies the rows in memory as they arrive (after each frame, the
 * core's staged rows, with the real `KvShardState`: `decodeTxn`, `applyTxn`, each position's result)
 * and makes each write durable at its simulated sync: the shard's epoch and binding with the state's
 * image as of the write (records, revision, applied position, results), in one write; only then does
 * the receipt release the replies. A crash loses what was not synced, memory with it; the shard
 * restarts from its image (the applied position the image names is where delivery resumes).
 *
 * Requests wait at a shard for a position to be applied (`whenApplied`, as the store's waiters do),
 * answered from its memory; a crash fails them, and so does their deadline.
 */
import { EMPTY_KV_IMAGE, type KvImage, KvShardState } from "../../../apps/kv/core/shard-state.ts";
import type { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import type { Binding, PlayerFrame, ShardReply } from "../../../apps/logplayer/core/items.ts";
import { type Row, ShardCore } from "../../../apps/logplayer/core/shard-core.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";

/** What the shard's simulated disk holds. */
interface KvDisk {
  readonly epoch: number;
  readonly binding?: Binding;
  readonly image: KvImage;
}

export interface KvShardHost {
  readonly k: Kernel;
  readonly observer: DeliveryObserver;
  /** A reply of the shard for delivery stream `session`. */
  reply(session: number, reply: ShardReply): void;
  /** The shard applied a write in memory: its state moved on. */
  applied(shard: SimKvShard): void;
  /** A read at this shard's node learned the log's tail (its player's subscription hears of it). */
  tailLearned(tail: number): void;
}

interface Waiter {
  readonly position: number;
  readonly ok: (state: KvShardState) => void;
  readonly fail: (why: string) => void;
}

export class SimKvShard {
  private core: ShardCore | undefined;
  /** The partition in memory; undefined while the shard is down. */
  private memory: KvShardState | undefined;
  private disk: KvDisk = { epoch: 0, image: EMPTY_KV_IMAGE };
  private syncs = 0;
  /** Bumped at each crash: a sync of an earlier life completes nothing. */
  private life = 0;
  /** The applied position it restarted at (a probe when it catches up past it). */
  private restartedAt: number | undefined;
  private waiters: Waiter[] = [];

  constructor(
    readonly name: string,
    private readonly h: KvShardHost,
  ) {
    this.boot();
  }

  /** A read here learned the log's tail, as a KV node's `log.tail()` tells its player's subscription. */
  tailLearned(tail: number): void {
    this.h.tailLearned(tail);
  }

  get up(): boolean {
    return this.core !== undefined;
  }
  /** Its state in memory (undefined while down). */
  get state(): KvShardState | undefined {
    return this.memory;
  }

  /** `ok` once the shard has applied `position` in memory (now, if it has); `fail` if it crashes
   *  first or `ms` pass. */
  whenApplied(position: number, ms: number, ok: (state: KvShardState) => void, fail: (why: string) => void): void {
    const memory = this.memory;
    if (!memory) fail("down");
    else if (memory.applied >= position) ok(memory);
    else {
      const w: Waiter = { position, ok, fail };
      this.waiters.push(w);
      this.h.k.later(ms, () => {
        if (!this.waiters.includes(w)) return;
        this.waiters = this.waiters.filter((x) => x !== w);
        fail("timeout");
      });
    }
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
    const { duplicates } = core.counters;
    core.receive(session, frame);
    this.h.k.record(`${this.name}<${session} ${frame.kind} e${frame.epoch} → a${core.applied}`);
    this.stage(core.staged);
    if (frame.kind === "batch") this.h.k.check(this.h.observer.batch(0, epoch, frame.epoch, before, core.applied));
    if (core.counters.duplicates > duplicates) probe("kv.shard.duplicate");
    this.settle();
  }

  /** The shard crashes: what it has not synced is lost, memory with it; down until `restart`. */
  crash(): void {
    this.life++;
    this.core = undefined;
    this.memory = undefined;
    this.h.k.record(`${this.name} crashes`);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.fail("crashed");
  }

  /** Up again, from what its disk holds. */
  restart(): void {
    if (this.core) return;
    this.boot();
    this.restartedAt = this.disk.image.applied;
    this.h.k.record(`${this.name} restarts at ${this.disk.image.applied} r${this.disk.image.revision}`);
  }

  private boot(): void {
    const { epoch, binding, image } = this.disk;
    this.core = new ShardCore({ applied: image.applied, epoch, ...(binding ? { binding } : {}) }, mintReceipt(this.syncs));
    this.memory = new KvShardState(image);
  }

  /** Apply the rows not applied yet in memory, at once (as the store's `stage`). */
  private stage(rows: readonly Row[]): void {
    const memory = this.memory!;
    const before = memory.applied;
    memory.stage(rows);
    if (memory.applied === before) return;
    this.h.k.record(`${this.name} staged a${memory.applied} r${memory.revision}`);
    this.h.applied(this);
    this.wake(memory);
  }

  /** Send the replies now true; hand the store the next write (one at a time): its rows applied if
   *  they were not staged, the state at its applied position, its image durable at its sync. */
  private settle(): void {
    const core = this.core!;
    for (const r of core.takeReplies()) this.h.reply(r.session, r.reply);
    const w = core.takeWrite();
    if (!w) return;
    const memory = this.memory!;
    const before = memory.applied;
    memory.write(w.rows, w.applied);
    const image = memory.image();
    if (memory.applied !== before) {
      this.h.applied(this);
      this.wake(memory);
    }
    const life = this.life;
    const ms = 1 + this.h.k.prng.int(3) + (buggify("sim.kv.slowShardSync") ? 20 + this.h.k.prng.int(60) : 0);
    this.h.k.later(ms, () => {
      if (life !== this.life) return;
      this.h.k.check(this.h.observer.durable(0, w));
      this.disk = { epoch: w.epoch, ...(w.binding ? { binding: w.binding } : {}), image };
      this.h.k.record(`${this.name} synced a${w.applied} e${w.epoch} r${image.revision}`);
      if (this.restartedAt !== undefined && w.applied > this.restartedAt) {
        probe("kv.shard.restartCaughtUp");
        this.restartedAt = undefined;
      }
      this.core!.durable(mintReceipt(++this.syncs));
      this.settle();
    });
  }

  private wake(memory: KvShardState): void {
    if (!this.waiters.some((w) => w.position <= memory.applied)) return;
    const ready = this.waiters.filter((w) => w.position <= memory.applied);
    this.waiters = this.waiters.filter((w) => w.position > memory.applied);
    for (const w of ready) w.ok(memory);
  }
}
