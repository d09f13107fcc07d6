/**
 * The LogPlayer model's options, state and encodings (verify/mc/models/logplayer.ts). Players and
 * shards are the real cores (apps/logplayer/core); a state holds copies of them, which a transition
 * clones before it feeds them, and which encode by their own canonical `describe()`.
 */
import { type LogRecord, type PlayerFrame, type ShardReply, shardOf } from "../../../apps/logplayer/core/items.ts";
import type { DeliveryObserver } from "../../../apps/logplayer/core/invariants.ts";
import type { PlayerCore } from "../../../apps/logplayer/core/player-core.ts";
import type { ShardCore, ShardDurable } from "../../../apps/logplayer/core/shard-core.ts";

/** The faults: a message lost, duplicated, or delivered ahead of the one before it on its stream; a
 *  shard crash (what was not synced is lost, its streams break); a stream broken by the network; a
 *  stream a player gives up as overdue; a player crash. */
export const FAULT_KINDS = ["lose", "duplicate", "reorder", "crashShard", "breakStream", "timeout", "crashPlayer"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface LogPlayerModelOptions {
  readonly shards: number;
  /** The log: per position, the shards its entry goes to (an empty list: a fill). */
  readonly log: readonly (readonly number[])[];
  /** Players that may run in all, each with the next epoch (the first runs from the start). */
  readonly players: number;
  /** The next player may start while the one before still runs (which becomes a zombie); else
   *  only once no player runs (after a crash). */
  readonly zombie: boolean;
  /** How many faults of each kind a run may have. */
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** How many faults a run may have in all. */
  readonly faultsMax: number;
  /** A player's window (items in flight per shard), queue and re-read chunk. */
  readonly windowMax: number;
  readonly queueMax: number;
  readonly readChunkMax: number;
}

export const LOGPLAYER_MODEL_DEFAULTS: LogPlayerModelOptions = {
  shards: 2,
  log: [[0], [1], [], [0, 1]],
  players: 2,
  zombie: true,
  faults: { lose: 1, duplicate: 1, reorder: 1, crashShard: 1, breakStream: 1, timeout: 1, crashPlayer: 1 },
  faultsMax: 2,
  windowMax: 2,
  queueMax: 2,
  readChunkMax: 1,
};

/** A frame on its way to a shard (from the player of `epoch`, on its stream `stream`). */
export interface ToShard {
  readonly kind: "toShard";
  readonly shard: number;
  readonly epoch: number;
  readonly stream: number;
  readonly frame: PlayerFrame;
}

/** A reply on its way to the player of `epoch`. */
export interface ToPlayer {
  readonly kind: "toPlayer";
  readonly shard: number;
  readonly epoch: number;
  readonly stream: number;
  readonly reply: ShardReply;
}

export type Msg = ToShard | ToPlayer;

/** The channel a message travels on: one per stream and direction, first in first out. */
export const channelOf = (m: Msg): string => (m.kind === "toShard" ? `p${m.epoch}#${m.stream}>s${m.shard}` : `s${m.shard}>p${m.epoch}#${m.stream}`);

export interface PlayerSlot {
  readonly epoch: number;
  readonly core: PlayerCore;
  /** The index in the log of the next record the subscription offers (undefined: not started). */
  readonly sub: number | undefined;
  /** Re-reads asked for and not answered yet. */
  readonly reads: readonly { readonly shard: number; readonly id: number; readonly from: number; readonly to: number }[];
}

export interface ShardSlot {
  readonly core: ShardCore;
  /** What its disk holds. */
  readonly disk: ShardDurable;
  /** Writes made durable (receipt numbers). */
  readonly syncs: number;
}

export interface LpState {
  /** Live players (a crashed or stopped one is gone). */
  readonly players: readonly PlayerSlot[];
  readonly nextEpoch: number;
  readonly shards: readonly ShardSlot[];
  /** The network: the messages in flight on each channel, oldest first. */
  readonly net: ReadonlyMap<string, readonly Msg[]>;
  /** Streams that broke and whose player has not noticed yet: "epoch/shard/stream". */
  readonly broken: ReadonlySet<string>;
  /** Faults of each kind a run may still have, and in all. */
  readonly left: Readonly<Record<FaultKind, number>>;
  readonly faultsLeft: number;
  readonly observer: DeliveryObserver;
  /** What happened on the transition into this state (sometimes-properties), not encoded. */
  readonly events: number;
  /** Violations found on the transition into this state. */
  readonly bad?: string;
}

export type LpAction =
  /** The first message of a channel arrives (`duplicate`: and stays; `reorder`: the second, ahead of it); or is lost. */
  | { readonly kind: "deliver" | "duplicate" | "reorder" | "lose"; readonly channel: string }
  | { readonly kind: "sync"; readonly shard: number }
  | { readonly kind: "crashShard"; readonly shard: number }
  | { readonly kind: "offer"; readonly player: number }
  | { readonly kind: "answerRead"; readonly player: number; readonly read: number }
  | { readonly kind: "noticeBreak"; readonly stream: string }
  | { readonly kind: "breakStream"; readonly player: number; readonly shard: number }
  | { readonly kind: "timeout"; readonly player: number; readonly shard: number }
  /** Nothing else can happen and the player waits on this stream: its reply timer fires (not a fault). */
  | { readonly kind: "stall"; readonly player: number; readonly shard: number }
  | { readonly kind: "crashPlayer"; readonly player: number }
  | { readonly kind: "startPlayer" };

export const EV = {
  fenced: 1,
  rewound: 2,
  duplicate: 4,
  watermark: 8,
  shardLostWrite: 16,
  reread: 32,
  trimmed: 64,
  zombieBatchRefused: 128,
} as const;

/** An action, as traces show it. */
export function formatLpAction(a: LpAction): string {
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
    case "stall":
      return `${a.kind} player #${a.player} shard ${a.shard}`;
    case "startPlayer":
      return "start a new player";
  }
}

