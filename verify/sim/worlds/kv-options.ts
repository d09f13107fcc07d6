/**
 * The KV simulator's knobs (worlds/kv.ts): the LogPlayer world's (the log world inside, the players
 * and every fault of theirs) plus the KV's clients. The log world's own appenders and readers are off:
 * the KV's writers are the log's appenders.
 */
import { LOGPLAYER_WORLD_DEFAULTS, type LogPlayerWorldOptions } from "./logplayer-options.ts";

export interface KvWorldOptions extends LogPlayerWorldOptions {
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
}

export const KV_WORLD_DEFAULTS: Omit<KvWorldOptions, "seed"> = {
  ...LOGPLAYER_WORLD_DEFAULTS,
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
};
