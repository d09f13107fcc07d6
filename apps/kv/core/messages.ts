/**
 * What KV clients and a KV node say to each other (docs/ARCHITECTURE.md §4.5), as domain values: the
 * gateway (apps/kv/wire/codec.ts) turns them into proto/wormspace/v1/kv.proto bytes and back.
 *
 * A **write** is a transaction with its idempotency key (`client`, `seq`): the node appends it to its
 * partition's log under that key, so a retry is stored once, and answers with the transaction's
 * result once its shard has applied the log there. A **read** is a range (one key: `to` absent),
 * linearizable unless `stale`: the node reads its log's tail, waits until its shard has applied the
 * log below it, and answers from the shard.
 */
import type { KvRecord, KvTxn, TxnResult } from "./commands.ts";

export type KvFailureCode =
  /** The request breaks a rule (`txnProblem`, a bad key or range): nothing was appended. */
  | "invalid"
  | "tooLarge"
  /** A key of the request is in another partition than the node's (the map's epoch says which map). */
  | "wrongPartition"
  /** The log or the shard cannot answer now (a write's outcome is unknown: retry with the same key). */
  | "unavailable"
  | "timeout"
  | "internal"
  /** A transaction across partitions aborted with no compare failing (a key locked by another
   *  transaction, a partition that could not vote): nothing was written; try it again. */
  | "aborted";

export interface KvFailure {
  readonly code: KvFailureCode;
  readonly message: string;
}

/** A range read: one key (`to` absent) or [key, to), at most `limit` records. */
export interface KvRangeQuery {
  readonly key: string;
  readonly to?: string;
  readonly limit?: number;
}

export type KvRequest =
  /** `ackedBelow`: the client waits for no answer below this seq (at most `seq`). */
  | { readonly id: number; readonly kind: "write"; readonly client: string; readonly seq: number; readonly ackedBelow: number; readonly txn: KvTxn }
  | { readonly id: number; readonly kind: "read"; readonly range: KvRangeQuery; readonly stale: boolean };

export type KvReply =
  /** The transaction is at `position` of the partition's log, and this is what it did. */
  | { readonly id: number; readonly kind: "written"; readonly position: number; readonly result: TxnResult }
  /** The records found, as of the shard's `revision`, having applied the log up to `position`. */
  /** A transaction across partitions (apps/kv/core/cross.ts), decided: its number in the KV's
   *  transaction space, and whether it committed (every compare held). */
  | { readonly id: number; readonly kind: "committed"; readonly txn: number; readonly succeeded: boolean }
  | { readonly id: number; readonly kind: "read"; readonly found: readonly (readonly [string, KvRecord])[]; readonly more: boolean; readonly revision: number; readonly position: number }
  | { readonly id: number; readonly kind: "failed"; readonly failure: KvFailure };

/** A node's partition and how far its shard has applied the partition's log. */
export interface KvStatus {
  readonly partition: number;
  /** Its keys: [from, to) (`to` absent: to the end of the key space). */
  readonly from: string;
  readonly to?: string;
  readonly log: string;
  readonly mapEpoch: number;
  /** The last log position its shard applied (-1: none). */
  readonly applied: number;
  readonly revision: number;
  readonly keys: number;
  /** Keys locked by transactions across partitions now, and the transactions it holds a YES in, undecided. */
  readonly lockedKeys: number;
  readonly inDoubt: number;
}

/** A change a shard applied: the key's record after it (`record` absent: deleted), at `revision`. */
export interface KvEvent {
  readonly key: string;
  readonly record?: KvRecord;
  readonly revision: number;
}

/** Watch the keys of `range` (a key, or [key, to)): every change from `fromRevision` on (0: from
 *  now), pushed in revision order. A revision the shard no longer keeps events for is refused. */
export interface KvWatchRequest {
  readonly range: { readonly key: string; readonly to?: string };
  readonly fromRevision: number;
}

/** Events pushed to a watch: those of the watched keys, up to the partition's `revision`. */
export interface KvWatchBatch {
  readonly events: readonly KvEvent[];
  readonly revision: number;
}

export const KV_LIMITS = Object.freeze({
  /** Events a node puts in one pushed batch, about (a batch never splits a revision's changes). */
  watchBatchEventsTarget: 1_024,
  /** Events one pushed batch may hold (one revision's changes, a range deleted, may be many). */
  watchBatchEventsMax: 1 << 20,
});
