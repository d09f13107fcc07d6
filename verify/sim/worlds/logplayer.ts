/**
 * The LogPlayer world (docs/ARCHITECTURE.md §4.4, §5): the whole shared-log world (worlds/log.ts:
 * the real sequencer and appenders over the real acceptors, with every fault of its own) runs
 * inside it and makes the log; storage shards (worlds/logplayer-shard.ts: the real `ShardCore` over
 * a simulated store that persists before it replies) and players (worlds/logplayer-player.ts: the
 * real `PlayerCore`, its epoch claimed with the real `claimEpoch` over the simulated acceptors, its
 * subscription and re-reads the log's own reads) deliver it.
 *
 * Delivery frames and replies travel on the player's stream to the shard (ordered, lossy) or, at
 * random, as datagrams (lost, duplicated, reordered), sometimes twice. Faults besides the log
 * world's and the kernel's: streams break (both ends notice; frames in flight may still land),
 * shards crash (the write in flight lost) and restart from their disk, the player crashes (a new
 * player claims the next epoch), the player freezes (a zombie: a new player takes over at once; the
 * old one thaws later and must be fenced), partitions between a player and a shard.
 *
 * Checks with the `DeliveryObserver` (apps/logplayer/core/invariants.ts), fed with the log's entries
 * as they become chosen at a quorum: every durable shard write (in order, exactly once; applied
 * monotone), every batch (a fenced epoch applies nothing), every ack a player takes (sound), every
 * trim (below what every shard made durable; trims are checked, not applied: the log world's own
 * final reads read the whole log), every epoch claimed (unique). After the heal, liveness: every
 * shard holds exactly the log filtered to it; and the log world's own end checks.
 */
import { DeliveryObserver, filteredLog } from "../../../apps/logplayer/core/invariants.ts";
import { type LogRecord, type PlayerFrame, type ShardReply, logRecordOf, offeredRecord } from "../../../apps/logplayer/core/items.ts";
import { slotRead } from "../../../apps/log/core/read.ts";
import type { Mutation } from "../../../paxos/messages.ts";
import { spaceSetup } from "../../../wor/core/space-meta.ts";
import type { Step } from "../../../wor/core/steps.ts";
import type { ReadConfig } from "../../../apps/log/core/read.ts";
import { bytesEqual } from "../../runtime/bytes.ts";
import { probe } from "../../runtime/probe.ts";
import type { SimAcceptor } from "../kernel/acceptor.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { World, WorldDef } from "../kernel/world.ts";
import { ChosenSlots } from "./log-chosen.ts";
import { logWorld } from "./log.ts";
import { LOG_NAME } from "./log-sequencer.ts";
import { LOGPLAYER_WORLD_DEFAULTS, type LogPlayerWorldOptions, PLAYER_GROUP } from "./logplayer-options.ts";
import { type PlayerHost, SimPlayer } from "./logplayer-player.ts";
import { type ShardHost, SimShard } from "./logplayer-shard.ts";

export const logPlayerWorld: WorldDef<LogPlayerWorldOptions> = {
  layer: "logplayer",
  title: "LogPlayer delivering the shared log to shards: stream faults, shard and player crashes, zombies",
  defaults: LOGPLAYER_WORLD_DEFAULTS,
  buggifySalt: 0x2545f491,
  setup: (o) => [...logWorld.setup(o), ...spaceSetup(PLAYER_GROUP, { kind: "logplayer", segmentSize: o.segmentSize })],
  create: (kernel, o) => new LogPlayerWorld(kernel, o),
};

/** A delivery stream: which player's stream to which shard. */
interface Session {
  readonly player: SimPlayer;
  readonly shard: number;
  readonly stream: number;
}

/** How long a fault lasts, at most: a shard down, a player frozen, a crashed player's successor's start. */
const FAULT_MS_MAX = 300;

