/**
 * Transactions across partitions (docs/ARCHITECTURE.md §4.5): a transaction whose keys are in more
 * than one partition goes through the transaction coordinator (apps/txn), each partition a
 * participant voting on its **part**: the compares and the puts and deletes of its own keys.
 *
 * A partition votes YES when it can lock its part's keys (no waiting: a key locked by another
 * transaction is a NO) and every compare of its part holds (./book.ts); the transaction commits iff
 * every partition votes YES, and then each partition appends its part's ops to its log as a
 * **commit entry** (./records.ts), applied like any write. A compare that fails anywhere aborts the
 * transaction: it did not succeed, and nothing was written.
 *
 * So such a transaction is narrower than one within a partition: its failure branch is empty (the
 * outcome of its compares is known only once every partition has voted, when no partition can still
 * apply a branch of its choice), and its ops are puts and deletes of single keys (no ranges, no
 * reads: a partition locks keys, not ranges). Each part travels in its partition's vote, so it
 * holds at most `TXN_LIMITS.payloadBytesMax` bytes (apps/txn/core/record.ts).
 */
import { TXN_LIMITS as PARTICIPANT_LIMITS } from "../../txn/core/record.ts";
import type { KvTxn } from "./commands.ts";
import { type Partition, type PartitionMap, partitionOf } from "./partitions.ts";
import { encodeTxn } from "./records.ts";

/** One partition's part of a transaction across partitions: a `KvTxn` with no failure branch. */
export interface TxnPart {
  readonly partition: Partition;
  readonly part: KvTxn;
}

/** Why `txn`, spanning several partitions, cannot go through the coordinator, or undefined. */
export function crossTxnProblem(txn: KvTxn): string | undefined {
  if (txn.failure.length > 0) return "a transaction across partitions has no failure branch (its compares' outcome is known only once every partition has voted)";
  const ranged = txn.success.find((o) => o.op === "range" || (o.op === "delete" && o.to !== undefined));
  if (ranged) return `a transaction across partitions puts and deletes single keys (${ranged.op === "range" ? "a range read" : "a range delete"} of ${JSON.stringify(ranged.key)} is not one)`;
  return undefined;
}

/** The parts of `txn` (checked with `crossTxnProblem`), one per partition it touches, in key order,
 *  each with the compares and ops of that partition's keys, in the transaction's order. */
export function splitTxn(map: PartitionMap, txn: KvTxn): TxnPart[] {
  const parts = new Map<number, { partition: Partition; compares: KvTxn["compares"][number][]; success: KvTxn["success"][number][] }>();
  const of = (key: string) => {
    const partition = partitionOf(map, key);
    let p = parts.get(partition.id);
    if (!p) parts.set(partition.id, (p = { partition, compares: [], success: [] }));
    return p;
  };
  for (const c of txn.compares) of(c.key).compares.push(c);
  for (const o of txn.success) of(o.key).success.push(o);
  return [...parts.values()]
    .sort((a, b) => map.partitions.indexOf(a.partition) - map.partitions.indexOf(b.partition))
    .map(({ partition, compares, success }) => ({ partition, part: { compares, success, failure: [] } }));
}

/** Why a part is too large to travel in its partition's vote, or undefined. */
export function partProblem(p: TxnPart): string | undefined {
  const bytes = encodeTxn(p.part).byteLength;
  return bytes > PARTICIPANT_LIMITS.payloadBytesMax ? `partition ${p.partition.id}'s part of the transaction is ${bytes} bytes (limit ${PARTICIPANT_LIMITS.payloadBytesMax} across partitions)` : undefined;
}

/** The keys a part locks: those of its compares and its ops, each once, sorted. */
export function partKeys(part: KvTxn): string[] {
  return [...new Set([...part.compares.map((c) => c.key), ...part.success.map((o) => o.key)])].sort();
}

/** The name of partition `id` as a participant of the KV's transactions. */
export const participantName = (id: number): string => `p${id}`;

/** The transaction space of KV `kv` (one per KV; its partitions vote there). */
export const txnSpaceOf = (kv: string): string => `${kv}-txn`;
