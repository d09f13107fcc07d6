/**
 * The layout of a KV shard's store (docs/ARCHITECTURE.md §4.5; the store: ./shard-store.ts): its
 * keys, and its state record, read back with every field checked.
 */
import type { ShardDurable } from "../../logplayer/core/shard-core.ts";
import { BEFORE_FIRST } from "../../logplayer/core/items.ts";

export const STATE_KEY = "state";
export const HOLDS_KEY = "holds";
export const recordKey = (key: string): string => `k:${key}`;
/** Results sort by position: positions < 2^53 < 10^16. */
export const resultKey = (position: number): string => `r:${String(position).padStart(16, "0")}`;
/** A transaction across partitions committed here. */
export const committedKey = (txn: number): string => `x:${String(txn).padStart(16, "0")}`;

const text = new TextDecoder();

/** A store holding something that is not a KV shard's (damaged, or another kind of store): refused, never overwritten. */
export class KvShardStoreDamaged extends Error {
  override readonly name = "KvShardStoreDamaged";
}

export interface Loaded extends ShardDurable {
  readonly revision: number;
  /** Where the partition's participant scans from after a restart (0 in a store written before). */
  readonly scanFrom: number;
}

export function parseState(bytes: Uint8Array, dir: string): Loaded {
  let o: { kv?: unknown; applied?: unknown; epoch?: unknown; revision?: unknown; scanFrom?: unknown; binding?: { group?: unknown; shard?: unknown; shards?: unknown } };
  try {
    o = JSON.parse(text.decode(bytes)) as typeof o;
  } catch {
    throw new KvShardStoreDamaged(`KV shard store ${dir}: its state is not readable`);
  }
  if (o === null || typeof o !== "object" || o.kv !== 1) throw new KvShardStoreDamaged(`KV shard store ${dir}: its state is not a KV shard's (another kind of store?)`);
  const b = o.binding;
  const okInt = (x: unknown, least: number): x is number => Number.isSafeInteger(x) && (x as number) >= least;
  if (!okInt(o.applied, BEFORE_FIRST) || !okInt(o.epoch, 0) || !okInt(o.revision, 0) || (o.scanFrom !== undefined && !okInt(o.scanFrom, 0)) || (b !== undefined && (b === null || typeof b.group !== "string" || !okInt(b.shard, 0) || !okInt(b.shards, 1)))) {
    throw new KvShardStoreDamaged(`KV shard store ${dir}: its state is malformed`);
  }
  const binding = b && { group: b.group as string, shard: b.shard as number, shards: b.shards as number };
  return { applied: o.applied, epoch: o.epoch, revision: o.revision, scanFrom: (o.scanFrom as number | undefined) ?? 0, ...(binding ? { binding } : {}) };
}

