/**
 * A LogPlayer player inside the simulator (worlds/logplayer.ts), what apps/logplayer/node/player.ts
 * is in a real process: a simulated process (a real WOR client core) that claims the next epoch of
 * the player group with the real `claimEpoch` over the simulated acceptors, then drives the real
 * `PlayerCore` on virtual time: delivery streams to the shards (through the world), the log's
 * subscription from where the core says (reads into the log's in-order buffer, filling holes past
 * the hole timeout, as apps/log/node/subscription.ts does), re-reads (`readSettled`) of a
 * shard that fell behind, trims (checked, see the world), and wake-ups at `nextWakeup()`.
 *
 * A frozen player (a zombie: SIGSTOP) takes no input and sends nothing; what reaches it meanwhile
 * waits in its inbox and is handled when it thaws, in order.
 */
import type { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import { claimEpoch } from "../../../apps/logplayer/core/epoch.ts";
import { type PlayerFrame, type ShardReply, logRecordsOf, offeredRecord } from "../../../apps/logplayer/core/items.ts";
import { PLAYER_DEFAULTS, PlayerCore } from "../../../apps/logplayer/core/player-core.ts";
import { InOrder } from "../../../apps/log/core/in-order.ts";
import { type ReadConfig, type SlotRead, fill, readSettled, readSlots } from "../../../apps/log/core/read.ts";
import { type LogGen, type LogResult, logOk } from "../../../apps/log/core/steps.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import { LOG_NAME } from "./log-sequencer.ts";
import { type LogPlayerWorldOptions, PLAYER_GROUP } from "./logplayer-options.ts";

/** What a player needs of its world. */
export interface PlayerHost {
  readonly k: Kernel;
  readonly o: LogPlayerWorldOptions;
  readonly observer: DeliveryObserver;
  /** The shards' names, in routing order. */
  readonly shardNames: readonly string[];
  readonly readCfg: ReadConfig;
  /** Appends are over for good (healed, none pending). */
  appendsOver(): boolean;
  /** One past the last entry chosen in the log (the world's ghost). */
  readonly logEnd: number;
  /** Delivery streams: open one (a new session), send on it, close it. */
  open(player: SimPlayer, shard: number, stream: number): void;
  send(player: SimPlayer, shard: number, stream: number, frame: PlayerFrame): void;
  close(player: SimPlayer, shard: number, stream: number): void;
}

/** Pause before a failed epoch claim or subscription read is tried again. */
const RETRY_MS = 50;
/** Slots the subscription holds ahead of the next one to deliver. */
const SUBSCRIPTION_HELD_MAX = 1_024;

export class SimPlayer {
  readonly proc: SimProcess;
  core: PlayerCore | undefined;
  frozen = false;
  /** A shard fenced or refused it: it stopped for good. */
  stopped = false;
  private inbox: (() => void)[] = [];
  private wakeAt: number | undefined;
  /** The subscription's in-order buffer (undefined: not subscribed). */
  private order: InOrder | undefined;
  /** The highest tail a read in this player's process learned (apps/log/node/log-client.ts). */
  private tailSeen = 0;

  constructor(
    private readonly h: PlayerHost,
    readonly name: string,
  ) {
    this.proc = h.k.procs.spawn(name, { segmentSize: h.o.segmentSize });
    this.claim();
  }

  get alive(): boolean {
    return this.proc.alive && !this.stopped;
  }

  /** A read in this player's process learned the log's tail (a crashed player's process is gone). */
  tailLearned(tail: number): void {
    if (this.proc.alive && tail > this.tailSeen) this.tailSeen = tail;
  }

  /** A reply on `stream` of `shard`. */
  reply(shard: number, stream: number, reply: ShardReply): void {
    this.input(() => {
      if (reply.kind === "rewind") probe("logplayer.player.rewound");
      this.core!.onReply(shard, stream, reply, this.h.k.now);
    });
  }

  /** The transport says `stream` of `shard` broke. */
  streamDown(shard: number, stream: number): void {
    this.input(() => this.core!.streamDown(shard, stream, this.h.k.now));
  }

  /** SIGSTOP, then SIGCONT after `ms`. */
  freeze(ms: number): void {
    this.frozen = true;
    this.h.k.record(`${this.proc.label} freezes`);
    this.h.k.later(ms, () => this.thaw());
  }

  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    this.h.k.record(`${this.proc.label} thaws`);
    probe("logplayer.zombie.thawed");
    const inbox = this.inbox;
    this.inbox = [];
    for (const fn of inbox) if (this.alive) fn();
    this.pump();
  }

  private claim(): void {
    this.h.k.procs.start(this.proc, claimEpoch(PLAYER_GROUP, this.name, { log: LOG_NAME, shards: this.h.shardNames }), (r) => {
      if (!r.ok) {
        this.h.k.outcome(`epoch:failed:${r.failure.code}`);
        if (r.failure.code === "invalid") this.h.k.check([`${this.name} was refused its epoch: ${r.failure.message}`]);
        else this.h.k.later(RETRY_MS, () => this.claim());
        return;
      }
      this.h.k.outcome("epoch:claimed");
      this.h.k.record(`${this.proc.label} holds epoch ${r.value.epoch}`);
      this.h.k.check(this.h.observer.claimed(r.value.epoch, this.name));
      const config = { ...PLAYER_DEFAULTS, ...this.h.o.player, epoch: r.value.epoch, player: this.name, group: PLAYER_GROUP, shards: this.h.shardNames.length };
      this.core = new PlayerCore(config, this.h.k.now);
      this.pump();
    });
  }

  /** Handle an input now, or when the player thaws. */
  private input(fn: () => void): void {
    if (!this.alive || !this.core) return;
    if (this.frozen) {
      this.inbox.push(fn);
      return;
    }
    fn();
    this.pump();
  }

  /** Take the core's outputs and act on them; wake at `nextWakeup()`. */
  private pump(): void {
    const core = this.core;
    if (!core || !this.alive || this.frozen) return;
    const k = this.h.k;
    const out = core.takeOutputs(k.now);
    for (const c of out.closes) this.h.close(this, c.shard, c.stream);
    for (const o of out.opens) this.h.open(this, o.shard, o.stream);
    for (const s of out.sends) this.h.send(this, s.shard, s.stream, s.frame);
    for (const r of out.reads) this.reread(r.shard, r.id, r.from, r.to);
    for (const a of out.acks) k.check(this.h.observer.acked(this.name, a.shard, a.applied));
    if (out.trim !== undefined) {
      probe("logplayer.player.trim");
      k.record(`${this.proc.label} trims below ${out.trim}`);
      k.check(this.h.observer.trimmed(out.trim));
    }
    if (out.subscribe !== undefined) {
      k.outcome("subscribe:ok");
      this.order = new InOrder(out.subscribe, SUBSCRIPTION_HELD_MAX);
      this.poll();
    }
    if (out.stopped) {
      probe(`logplayer.player.${out.stopped.reason}`);
      k.outcome(`player:${out.stopped.reason}`);
      k.record(`${this.proc.label} stops: ${out.stopped.reason}`);
      this.stopped = true;
      k.procs.kill(this.proc);
      return;
    }
    const wake = core.nextWakeup();
    if (wake === undefined || (this.wakeAt !== undefined && this.wakeAt >= k.now && this.wakeAt <= wake)) return;
    this.wakeAt = wake;
    k.later(Math.max(1, wake - k.now), () => {
      if (this.wakeAt !== wake) return;
      this.wakeAt = undefined;
      this.pump();
    });
  }

  /** One round of the subscription, as apps/log/node/subscription.ts follows the log (without its
   *  pushes, which only make it sooner): read the slots from the next one undelivered into the
   *  in-order buffer and deliver what is ready; a hole stuck below later values (or below a tail a
   *  read in this process learned) past the hole timeout is filled. */
  private poll(): void {
    const order = this.order;
    if (!this.alive || !order) return;
    const cfg = this.h.readCfg;
    // Appends were over before this round read: once it is past the log's last entry, it ends.
    const over = this.h.appendsOver();
    order.expect(this.tailSeen, this.h.k.now);
    const stuck = order.stuck();
    const hole = stuck !== undefined && this.h.k.now - stuck.since >= cfg.holeTimeoutMs ? stuck.slot : undefined;
    function* fillHole(slot: number): LogGen<LogResult<readonly SlotRead[]>> {
      const f = yield* fill(cfg, slot);
      return f.ok ? logOk([f.value]) : f;
    }
    const round = hole !== undefined ? fillHole(hole) : readSlots(cfg, order.next, order.next + cfg.readChunkMax);
    this.h.k.procs.start(this.proc, round, (r) =>
      this.input(() => {
        const k = this.h.k;
        if (!r.ok) {
          k.outcome(`subscription:failed:${r.failure.code}`);
          k.later(RETRY_MS, () => this.poll());
          return;
        }
        if (hole !== undefined) probe("logplayer.subscription.filledHole");
        for (const s of r.value) {
          if (s.kind === "trimmed") order.skipTo(s.slot + 1);
          else if (s.kind !== "unwritten") order.offer(s, k.now);
        }
        const got = order.take(k.now);
        for (const r of got) if (r.kind !== "trimmed") this.core!.offer(offeredRecord(r));
        if (over && order.next >= this.h.logEnd && !order.stuck()) k.record(`${this.proc.label} subscription ends at ${order.next}`);
        else k.later(got.length > 0 ? 1 : cfg.pollMs, () => this.poll());
      }),
    );
  }

  /** Re-read [from, to) of the log for a shard behind. */
  private reread(shard: number, id: number, from: number, to: number): void {
    probe("logplayer.player.reread");
    this.h.k.procs.start(this.proc, readSettled(this.h.readCfg, from, to), (r) =>
      this.input(() => {
        this.h.k.outcome(r.ok ? "reread:ok" : `reread:failed:${r.failure.code}`);
        if (r.ok) this.core!.reread(shard, id, logRecordsOf(r.value));
        else this.core!.readFailed(shard, id, this.h.k.now);
      }),
    );
  }
}