/** A key whose shard among `shards` is `shard` ("k0", "k1", ...: the first that routes there). */
function keyFor(shard: number, shards: number): Uint8Array {
  for (let i = 0; ; i++) {
    const k = new TextEncoder().encode(`k${i}`);
    if (shardOf(k, shards) === shard) return k;
  }
}

/** The model's log as records: position p's payload is the byte p; fills are left out. */
export function modelLog(o: LogPlayerModelOptions): LogRecord[] {
  const out: LogRecord[] = [];
  o.log.forEach((targets, position) => {
    if (targets.length > 0) out.push({ position, keys: targets.map((s) => keyFor(s, o.shards)), payload: Uint8Array.of(position) });
  });
  return out;
}

/** A message's body, as the encoding and traces show it. */
function msgText(m: Msg): string {
  if (m.kind === "toPlayer") {
    const r = m.reply;
    return r.kind === "fenced" ? `fenced${r.epoch}` : r.kind === "refused" ? "refused" : r.kind === "state" ? `state${r.applied}e${r.epoch}` : `${r.kind}${r.applied}`;
  }
  const f = m.frame;
  return f.kind !== "batch" ? f.kind : `[${f.items.map((i) => `${i.position}<${i.previous}${i.data ? "" : "w"}`).join(",")}]`;
}

/** `text` of `key`, computed once per object: slots and channels are never changed in place (a
 *  transition copies what it changes), so most of a successor's encoding is its parent's. */
function memo<K extends object>(cache: WeakMap<K, string>, key: K, text: (k: K) => string): string {
  let t = cache.get(key);
  if (t === undefined) {
    t = text(key);
    cache.set(key, t);
  }
  return t;
}
const playerTexts = new WeakMap<PlayerSlot, string>();
const shardTexts = new WeakMap<ShardSlot, string>();
const channelTexts = new WeakMap<readonly Msg[], string>();
const playerText = (p: PlayerSlot) => `E${p.epoch} sub${p.sub ?? "-"} reads[${p.reads.map((r) => `${r.shard}:${r.id}`)}] ${p.core.describe()}`;
const shardText = (x: ShardSlot) => `disk a${x.disk.applied} e${x.disk.epoch}${x.disk.binding ? "" : "u"} ${x.core.describe()}`;
const channelText = (ms: readonly Msg[]) => ms.map(msgText).join(",");

export function encodeState(s: LpState): string {
  const players = s.players.map((p) => memo(playerTexts, p, playerText)).join("\n");
  const shards = s.shards.map((x) => memo(shardTexts, x, shardText)).join("\n");
  const net = [...s.net].map(([k, ms]) => `${k}:${memo(channelTexts, ms, channelText)}`).sort().join(" ");
  const broken = [...s.broken].sort().join(" ");
  return `${players}\n${shards}\n${net}\n${broken}\n${s.nextEpoch} ${s.faultsLeft} ${FAULT_KINDS.map((k) => s.left[k]).join("")}`;
}