class LogPlayerWorld implements World, PlayerHost, ShardHost {
  readonly observer: DeliveryObserver;
  readonly shards: SimShard[];
  readonly shardNames: string[];
  readonly readCfg: ReadConfig;
  private readonly log: World;
  private readonly chosen: ChosenSlots;
  /** The log's entries chosen so far, by position. */
  private readonly records = new Map<number, LogRecord>();
  private readonly players: SimPlayer[] = [];
  private readonly sessions = new Map<number, Session>();
  /** Player → shard → its open session. */
  private readonly streamsOf = new Map<SimPlayer, Map<number, number>>();
  private nextSession = 1;
  /** One past the last entry chosen. */
  private end = 0;

  constructor(
    readonly k: Kernel,
    readonly o: LogPlayerWorldOptions,
  ) {
    this.log = logWorld.create(k, o);
    this.observer = new DeliveryObserver(o.shards);
    this.chosen = new ChosenSlots(LOG_NAME, k.quorum);
    this.shardNames = Array.from({ length: o.shards }, (_, s) => `s${s}`);
    this.shards = this.shardNames.map((name, s) => new SimShard(s, name, this));
    this.readCfg = { log: LOG_NAME, segmentSize: o.segmentSize, holeTimeoutMs: 150, pollMs: 20, readChunkMax: 32, retryMs: 20 };
  }

  get pending(): number {
    return this.log.pending;
  }
  get operations(): number {
    return this.log.operations;
  }

  begin(): void {
    this.log.begin();
    this.startPlayer();
  }

  final(): void {
    this.log.final();
  }

  /** The log world's end checks; every shard holds exactly the log filtered to it. */
  finish(): readonly string[] {
    const bad = [...this.log.finish(), ...this.observer.complete()];
    for (const shard of this.shards) {
      const want = filteredLog([...this.records.values()].sort((a, b) => a.position - b.position), shard.index, this.o.shards);
      const rows = shard.rows;
      const same = rows.length === want.length && rows.every((r, i) => r.position === want[i]!.position && bytesEqual(r.data, want[i]!.payload));
      if (!same) bad.push(`${shard.name} holds rows at ${rows.map((r) => r.position).join(",")}, not the log's entries for it at ${want.map((r) => r.position).join(",")}`);
    }
    if (bad.length === 0) this.k.outcome("delivered:complete");
    return bad;
  }

  // ---- PlayerHost. ----
  appendsOver(): boolean {
    return this.k.healed && this.log.pending === 0;
  }
  get logEnd(): number {
    return this.end;
  }

  open(player: SimPlayer, shard: number, stream: number): void {
    const session = this.nextSession++;
    this.sessions.set(session, { player, shard, stream });
    let mine = this.streamsOf.get(player);
    if (!mine) this.streamsOf.set(player, (mine = new Map()));
    mine.set(shard, session);
  }

  send(player: SimPlayer, shard: number, stream: number, frame: PlayerFrame): void {
    const session = this.streamsOf.get(player)?.get(shard);
    if (session === undefined || this.sessions.get(session)?.stream !== stream) return;
    const to = this.shards[shard]!;
    this.transmit(player.name, to.name, `${frame.kind}@${session}`, () => to.receive(session, frame));
  }

  close(player: SimPlayer, shard: number, stream: number): void {
    const mine = this.streamsOf.get(player);
    const session = mine?.get(shard);
    if (session === undefined || this.sessions.get(session)?.stream !== stream) return;
    this.sessions.delete(session);
    mine!.delete(shard);
  }

  // ---- ShardHost. ----
  reply(shard: SimShard, session: number, reply: ShardReply): void {
    const s = this.sessions.get(session);
    // A stream that was given up or broke takes no replies.
    if (!s) return;
    this.transmit(shard.name, s.player.name, `${reply.kind}@${session}`, () => {
      if (this.sessions.get(session) === s) s.player.reply(s.shard, s.stream, reply);
    });
  }

  /** A frame or reply: on its stream, or (sometimes) as a datagram; sometimes twice. */
  private transmit(from: string, to: string, desc: string, deliver: () => void): void {
    const f = this.o.faults;
    const faulty = !this.k.healed;
    this.k.message(from, to, desc, deliver, !(faulty && this.k.prng.chance(f.frameDisorder)));
    if (faulty && this.k.prng.chance(f.frameDuplicate)) {
      probe("logplayer.net.duplicated");
      this.k.message(from, to, `${desc} again`, deliver, false);
    }
  }

