/**
 * One shard of the KV world's partition (worlds/kv-shard.ts) and the line of LogPlayer players that
 * deliver the partition's log to it (worlds/logplayer-player.ts: the real `PlayerCore`, its epoch
 * claimed with the real `claimEpoch`), as a KV node runs its own player for its own shard
 * (apps/kv/node/kv-node.ts). Each shard's players claim epochs of the one player group, all naming
 * the same single shard (the group's binding), so every line delivers the whole log, and a line's
 * newer player fences its older ones at its shard.
 *
 * Frames and replies go on the player's stream or, at random, as datagrams (lost, duplicated,
 * reordered), sometimes twice. Faults: the shard crashes (and restarts from its disk later), the
 * player crashes (a new one claims the next epoch later) or freezes (a zombie: a new one takes over
 * at once; it thaws later and is fenced), a stream breaks. Checked with a `DeliveryObserver` of its
 * own (in order, exactly once, monotone, acks sound, fencing, epochs unique; complete at the end).
 */
import { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import type { PlayerFrame, ShardReply } from "../../../apps/logplayer/core/items.ts";
import type { ReadConfig } from "../../../apps/log/core/read.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { KvWorldOptions } from "./kv-options.ts";
import { type KvShardHost, SimKvShard } from "./kv-shard.ts";
import { type PlayerHost, SimPlayer } from "./logplayer-player.ts";

/** What a delivery needs of the world. */
export interface DeliveryHost {
  readonly k: Kernel;
  readonly o: KvWorldOptions;
  readonly readCfg: ReadConfig;
  /** Appends are over for good (healed, nothing pending). */
  appendsOver(): boolean;
  /** One past the last entry chosen in the log. */
  readonly logEnd: number;
  /** `shard` applied a write in memory. */
  applied(shard: SimKvShard): void;
}

/** The one shard every player of the group names: each line's own shard. */
const SHARD_NAMES = ["kv"] as const;

/** How long a fault lasts, at most: a shard down, a player frozen, a crashed player's successor's start. */
const FAULT_MS_MAX = 300;

interface Session {
  readonly player: SimPlayer;
  readonly stream: number;
}

export class Delivery implements PlayerHost, KvShardHost {
  readonly observer = new DeliveryObserver(1);
  readonly shardNames = SHARD_NAMES;
  readonly shard: SimKvShard;
  private readonly players: SimPlayer[] = [];
  private readonly sessions = new Map<number, Session>();
  /** Player → its open session to the shard. */
  private readonly sessionOf = new Map<SimPlayer, number>();
  private nextSession = 1;

  constructor(
    private readonly w: DeliveryHost,
    readonly index: number,
  ) {
    this.shard = new SimKvShard(`s${index}`, this);
  }

  get k(): Kernel {
    return this.w.k;
  }
  get o(): KvWorldOptions {
    return this.w.o;
  }
  get readCfg(): ReadConfig {
    return this.w.readCfg;
  }
  get logEnd(): number {
    return this.w.logEnd;
  }
  appendsOver(): boolean {
    return this.w.appendsOver();
  }
  /** Is `p` one of this line's players? */
  plays(p: SimProcess): boolean {
    return this.players.some((x) => x.proc === p);
  }

  // ---- PlayerHost. ----
  open(player: SimPlayer, _shard: number, stream: number): void {
    const session = this.nextSession++;
    this.sessions.set(session, { player, stream });
    this.sessionOf.set(player, session);
  }

  send(player: SimPlayer, _shard: number, stream: number, frame: PlayerFrame): void {
    const session = this.sessionOf.get(player);
    if (session === undefined || this.sessions.get(session)?.stream !== stream) return;
    this.transmit(player.name, this.shard.name, `${frame.kind}@${session}`, () => this.shard.receive(session, frame));
  }

  close(player: SimPlayer, _shard: number, stream: number): void {
    const session = this.sessionOf.get(player);
    if (session === undefined || this.sessions.get(session)?.stream !== stream) return;
    this.sessions.delete(session);
    this.sessionOf.delete(player);
  }

  // ---- KvShardHost. ----
  tailLearned(tail: number): void {
    for (const p of this.players) p.tailLearned(tail);
  }

  reply(session: number, reply: ShardReply): void {
    const s = this.sessions.get(session);
    // A stream that was given up or broke takes no replies.
    if (!s) return;
    this.transmit(this.shard.name, s.player.name, `${reply.kind}@${session}`, () => {
      if (this.sessions.get(session) === s) s.player.reply(0, s.stream, reply);
    });
  }

  applied(shard: SimKvShard): void {
    this.w.applied(shard);
  }

  /** A frame or reply: on its stream, or (sometimes) as a datagram; sometimes twice. */
  private transmit(from: string, to: string, desc: string, deliver: () => void): void {
    const f = this.o.faults;
    const faulty = !this.k.healed;
    this.k.message(from, to, desc, deliver, !(faulty && this.k.prng.chance(f.frameDisorder)));
    if (faulty && this.k.prng.chance(f.frameDuplicate)) this.k.message(from, to, `${desc} again`, deliver, false);
  }

  // ---- Faults. ----
  /** A link a partition may cut: a live player of this line and its shard. */
  link(): readonly [string, string] | undefined {
    const live = this.players.filter((p) => p.alive);
    return live.length > 0 ? [this.k.prng.pick(live).name, this.shard.name] : undefined;
  }

  faults(): void {
    const f = this.o.faults;
    const k = this.k;
    if (this.shard.up && k.prng.chance(f.shardCrash)) {
      probe("kv.shard.crash");
      this.shard.crash();
      this.breakStreams(() => true);
      k.later(20 + k.prng.int(FAULT_MS_MAX), () => this.shard.restart());
    }
    const newest = this.players[this.players.length - 1];
    if (newest?.alive && !newest.frozen) {
      if (k.prng.chance(f.playerCrash)) {
        probe("kv.player.crash");
        k.procs.kill(newest.proc);
        this.breakStreams((s) => s.player === newest);
        k.later(20 + k.prng.int(FAULT_MS_MAX), () => this.startPlayer());
      } else if (newest.core && k.prng.chance(f.playerFreeze)) {
        probe("kv.player.freeze");
        newest.freeze(100 + k.prng.int(FAULT_MS_MAX));
        this.startPlayer();
      }
    }
    if (this.sessions.size > 0 && k.prng.chance(f.streamBreak)) {
      const session = k.prng.pick([...this.sessions.keys()]);
      this.breakStreams((_, id) => id === session);
    }
  }

  healed(): void {
    this.shard.restart();
    for (const p of this.players) p.thaw();
    this.startPlayer();
  }

  /** A new player (the next epoch), unless the newest one plays on (neither dead, stopped nor frozen). */
  startPlayer(): void {
    const newest = this.players[this.players.length - 1];
    if (newest?.alive && !newest.frozen) return;
    this.players.push(new SimPlayer(this, `pl${this.index}.${this.players.length + 1}`));
  }

  /** The streams `which` picks break: their sessions end, and each player hears of it soon. */
  private breakStreams(which: (s: Session, id: number) => boolean): void {
    for (const [id, s] of [...this.sessions]) {
      if (!which(s, id)) continue;
      this.sessions.delete(id);
      this.sessionOf.delete(s.player);
      this.k.later(1 + this.k.prng.int(5), () => s.player.streamDown(0, s.stream));
    }
  }
}
