/**
 * The partition map (docs/ARCHITECTURE.md §4.5): the key space cut into ranges, each a partition
 * with its own log (its write-ahead log and commit point). Ranges, not hashes, so a range scan or a
 * prefix watch asks only the partitions it overlaps. The map carries an epoch: a change makes a new
 * map with a higher one, chosen at the next address of the KV's chain of maps (../node/kv-map.ts).
 */
import { type KvTxn, touched } from "./commands.ts";
import { type KeyRange, compareKeys, keyProblem } from "./keys.ts";

/** Partition `id` holds the keys from `from` (inclusive) to the next partition's `from`. */
export interface Partition {
  readonly id: number;
  readonly from: string;
  /** The name of its log. */
  readonly log: string;
  /** The "host:port" of the KV node serving it. */
  readonly node: string;
}

export interface PartitionMap {
  readonly epoch: number;
  /** In key order; the first starts at "" (the whole key space is covered). */
  readonly partitions: readonly Partition[];
}

/** A map of one partition per node, cut at `splits` (keys in order: n nodes need n − 1 of them);
 *  partition k's log is `${name}-p${k}`. */
export function partitionMap(name: string, epoch: number, nodes: readonly string[], splits: readonly string[]): PartitionMap {
  return { epoch, partitions: nodes.map((node, id) => ({ id, from: id === 0 ? "" : splits[id - 1]!, log: `${name}-p${id}`, node })) };
}

/** Why `map` is not a partition map, or undefined. */
export function mapProblem(map: PartitionMap): string | undefined {
  if (!Number.isSafeInteger(map.epoch) || map.epoch < 0) return `a map's epoch must be a non-negative integer (got ${map.epoch})`;
  const ps = map.partitions;
  if (!Array.isArray(ps) || ps.length === 0) return "a map has at least one partition";
  if (ps[0]!.from !== "") return "the first partition must start at the beginning of the key space";
  const ids = new Set<number>();
  const logs = new Set<string>();
  /** Each node address, and its partition. */
  const nodes = new Map<string, number>();
  for (const [i, p] of ps.entries()) {
    if (!Number.isSafeInteger(p.id) || p.id < 0 || ids.has(p.id)) return `partition ids must be distinct non-negative integers (${p.id})`;
    if (typeof p.log !== "string" || p.log.length === 0 || logs.has(p.log)) return `partition ${p.id}: each partition has a log of its own`;
    if (typeof p.node !== "string" || !/^[^\s:]+:\d{1,5}$/.test(p.node)) return `partition ${p.id}: its node must be "host:port" (got ${JSON.stringify(p.node)})`;
    // A node serves one partition on its port (a process may run several nodes, on ports of their own).
    const other = nodes.get(p.node);
    if (other !== undefined) return `partitions ${other} and ${p.id} name one node, ${p.node}: each partition's node has an address of its own (one process may serve several, each on its own port)`;
    ids.add(p.id);
    logs.add(p.log);
    nodes.set(p.node, p.id);
    if (i === 0) continue;
    const k = keyProblem(p.from, `partition ${p.id}'s from`);
    if (k) return k;
    if (compareKeys(ps[i - 1]!.from, p.from) >= 0) return `partitions must be in key order (${JSON.stringify(ps[i - 1]!.from)} is not before ${JSON.stringify(p.from)})`;
  }
  return undefined;
}

/** The partition holding `key`. */
export function partitionOf(map: PartitionMap, key: string): Partition {
  const ps = map.partitions;
  let lo = 0;
  let hi = ps.length - 1;
  // The last partition whose from is at or before the key.
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (compareKeys(ps[mid]!.from, key) <= 0) lo = mid;
    else hi = mid - 1;
  }
  return ps[lo]!;
}

/** The partitions holding some key of `range`, in key order. */
export function partitionsOf(map: PartitionMap, range: KeyRange): Partition[] {
  const first = map.partitions.indexOf(partitionOf(map, range.from));
  const out: Partition[] = [];
  for (let i = first; i < map.partitions.length; i++) {
    const p = map.partitions[i]!;
    if (i > first && range.to !== undefined && compareKeys(p.from, range.to) >= 0) break;
    out.push(p);
  }
  return out;
}

/** The keys partition `p` of `map` holds: from its `from` to the next partition's (the end: none). */
export function rangeOf(map: PartitionMap, p: Partition): KeyRange {
  const next = map.partitions[map.partitions.indexOf(p) + 1];
  return { from: p.from, ...(next ? { to: next.from } : {}) };
}

/** Each partition `range` overlaps, in key order, with its part of the range. */
export function partsOf(map: PartitionMap, range: KeyRange): { readonly partition: Partition; readonly range: KeyRange }[] {
  return partitionsOf(map, range).map((partition, i) => {
    const whole = rangeOf(map, partition);
    // From the later start to the earlier end.
    const to = whole.to !== undefined && (range.to === undefined || compareKeys(whole.to, range.to) < 0) ? whole.to : range.to;
    return { partition, range: { from: i === 0 ? range.from : whole.from, ...(to !== undefined ? { to } : {}) } };
  });
}

/** The partitions a transaction touches: one, and it is one append to that partition's log; more,
 *  and it goes through the transaction coordinator (apps/txn), the partitions its participants. */
export function partitionsOfTxn(map: PartitionMap, txn: KvTxn): Partition[] {
  const ids = new Map<number, Partition>();
  for (const r of touched(txn)) for (const p of partitionsOf(map, r)) ids.set(p.id, p);
  return [...ids.values()].sort((a, b) => compareKeys(a.from, b.from));
}

const utf8 = new TextEncoder();

/** A map as the value of its register in the KV's space (JSON). */
export const encodeMap = (map: PartitionMap): Uint8Array => utf8.encode(JSON.stringify({ epoch: map.epoch, partitions: map.partitions.map((p) => ({ id: p.id, from: p.from, log: p.log, node: p.node })) }));

/** The map in a register's value, or why it is not one. */
export function decodeMap(bytes: Uint8Array): PartitionMap | string {
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return "not a partition map (unreadable)";
  }
  const m = o as PartitionMap;
  if (typeof o !== "object" || o === null || !Array.isArray(m.partitions)) return "not a partition map";
  const map: PartitionMap = { epoch: m.epoch, partitions: m.partitions.map((p) => ({ id: p?.id, from: p?.from, log: p?.log, node: p?.node })) };
  return mapProblem(map) ?? map;
}