  // ---- Hooks. ----
  step(p: SimProcess, id: number, step: Step): boolean {
    return this.log.step?.(p, id, step) ?? false;
  }

  answered(p: SimProcess, step: Step, result: unknown): void {
    if (!this.players.some((x) => x.proc === p)) this.log.answered?.(p, step, result);
  }

  synced(a: SimAcceptor, durable: readonly Mutation[]): void {
    this.log.synced?.(a, durable);
    for (const v of this.chosen.add(a.id, durable)) {
      const read = slotRead(v.slot, v.value);
      // A fill is a record for no shard: watermarks may carry a shard past it.
      if (read.ok && read.value.kind === "fill") this.observer.logged(offeredRecord(read.value));
      if (!read.ok || read.value.kind !== "entry" || this.records.has(v.slot)) continue;
      const record = logRecordOf(v.slot, read.value.entry);
      this.records.set(v.slot, record);
      this.end = Math.max(this.end, v.slot + 1);
      this.observer.logged(record);
    }
  }

  /** A partition: 30% between a player and a shard, else what the log world cuts. */
  link(): readonly [string, string] | undefined {
    const live = this.players.filter((p) => p.alive);
    if (live.length > 0 && this.k.prng.chance(0.3)) return [this.k.prng.pick(live).name, this.k.prng.pick(this.shardNames)];
    return this.log.link?.();
  }

  faults(): void {
    this.log.faults?.();
    const f = this.o.faults;
    const k = this.k;
    const up = this.shards.filter((s) => s.up);
    if (up.length > 0 && k.prng.chance(f.shardCrash)) {
      const shard = k.prng.pick(up);
      probe("logplayer.shard.crash");
      shard.crash();
      this.breakStreams((s) => s.shard === shard.index);
      k.later(20 + k.prng.int(FAULT_MS_MAX), () => shard.restart());
    }
    const newest = this.players[this.players.length - 1];
    if (newest?.alive && !newest.frozen) {
      // A crash may come while the player still claims its epoch (its allocation may land or not).
      if (k.prng.chance(f.playerCrash)) {
        probe(newest.core ? "logplayer.player.crash" : "logplayer.player.crashClaiming");
        k.procs.kill(newest.proc);
        this.breakStreams((s) => s.player === newest);
        k.later(20 + k.prng.int(FAULT_MS_MAX), () => this.startPlayer());
      } else if (newest.core && k.prng.chance(f.playerFreeze)) {
        probe("logplayer.player.freeze");
        newest.freeze(100 + k.prng.int(FAULT_MS_MAX));
        this.startPlayer();
      }
    }
    if (this.sessions.size > 0 && k.prng.chance(f.streamBreak)) {
      const session = k.prng.pick([...this.sessions.keys()]);
      probe("logplayer.stream.broken");
      this.breakStreams((_, id) => id === session);
    }
  }

  healed(): void {
    this.log.healed?.();
    for (const s of this.shards) s.restart();
    for (const p of this.players) p.thaw();
    this.startPlayer();
  }

  /** A new player (the next epoch), unless the newest one plays on (neither dead, stopped nor frozen). */
  private startPlayer(): void {
    const newest = this.players[this.players.length - 1];
    if (newest?.alive && !newest.frozen) return;
    this.players.push(new SimPlayer(this, `pl${this.players.length + 1}`));
  }

  /** The streams `which` picks break: their sessions end, and each player hears of it soon. */
  private breakStreams(which: (s: Session, id: number) => boolean): void {
    for (const [id, s] of [...this.sessions]) {
      if (!which(s, id)) continue;
      this.sessions.delete(id);
      this.streamsOf.get(s.player)?.delete(s.shard);
      this.k.later(1 + this.k.prng.int(5), () => s.player.streamDown(s.shard, s.stream));
    }
  }
}
