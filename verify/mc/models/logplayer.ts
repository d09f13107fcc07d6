/**
 * The LogPlayer model (docs/ARCHITECTURE.md §4.4, §5; apps/logplayer/README.md): the real delivery
 * cores, exhaustively. Shards run `ShardCore` over a disk the model keeps (a `sync` makes the
 * forming write durable; a crash loses what was not synced and breaks every stream to the shard);
 * players run `PlayerCore` over a fixed log, its subscription and its re-reads answered by the
 * model. The first player holds epoch 1; a new player may start at any time with the next epoch
 * while the old one runs on (a zombie) or after it crashed.
 *
 * Network: the set of messages ever sent, as in the register model: any frame or reply may arrive
 * any number of times, in any order, or never (loss, duplication, reordering, and late delivery
 * from a stream long given up). Streams break (a shard crash, or the network), and players notice
 * later; a player may give up any stream as overdue. Time does not pass: reconnects, watermarks and
 * the subscription's start are immediate, and replies are overdue only by the `timeout` action.
 *
 * Checked in every state (core/invariants.ts, the same observer as the simulator's): per shard the
 * durable rows are a prefix of the log filtered to it; durable applied positions never decrease;
 * no player holds an applied position above the shard's durable one; no shard applies items of a
 * batch below its epoch; the log is trimmed only below what every shard has durably applied.
 */
import { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import { PLAYER_DEFAULTS, PlayerCore, type PlayerOutputs } from "../../../apps/logplayer/core/player-core.ts";
import { ShardCore } from "../../../apps/logplayer/core/shard-core.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import { assert } from "../../runtime/assert.ts";
import type { Model } from "../engine.ts";
import {
  EV,
  LOGPLAYER_MODEL_DEFAULTS,
  type LogPlayerModelOptions,
  type LpAction,
  type LpState,
  type Msg,
  type PlayerSlot,
  type ShardSlot,
  encodeState,
  modelLog,
  channelOf,
} from "./logplayer-state.ts";

const GROUP = "group";
const NEVER = 1e15;
const sessionOf = (epoch: number, stream: number): number => epoch * 1_000 + stream;
const streamKey = (epoch: number, shard: number, stream: number): string => `${epoch}/${shard}/${stream}`;

/** A transition under way: copies of what it changes. */
interface Step {
  players: PlayerSlot[];
  shards: ShardSlot[];
  net: Map<string, readonly Msg[]>;
  broken: Set<string>;
  observer: DeliveryObserver;
  events: number;
  bad: string[];
}

export function logPlayerModel(options: Partial<LogPlayerModelOptions> = {}): Model<LpState, LpAction> & { readonly options: LogPlayerModelOptions } {
  const o: LogPlayerModelOptions = { ...LOGPLAYER_MODEL_DEFAULTS, ...options };
  assert(o.players >= 1 && o.shards >= 1 && o.log.length >= 1, "the model needs a player, a shard and a log");
  const log = modelLog(o);
  const config = (epoch: number) => ({
    ...PLAYER_DEFAULTS,
    epoch,
    player: `p${epoch}`,
    group: GROUP,
    shards: o.shards,
    windowMax: o.windowMax,
    queueMax: o.queueMax,
    readChunkMax: o.readChunkMax,
    watermarkMs: 0,
    replyTimeoutMs: NEVER,
    reconnectMs: 0,
    startGraceMs: 0,
    trimEvery: 1,
  });

  const begin = (s: LpState): Step => ({
    players: [...s.players],
    shards: [...s.shards],
    net: s.net as Map<string, readonly Msg[]>,
    broken: s.broken as Set<string>,
    observer: s.observer,
    events: 0,
    bad: [],
  });
  /** Copy-on-write changes to the network. */
  const send = (c: Step, m: Msg): void => {
    const k = channelOf(m);
    c.net = new Map(c.net).set(k, [...(c.net.get(k) ?? []), m]);
  };
  /** Take message `at` (0: the first) off `channel`; `keep` leaves it there (a duplicate). */
  const take = (c: Step, channel: string, at: number, keep: boolean): Msg => {
    const ms = c.net.get(channel)!;
    const m = ms[at]!;
    if (keep) return m;
    c.net = new Map(c.net);
    if (ms.length > 1) c.net.set(channel, ms.filter((_, i) => i !== at));
    else c.net.delete(channel);
    return m;
  };
  /** Replies nobody will ever read (their player is gone, or has moved to a later stream) leave the network. */
  const prune = (c: Step): void => {
    let pruned: Map<string, readonly Msg[]> | undefined;
    for (const [k, ms] of c.net) {
      const m = ms[0]!;
      if (m.kind !== "toPlayer") continue;
      const p = c.players.find((x) => x.epoch === m.epoch);
      const current = p?.core.streamOf(m.shard);
      if (p && (m.stream > current! || (m.stream === current && p.core.streamOpen(m.shard)))) continue;
      pruned ??= new Map(c.net);
      pruned.delete(k);
    }
    if (pruned) c.net = pruned;
  };
  const observer = (c: Step): DeliveryObserver => (c.observer = c.observer.clone());

  /** Feed player `i` through `f` (on a copy), then take its outputs. */
  const withPlayer = (c: Step, i: number, f: (core: PlayerCore, slot: PlayerSlot) => Partial<PlayerSlot> | undefined): void => {
    const slot = c.players[i]!;
    const core = slot.core.clone();
    const changed = f(core, slot) ?? {};
    const out = core.takeOutputs(0);
    c.players[i] = { ...slot, ...changed, core };
    drain(c, i, out);
  };

  const drain = (c: Step, i: number, out: PlayerOutputs): void => {
    const slot = c.players[i]!;
    const { epoch } = slot;
    for (const x of out.sends) send(c, { kind: "toShard", shard: x.shard, epoch, stream: x.stream, frame: x.frame });
    let reads = slot.reads;
    if (out.reads.length > 0) {
      reads = [...reads, ...out.reads];
      c.events |= EV.reread;
    }
    let sub = slot.sub;
    if (out.subscribe !== undefined) {
      const k = log.findIndex((r) => r.position >= out.subscribe!);
      sub = k < 0 ? log.length : k;
    }
    if (out.trim !== undefined) {
      c.bad.push(...c.observer.trimmed(out.trim));
      c.events |= EV.trimmed;
    }
    for (const a of out.acks) c.bad.push(...c.observer.acked(`p${epoch}`, a.shard, a.applied));
    c.players[i] = { ...slot, reads, sub };
    if (out.stopped) {
      if (out.stopped.reason === "fenced") c.events |= EV.fenced;
      else c.bad.push(`player p${epoch} was refused: ${out.stopped.message}`);
      c.players.splice(i, 1);
    }
  };

  /** Take shard `i`'s released replies into the network. */
  const replies = (c: Step, i: number, core: ShardCore): void => {
    for (const r of core.takeReplies()) {
      const epoch = Math.floor(r.session / 1_000);
      send(c, { kind: "toPlayer", shard: i, epoch, stream: r.session % 1_000, reply: r.reply });
    }
  };

  const newPlayer = (epoch: number): PlayerSlot => ({ epoch, core: new PlayerCore(config(epoch), 0), sub: undefined, reads: [] });

  const init = (): LpState => {
    const observer = new DeliveryObserver(o.shards);
    for (const r of log) observer.logged(r);
    const empty = { applied: -1, epoch: 0 };
    const s: LpState = {
      players: [],
      nextEpoch: 2,
      shards: Array.from({ length: o.shards }, () => ({ core: new ShardCore(empty, mintReceipt(0)), disk: empty, syncs: 0 })),
      net: new Map(),
      broken: new Set(),
      playerCrashesLeft: o.playerCrashes,
      shardCrashesLeft: o.shardCrashes,
      breaksLeft: o.streamBreaks,
      lossesLeft: o.losses,
      duplicatesLeft: o.duplicates,
      reordersLeft: o.reorders,
      timeoutsLeft: o.timeouts,
      observer,
      events: 0,
    };
    const c = begin(s);
    c.players.push(newPlayer(1));
    withPlayer(c, 0, () => undefined);
    return { ...s, players: c.players, net: c.net };
  };

  const next = (s: LpState, a: LpAction): LpState | undefined => {
    const c = begin(s);
    let { nextEpoch, playerCrashesLeft, shardCrashesLeft, breaksLeft, lossesLeft, duplicatesLeft, reordersLeft, timeoutsLeft } = s;
    switch (a.kind) {
      case "lose":
        take(c, a.channel, 0, false);
        lossesLeft--;
        break;
      case "deliver":
      case "duplicate":
      case "reorder": {
        if (a.kind === "duplicate") duplicatesLeft--;
        if (a.kind === "reorder") reordersLeft--;
        const m = take(c, a.channel, a.kind === "reorder" ? 1 : 0, a.kind === "duplicate");
        if (m.kind === "toPlayer") {
          const i = c.players.findIndex((p) => p.epoch === m.epoch);
          assert(i >= 0, "a reply to a player that is gone was left in the network");
          withPlayer(c, i, (core) => void core.onReply(m.shard, m.stream, m.reply, 0));
          break;
        }
        const slot = c.shards[m.shard]!;
        const core = slot.core.clone();
        const before = core.applied;
        const epochBefore = core.epoch;
        const counters = { ...core.counters };
        core.receive(sessionOf(m.epoch, m.stream), m.frame);
        if (m.frame.kind === "batch") c.bad.push(...c.observer.batch(m.shard, epochBefore, m.frame.epoch, before, core.applied));
        if (core.counters.duplicates > counters.duplicates) c.events |= EV.duplicate;
        if (core.counters.rewinds > counters.rewinds) c.events |= EV.rewound;
        if (core.counters.watermarks > counters.watermarks) c.events |= EV.watermark;
        if (core.counters.fenced > counters.fenced && m.frame.kind === "batch") c.events |= EV.zombieBatchRefused;
        c.shards[m.shard] = { ...slot, core };
        replies(c, m.shard, core);
        break;
      }
      case "sync": {
        const slot = c.shards[a.shard]!;
        const core = slot.core.clone();
        const w = core.takeWrite();
        if (!w) return undefined;
        c.bad.push(...observer(c).durable(a.shard, w));
        core.durable(mintReceipt(slot.syncs + 1));
        c.shards[a.shard] = { core, disk: { applied: w.applied, epoch: w.epoch, ...(w.binding ? { binding: w.binding } : {}) }, syncs: slot.syncs + 1 };
        replies(c, a.shard, core);
        break;
      }
      case "crashShard": {
        const slot = c.shards[a.shard]!;
        if (slot.core.writing || slot.core.applied !== slot.disk.applied) c.events |= EV.shardLostWrite;
        c.shards[a.shard] = { ...slot, core: new ShardCore(slot.disk, mintReceipt(slot.syncs)) };
        c.broken = new Set(c.broken);
        for (const p of c.players) if (p.core.streamOpen(a.shard)) c.broken.add(streamKey(p.epoch, a.shard, p.core.streamOf(a.shard)));
        shardCrashesLeft--;
        break;
      }
      case "offer":
        withPlayer(c, a.player, (core, slot) => {
          core.offer(log[slot.sub!]!);
          return { sub: slot.sub! + 1 };
        });
        break;
      case "answerRead":
        withPlayer(c, a.player, (core, slot) => {
          const r = slot.reads[a.read]!;
          core.reread(r.shard, r.id, log.filter((x) => x.position >= r.from && x.position < r.to));
          return { reads: slot.reads.filter((_, k) => k !== a.read) };
        });
        break;
      case "noticeBreak": {
        const [epoch, shard, stream] = a.stream.split("/").map(Number) as [number, number, number];
        c.broken = new Set(c.broken);
        c.broken.delete(a.stream);
        const i = c.players.findIndex((p) => p.epoch === epoch);
        if (i >= 0) withPlayer(c, i, (core) => void core.streamDown(shard, stream, 0));
        break;
      }
      case "breakStream": {
        const p = c.players[a.player]!;
        c.broken = new Set(c.broken).add(streamKey(p.epoch, a.shard, p.core.streamOf(a.shard)));
        breaksLeft--;
        break;
      }
      case "timeout":
        withPlayer(c, a.player, (core) => void core.timeout(a.shard, 0));
        timeoutsLeft--;
        break;
      case "crashPlayer":
        c.players.splice(a.player, 1);
        playerCrashesLeft--;
        break;
      case "startPlayer":
        c.players.push(newPlayer(nextEpoch++));
        withPlayer(c, c.players.length - 1, () => undefined);
        break;
    }
    prune(c);
    const next: LpState = {
      players: c.players,
      nextEpoch,
      shards: c.shards,
      net: c.net,
      broken: c.broken,
      playerCrashesLeft,
      shardCrashesLeft,
      breaksLeft,
      lossesLeft,
      duplicatesLeft,
      reordersLeft,
      timeoutsLeft,
      observer: c.observer,
      events: c.events,
      ...(c.bad.length > 0 ? { bad: c.bad.join("; ") } : {}),
    };
    return next;
  };

  const ev = (bit: number) => (s: LpState) => (s.events & bit) !== 0;
  return {
    options: o,
    init: () => [init()],
    actions(s) {
      const out: LpAction[] = [];
      for (const [channel, ms] of s.net) {
        out.push({ kind: "deliver", channel });
        if (s.lossesLeft > 0) out.push({ kind: "lose", channel });
        if (s.duplicatesLeft > 0) out.push({ kind: "duplicate", channel });
        if (s.reordersLeft > 0 && ms.length > 1) out.push({ kind: "reorder", channel });
      }
      s.shards.forEach((x, i) => {
        if (x.core.dirty) out.push({ kind: "sync", shard: i });
        if (s.shardCrashesLeft > 0) out.push({ kind: "crashShard", shard: i });
      });
      s.players.forEach((p, i) => {
        if (p.sub !== undefined && p.sub < log.length) out.push({ kind: "offer", player: i });
        p.reads.forEach((_, r) => void out.push({ kind: "answerRead", player: i, read: r }));
        for (let sh = 0; sh < o.shards; sh++) {
          const open = p.core.streamOpen(sh);
          if (open && s.breaksLeft > 0) out.push({ kind: "breakStream", player: i, shard: sh });
          if (open && s.timeoutsLeft > 0) out.push({ kind: "timeout", player: i, shard: sh });
        }
        if (s.playerCrashesLeft > 0) out.push({ kind: "crashPlayer", player: i });
      });
      for (const b of s.broken) out.push({ kind: "noticeBreak", stream: b });
      if (s.nextEpoch <= o.players) out.push({ kind: "startPlayer" });
      return out;
    },
    next,
    encode: encodeState,
    formatAction(a) {
      switch (a.kind) {
        case "deliver":
        case "lose":
        case "duplicate":
        case "reorder":
          return `${a.kind} on ${a.channel}`;
        case "sync":
        case "crashShard":
          return `${a.kind} shard ${a.shard}`;
        case "offer":
        case "crashPlayer":
          return `${a.kind} player #${a.player}`;
        case "answerRead":
          return `answer read ${a.read} of player #${a.player}`;
        case "noticeBreak":
          return `player notices stream ${a.stream} broke`;
        case "breakStream":
        case "timeout":
          return `${a.kind} player #${a.player} shard ${a.shard}`;
        case "startPlayer":
          return "start a new player";
      }
    },
    formatState: (s) => `${encodeState(s)}${s.bad ? `\nVIOLATION: ${s.bad}` : ""}`,
    always: [{ name: "delivery invariants", check: (s) => s.bad }],
    sometimes: [
      { name: "every shard holds the whole log filtered to it", check: (s) => s.observer.caughtUp() },
      { name: "a zombie player was fenced", check: ev(EV.fenced) },
      { name: "a zombie's batch was refused", check: ev(EV.zombieBatchRefused) },
      { name: "a shard rewound a player", check: ev(EV.rewound) },
      { name: "a shard dropped a duplicate", check: ev(EV.duplicate) },
      { name: "a watermark moved an idle shard", check: ev(EV.watermark) },
      { name: "a shard crash lost an unsynced write", check: ev(EV.shardLostWrite) },
      { name: "a shard was re-read from the log", check: ev(EV.reread) },
      { name: "the log was trimmed", check: ev(EV.trimmed) },
    ],
    eventually: [],
  };
}
