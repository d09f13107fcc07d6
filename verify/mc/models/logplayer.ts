/**
 * The LogPlayer model (docs/ARCHITECTURE.md §4.4, §5; apps/logplayer/README.md): the real delivery
 * cores, exhaustively. Shards run `ShardCore` over a disk the model keeps (a `sync` makes the
 * forming write durable; a crash loses what was not synced and breaks every stream to the shard);
 * players run `PlayerCore` over a fixed log, its subscription and its re-reads answered by the
 * model. The first player holds epoch 1; a new player may start with the next epoch while the old
 * one runs on (a zombie; option `zombie`) or once no player runs (after a crash).
 *
 * Network: one FIFO channel per stream and direction. A bounded number of faults (`faultsMax` in
 * all, and per kind) loses a message, delivers it and keeps a copy (duplication), delivers the
 * second of a channel ahead of the first (reordering), breaks a stream (its player notices later),
 * gives a stream up as overdue, or crashes a shard or a player. Frames of given-up streams stay
 * deliverable (late delivery to a shard). Time does not pass: reconnects, watermarks and the
 * subscription's start are immediate. When nothing but a fault could happen, a player waiting on a
 * stream gives it up (`stall`: its reply timer), so a run without further faults always goes on.
 * Replies to a given-up stream, and frames of given-up streams that can change nothing (`inert`),
 * leave the network: this merges only states that behave alike.
 *
 * Checked in every state (core/invariants.ts, the observer the unit tests use too): per shard the
 * durable rows are a prefix of the log filtered to it; durable applied positions never decrease;
 * no player holds an applied position above the shard's durable one; no shard applies items of a
 * batch below its epoch; the log is trimmed only below what every shard has durably applied. And
 * liveness (`eventually`): every run that ends has every shard holding the log filtered to it.
 */
import { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import { PLAYER_DEFAULTS, PlayerCore, type PlayerOutputs } from "../../../apps/logplayer/core/player-core.ts";
import { ShardCore } from "../../../apps/logplayer/core/shard-core.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import { assert } from "../../runtime/assert.ts";
import type { Model } from "../engine.ts";
import {
  EV,
  FAULT_KINDS,
  type FaultKind,
  LOGPLAYER_MODEL_DEFAULTS,
  type LogPlayerModelOptions,
  type LpAction,
  type LpState,
  type Msg,
  type PlayerSlot,
  type ShardSlot,
  encodeState,
  formatLpAction,
  modelLog,
  channelOf,
} from "./logplayer-state.ts";

const GROUP = "group";
const isFault = (a: LpAction): a is Extract<LpAction, { kind: FaultKind }> => (FAULT_KINDS as readonly string[]).includes(a.kind);
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
  /** A stream its player has given up (or a player that is gone). */
  const dead = (c: Step, m: Msg): boolean => {
    const p = c.players.find((x) => x.epoch === m.epoch);
    return !p || m.stream !== p.core.streamOf(m.shard) || !p.core.streamOpen(m.shard);
  };
  /** A frame of a dead stream that can change nothing at its shard, ever: every item at or below
   *  the shard's durable applied position (a duplicate whatever the shard's rule for the rest), or a
   *  hello the shard's durable epoch and binding make a no-op; its reply would go to a dead stream. */
  const inert = (c: Step, m: Msg): boolean => {
    if (m.kind !== "toShard") return false;
    const d = c.shards[m.shard]!.disk;
    if (m.frame.epoch > d.epoch) return false;
    // A report (the model's player sends none) changes nothing durable.
    return m.frame.kind === "hello" ? d.binding !== undefined : m.frame.kind === "report" || m.frame.items.every((i) => i.position <= d.applied);
  };
  /** Messages that can no longer matter leave the network: replies nobody will read (their stream
   *  is dead) and inert frames of dead streams. This only merges states that behave alike. */
  const prune = (c: Step): void => {
    let pruned: Map<string, readonly Msg[]> | undefined;
    for (const [k, ms] of c.net) {
      if (!dead(c, ms[0]!)) continue;
      const keep = ms.filter((m) => m.kind === "toShard" && !inert(c, m));
      if (keep.length === ms.length) continue;
      pruned ??= new Map(c.net);
      if (keep.length > 0) pruned.set(k, keep);
      else pruned.delete(k);
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
      left: o.faults,
      faultsLeft: o.faultsMax,
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
    let { nextEpoch, left, faultsLeft } = s;
    if (isFault(a)) {
      left = { ...left, [a.kind]: left[a.kind] - 1 };
      faultsLeft--;
    }
    switch (a.kind) {
      case "lose":
        take(c, a.channel, 0, false);
        break;
      case "deliver":
      case "duplicate":
      case "reorder": {
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
        break;
      }
      case "timeout":
      case "stall":
        withPlayer(c, a.player, (core) => void core.timeout(a.shard, 0));
        break;
      case "crashPlayer":
        c.players.splice(a.player, 1);
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
      left,
      faultsLeft,
      observer: c.observer,
      events: c.events,
      ...(c.bad.length > 0 ? { bad: c.bad.join("; ") } : {}),
    };
    return next;
  };

  const ev = (bit: number) => (s: LpState) => (s.events & bit) !== 0;
  // Which sometimes-properties the options make reachable at all.
  const may = (k: FaultKind) => o.faultsMax > 0 && o.faults[k] > 0;
  const zombie = o.players > 1 && o.zombie;
  const faulty = FAULT_KINDS.some(may);
  const idle = o.log.some((t) => t.length < o.shards);
  // A gap needs a second item to some shard: a watermark, or a second entry.
  const chained = idle || Array.from({ length: o.shards }, (_, sh) => o.log.filter((t) => t.includes(sh)).length).some((n) => n > 1);
  return {
    options: o,
    init: () => [init()],
    actions(s) {
      const out: LpAction[] = [];
      const may = (k: FaultKind) => s.faultsLeft > 0 && s.left[k] > 0;
      for (const [channel, ms] of s.net) {
        out.push({ kind: "deliver", channel });
        if (may("lose")) out.push({ kind: "lose", channel });
        if (may("duplicate")) out.push({ kind: "duplicate", channel });
        if (may("reorder") && ms.length > 1) out.push({ kind: "reorder", channel });
      }
      s.shards.forEach((x, i) => {
        if (x.core.dirty) out.push({ kind: "sync", shard: i });
        if (may("crashShard")) out.push({ kind: "crashShard", shard: i });
      });
      s.players.forEach((p, i) => {
        if (p.sub !== undefined && p.sub < log.length) out.push({ kind: "offer", player: i });
        p.reads.forEach((_, r) => void out.push({ kind: "answerRead", player: i, read: r }));
        for (let sh = 0; sh < o.shards; sh++) {
          const open = p.core.streamOpen(sh);
          if (open && may("breakStream")) out.push({ kind: "breakStream", player: i, shard: sh });
          if (open && may("timeout")) out.push({ kind: "timeout", player: i, shard: sh });
        }
        if (may("crashPlayer")) out.push({ kind: "crashPlayer", player: i });
      });
      for (const b of s.broken) out.push({ kind: "noticeBreak", stream: b });
      if (s.nextEpoch <= o.players && (o.zombie || s.players.length === 0)) out.push({ kind: "startPlayer" });
      // Quiescent (only faults could happen): a player waiting on a stream gives it up, as its reply
      // timer would. So every run without further faults can go on, and `eventually` means progress.
      if (!out.some((a) => !isFault(a))) {
        s.players.forEach((p, i) => {
          for (const x of p.core.status()) if (x.phase === "hello" || (x.phase === "live" && x.inflight > 0)) out.push({ kind: "stall", player: i, shard: x.shard });
        });
      }
      return out;
    },
    next,
    encode: encodeState,
    formatAction: formatLpAction,
    formatState: (s) => `${encodeState(s)}${s.bad ? `\nVIOLATION: ${s.bad}` : ""}`,
    always: [{ name: "delivery invariants", check: (s) => s.bad }],
    sometimes: [
      { name: "every shard holds the whole log filtered to it", check: (s: LpState) => s.observer.caughtUp() },
      ...(zombie ? [{ name: "a zombie player was fenced", check: ev(EV.fenced) }] : []),
      ...(o.players > 1 ? [{ name: "a zombie's batch was refused", check: ev(EV.zombieBatchRefused) }] : []),
      ...(faulty && chained ? [{ name: "a shard rewound a player", check: ev(EV.rewound) }] : []),
      ...(faulty ? [{ name: "a shard dropped a duplicate", check: ev(EV.duplicate) }] : []),
      ...(idle ? [{ name: "a watermark moved an idle shard", check: ev(EV.watermark) }] : []),
      ...(may("crashShard") ? [{ name: "a shard crash lost an unsynced write", check: ev(EV.shardLostWrite) }] : []),
      ...(log.length > o.queueMax ? [{ name: "a shard was re-read from the log", check: ev(EV.reread) }] : []),
      { name: "the log was trimmed", check: ev(EV.trimmed) },
    ],
    eventually: [{ name: "every shard holds the whole log filtered to it", check: (s: LpState) => s.observer.caughtUp() }],
  };
}
