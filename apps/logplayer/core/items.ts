/**
 * LogPlayer's vocabulary (docs/ARCHITECTURE.md §4.4; apps/logplayer/README.md): log positions, the
 * items a player streams to a shard, the frames of a delivery stream and the shard's replies, the
 * deterministic key → shard map, and the limits of all of them.
 *
 * An item carries its `position` and the `previous` position the player sent to the same shard: the
 * shard applies it only if `previous` is what it has applied (the chain rule, core/shard-core.ts),
 * so a lost, late, duplicated or reordered item can never open a gap. An item without data is a
 * **watermark**: nothing for this shard in (previous, position].
 */
import type { LogEntry } from "../../log/core/entry.ts";
import type { SettledRead } from "../../log/core/read.ts";

/** The applied position of a shard that has applied nothing: every slot lies after it. */
export const BEFORE_FIRST = -1;

/** One item of a shard's stream: the shard's entry at `position` (with `data`), or a watermark. */
export interface Item {
  readonly position: number;
  /** The position of the item sent to this shard before (BEFORE_FIRST for the first). */
  readonly previous: number;
  readonly data?: Uint8Array;
}

/** Which shard of which player group a shard serves: fixed at the first hello it accepts. */
export interface Binding {
  /** The player group: the name of the space holding its epochs. */
  readonly group: string;
  readonly shard: number;
  readonly shards: number;
}

/**
 * What a player's sender holds for one shard (core/player-shard.ts), told to that shard so its
 * status can show it (the player serves no status of its own). A hint, not delivery state: the
 * shard keeps the latest one in memory only and nothing depends on it.
 */
export interface PlayerReport {
  /** Items sent and not acknowledged. */
  readonly inflight: number;
  /** The window: items in flight at most. */
  readonly windowMax: number;
  /** Items queued, not sent yet. */
  readonly queued: number;
  /** The shard is being re-read from the log (its queue overflowed or it came back late). */
  readonly behind: boolean;
}

export const sameReport = (a: PlayerReport, b: PlayerReport): boolean => a.inflight === b.inflight && a.windowMax === b.windowMax && a.queued === b.queued && a.behind === b.behind;

/** Player → shard, on one delivery stream. */
export type PlayerFrame =
  /** Opens the stream: the shard answers `state` (or `fenced` for an epoch below its own). */
  | { readonly kind: "hello"; readonly epoch: number; readonly player: string; readonly binding: Binding }
  /** `report`: the sender's state once this batch left (riding it instead of a frame of its own). */
  | { readonly kind: "batch"; readonly epoch: number; readonly items: readonly Item[]; readonly report?: PlayerReport }
  /** The sender's state, when it changed and no batch carries it: the shard answers nothing. */
  | { readonly kind: "report"; readonly epoch: number; readonly report: PlayerReport };

/** Shard → player. Every reply leaves only once what it reports is durable. */
export type ShardReply =
  /** The handshake: what the shard has durably applied, and its epoch (now the player's). */
  | { readonly kind: "state"; readonly applied: number; readonly epoch: number }
  /** Cumulative: everything up to `applied` is durable at the shard. */
  | { readonly kind: "ack"; readonly applied: number }
  /** An item did not chain onto `applied`: the player starts over from there. */
  | { readonly kind: "rewind"; readonly applied: number }
  /** The player's epoch is below the shard's: a newer player took over. */
  | { readonly kind: "fenced"; readonly epoch: number }
  /** The hello named another binding than the one the shard serves. */
  | { readonly kind: "refused"; readonly message: string };

/** An entry of the log as a player reads it: its slot, its routing keys and its payload. */
export interface LogRecord {
  readonly position: number;
  /** The entry goes to the shard of each key (apps/logplayer/README.md: stream tags, else the payload). */
  readonly keys: readonly Uint8Array[];
  readonly payload: Uint8Array;
}

const utf8 = new TextEncoder();

/** A log entry as a player routes it: its keys are its stream tags, or, without any, its payload. */
export const logRecordOf = (position: number, entry: LogEntry): LogRecord => ({
  position,
  keys: entry.streams.length > 0 ? entry.streams.map((l) => utf8.encode(l.tag)) : [entry.payload],
  payload: entry.payload,
});

/** The entries of settled log reads as records (fills go nowhere). */
export const logRecordsOf = (reads: readonly SettledRead[]): LogRecord[] => reads.flatMap((r) => (r.kind === "entry" ? [logRecordOf(r.slot, r.entry)] : []));

const NO_BYTES = new Uint8Array(0);

/** What a subscription offers the player: an entry's record, or a fill as a record for no shard, so
 *  that the shards' cursors pass it and watermarks carry them past it (a log that ends in fills, as
 *  after a new sequencer's seal, still lets every shard reach its tail). */
export const offeredRecord = (r: Exclude<SettledRead, { kind: "trimmed" }>): LogRecord =>
  r.kind === "entry" ? logRecordOf(r.slot, r.entry) : { position: r.slot, keys: [], payload: NO_BYTES };

export const DELIVERY_LIMITS = Object.freeze({
  /** Items in one batch frame. */
  itemsPerBatchMax: 4_096,
  /** Data bytes in one batch frame (a single item, one log slot's value, may exceed it alone). */
  batchBytesMax: 4 << 20,
  /** Shards in one player group. */
  shardsMax: 1_024,
});

/** 32-bit FNV-1a of `bytes`. */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** The shard of `key` among `shards`: the same for every player of every epoch. */
export const shardOf = (key: Uint8Array, shards: number): number => fnv1a(key) % shards;

/** The shards a record goes to, ascending, each once. */
export function route(record: LogRecord, shards: number): number[] {
  // One shard: no key need be hashed (a record's key may be its whole payload); a record of no key
  // (a fill) still goes nowhere.
  if (shards === 1) return record.keys.length > 0 ? [0] : [];
  const out = new Set<number>();
  for (const k of record.keys) out.add(shardOf(k, shards));
  return [...out].sort((a, b) => a - b);
}

export const sameBinding = (a: Binding, b: Binding): boolean => a.group === b.group && a.shard === b.shard && a.shards === b.shards;

export const describeBinding = (b: Binding): string => `shard ${b.shard} of ${b.shards} of player group ${b.group}`;
