/**
 * The KV simulator's knobs (worlds/kv.ts): the LogPlayer world's (the log world inside, the players
 * and every fault of theirs) plus the KV's clients and the partition's moves. The log world's own
 * appenders and readers are off: the KV's writers are the log's appenders.
 */
import { LOGPLAYER_NO_FAULTS, LOGPLAYER_WORLD_DEFAULTS, type LogPlayerFaults, type LogPlayerWorldOptions } from "./logplayer-options.ts";

export interface KvFaults extends LogPlayerFaults {
  /** Chance per write begun that the partition moves to another node (unless a move is under way):
   *  worlds/kv-move.ts. In the heal phase too: a move is an operation, not a failure, and most
   *  writes are made there (the faults hold them up till then). */
  readonly move: number;
}

export const KV_NO_FAULTS: KvFaults = { ...LOGPLAYER_NO_FAULTS, move: 0 };

export interface KvWorldOptions extends LogPlayerWorldOptions {
  readonly faults: KvFaults;
  /** `shards`: the partition's shards, each a whole copy of it, delivered by a line of players of its own. */
  readonly shards: number;
  /** Writers (each one write at a time: puts, deletes, compare-and-sets) and the writes each makes. */
  readonly kvWriters: number;
  readonly kvWrites: number;
  /** Readers (linearizable gets and range scans) and the reads each makes (then one more once every
   *  writer is done: worlds/kv-clients.ts). */
  readonly kvReaders: number;
  readonly kvReads: number;
  /** The keys the clients touch. */
  readonly keys: readonly string[];
  /** A writer that does not hear of a move at once hears of it up to this long after the new owner
   *  claimed the partition (or when its old node refuses it): till then it appends under the old
   *  map epoch, a zombie. */
  readonly zombieMs: number;
}

export const KV_WORLD_DEFAULTS: Omit<KvWorldOptions, "seed"> = {
  ...LOGPLAYER_WORLD_DEFAULTS,
  faults: { ...LOGPLAYER_WORLD_DEFAULTS.faults, move: 0.07 },
  appenders: 0,
  readers: 0,
  shards: 2,
  // The partition's log is its only full copy: never trimmed (apps/kv/node/kv-node.ts).
  player: { ...LOGPLAYER_WORLD_DEFAULTS.player, trimEvery: Number.POSITIVE_INFINITY },
  kvWriters: 3,
  kvWrites: 5,
  kvReaders: 2,
  kvReads: 6,
  keys: ["a", "b", "c", "d"],
  zombieMs: 200,
};
