/**
 * A synchronous fleet for the LogPlayer tests: players (PlayerCore) and shards (ShardCore over an
 * in-memory disk) joined by a network the test drives, on virtual time, with every durable write,
 * ack, trim and batch fed to the DeliveryObserver (apps/logplayer/core/invariants.ts).
 *
 * A random schedule (`chaos`, seeded) delivers messages in any order, loses and duplicates them,
 * crashes shards (what was not synced is lost) and players, starts new players while old ones run
 * on (zombies), and lets time pass; `heal` then delivers everything in order with no more faults
 * until every shard holds the log filtered to it.
 */
import { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import { type LogRecord, type PlayerFrame, type ShardReply, shardOf } from "../../../apps/logplayer/core/items.ts";
import { PLAYER_DEFAULTS, type PlayerConfig, PlayerCore } from "../../../apps/logplayer/core/player-core.ts";
import { type Row, ShardCore, type ShardDurable } from "../../../apps/logplayer/core/shard-core.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import type { Prng } from "../../../verify/runtime/prng.ts";

type Msg =
  | { readonly to: "shard"; readonly shard: number; readonly epoch: number; readonly stream: number; readonly frame: PlayerFrame }
  | { readonly to: "player"; readonly shard: number; readonly epoch: number; readonly stream: number; readonly reply: ShardReply };

interface Disk extends ShardDurable {
  readonly rows: readonly Row[];
}

interface Shard {
  core: ShardCore;
  disk: Disk;
  syncs: number;
}

interface Player {
  readonly epoch: number;
  readonly core: PlayerCore;
  /** Index into the log of the next record the subscription offers (undefined: not started). */
  sub: number | undefined;
  /** Where its subscription started. */
  from: number | undefined;
  reads: { shard: number; id: number; from: number; to: number }[];
}

/** A key that routes to `shard` among `shards`. */
export function keyFor(shard: number, shards: number): Uint8Array {
  for (let i = 0; ; i++) {
    const k = new TextEncoder().encode(`key${i}`);
    if (shardOf(k, shards) === shard) return k;
  }
}

/** A log: position p goes to the shards `targets[p]` (none: a fill), its payload "e<p>". */
export function makeLog(targets: readonly (readonly number[])[], shards: number): LogRecord[] {
  const out: LogRecord[] = [];
  targets.forEach((t, position) => {
    if (t.length > 0) out.push({ position, keys: t.map((s) => keyFor(s, shards)), payload: new TextEncoder().encode(`e${position}`) });
  });
  return out;
}

const session = (epoch: number, stream: number) => epoch * 1_000_000 + stream;

export class Fleet {
  readonly observer: DeliveryObserver;
  readonly shards: Shard[];
  players: Player[] = [];
  net: Msg[] = [];
  now = 0;
  violations: string[] = [];
  private nextEpoch = 1;

  constructor(
    readonly log: readonly LogRecord[],
    readonly shardCount: number,
    private readonly tuning: Partial<PlayerConfig> = {},
  ) {
    this.observer = new DeliveryObserver(shardCount);
    for (const r of log) this.observer.logged(r);
    const empty: Disk = { applied: -1, epoch: 0, rows: [] };
    this.shards = Array.from({ length: shardCount }, () => ({ core: new ShardCore(empty, mintReceipt(0)), disk: empty, syncs: 0 }));
  }

  /** Start a player with the next epoch (the ones before run on). */
  startPlayer(): Player {
    const epoch = this.nextEpoch++;
    this.violations.push(...this.observer.claimed(epoch, `p${epoch}`));
    const config: PlayerConfig = { ...PLAYER_DEFAULTS, watermarkMs: 10, replyTimeoutMs: 100, reconnectMs: 5, startGraceMs: 20, trimEvery: 1, ...this.tuning, epoch, player: `p${epoch}`, group: "g", shards: this.shardCount };
    const p: Player = { epoch, core: new PlayerCore(config, this.now), sub: undefined, from: undefined, reads: [] };
    this.players.push(p);
    this.pump(p);
    return p;
  }

  crashPlayer(i: number): void {
    this.players.splice(i, 1);
  }

  /** The shard loses what it has not synced; its streams break (their players hear of it). */
  crashShard(s: number): void {
    const x = this.shards[s]!;
    x.core = new ShardCore(x.disk, mintReceipt(x.syncs));
    for (const p of this.players) {
      p.core.streamDown(s, p.core.streamOf(s), this.now);
      this.pump(p);
    }
  }

  /** Make shard `s`'s forming write durable. Returns false if it had none. */
  sync(s: number): boolean {
    const x = this.shards[s]!;
    const w = x.core.takeWrite();
    if (!w) return false;
    this.violations.push(...this.observer.durable(s, w));
    x.syncs++;
    x.disk = { applied: w.applied, epoch: w.epoch, ...(w.binding ? { binding: w.binding } : {}), rows: [...x.disk.rows, ...w.rows] };
    x.core.durable(mintReceipt(x.syncs));
    this.replies(s);
    return true;
  }

  /** Deliver message `i` of the network; `keep` leaves it there too (a duplicate). */
  deliver(i: number, keep = false): void {
    const m = this.net[i]!;
    if (!keep) this.net.splice(i, 1);
    if (m.to === "player") {
      const p = this.players.find((x) => x.epoch === m.epoch);
      if (!p) return;
      p.core.onReply(m.shard, m.stream, m.reply, this.now);
      this.pump(p);
      return;
    }
    const x = this.shards[m.shard]!;
    const before = x.core.applied;
    const epoch = x.core.epoch;
    x.core.receive(session(m.epoch, m.stream), m.frame);
    if (m.frame.kind === "batch") this.violations.push(...this.observer.batch(m.shard, epoch, m.frame.epoch, before, x.core.applied));
    this.replies(m.shard);
  }

  /** Answer player `p`'s re-read `r`. */
  answerRead(p: Player, r: number): void {
    const q = p.reads.splice(r, 1)[0]!;
    p.core.reread(q.shard, q.id, this.log.filter((x) => x.position >= q.from && x.position < q.to));
    this.pump(p);
  }

  /** The subscription offers player `p` its next record. */
  offer(p: Player): void {
    p.core.offer(this.log[p.sub!]!);
    p.sub!++;
    this.pump(p);
  }

  /** Let virtual time pass to `at`, waking every player. */
  advance(at: number): void {
    this.now = Math.max(this.now, at);
    for (const p of [...this.players]) this.pump(p);
  }

  /** A random schedule of `steps` steps with faults (rates in [0, 1]). */
  chaos(rng: Prng, steps: number, faults: { lose: number; duplicate: number; crashShard: number; crashPlayer: number; newPlayer: number }): void {
    for (let k = 0; k < steps; k++) {
      const roll = rng.float();
      if (roll < faults.crashShard) this.crashShard(rng.int(this.shardCount));
      else if (roll < faults.crashShard + faults.crashPlayer && this.players.length > 0) this.crashPlayer(rng.int(this.players.length));
      else if (roll < faults.crashShard + faults.crashPlayer + faults.newPlayer || this.players.length === 0) this.startPlayer();
      else this.anyStep(rng, faults);
    }
  }

  /** Deliver in order, sync, offer and answer reads, advancing time when idle, until every shard
   *  holds the log (true) or `stepsMax` steps passed (false). */
  heal(stepsMax: number): boolean {
    for (let k = 0; k < stepsMax; k++) {
      if (this.players.length === 0) this.startPlayer();
      if (this.observer.caughtUp() && this.net.length === 0) return true;
      if (this.net.length > 0) this.deliver(0);
      else if (this.shards.some((_, s) => this.sync(s))) continue;
      else if (this.players.some((p) => p.reads.length > 0)) {
        const p = this.players.find((x) => x.reads.length > 0)!;
        this.answerRead(p, 0);
      } else if (this.players.some((p) => p.sub !== undefined && p.sub < this.log.length)) this.offer(this.players.find((p) => p.sub !== undefined && p.sub < this.log.length)!);
      else {
        const next = Math.min(...this.players.map((p) => p.core.nextWakeup() ?? Number.POSITIVE_INFINITY));
        if (!Number.isFinite(next)) return this.observer.caughtUp();
        this.advance(next);
      }
    }
    return false;
  }

  /** What shard `s` holds on disk. */
  rows(s: number): readonly Row[] {
    return this.shards[s]!.disk.rows;
  }

  private anyStep(rng: Prng, faults: { lose: number; duplicate: number }): void {
    const choice = rng.int(5);
    if (choice === 0 && this.net.length > 0) {
      const i = rng.int(this.net.length);
      if (rng.chance(faults.lose)) this.net.splice(i, 1);
      else this.deliver(i, rng.chance(faults.duplicate));
    } else if (choice === 1) this.sync(rng.int(this.shardCount));
    else if (choice === 2 && this.players.length > 0) {
      const p = this.players[rng.int(this.players.length)]!;
      if (p.reads.length > 0) this.answerRead(p, rng.int(p.reads.length));
      else if (p.sub !== undefined && p.sub < this.log.length) this.offer(p);
    } else if (choice === 3) this.advance(this.now + rng.int(40));
    else if (this.net.length > 0) this.deliver(0);
  }

  private replies(s: number): void {
    for (const r of this.shards[s]!.core.takeReplies()) {
      this.net.push({ to: "player", shard: s, epoch: Math.floor(r.session / 1_000_000), stream: r.session % 1_000_000, reply: r.reply });
    }
  }

  /** Take player `p`'s outputs into the network and the observer. */
  private pump(p: Player): void {
    if (!this.players.includes(p)) return;
    const out = p.core.takeOutputs(this.now);
    for (const x of out.sends) this.net.push({ to: "shard", shard: x.shard, epoch: p.epoch, stream: x.stream, frame: x.frame });
    p.reads.push(...out.reads);
    if (out.subscribe !== undefined) {
      const k = this.log.findIndex((r) => r.position >= out.subscribe!);
      p.sub = k < 0 ? this.log.length : k;
      p.from = out.subscribe;
    }
    if (out.trim !== undefined) this.violations.push(...this.observer.trimmed(out.trim));
    for (const a of out.acks) this.violations.push(...this.observer.acked(`p${p.epoch}`, a.shard, a.applied));
    if (out.stopped) this.players.splice(this.players.indexOf(p), 1);
  }
}
