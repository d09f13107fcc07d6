/**
 * A transaction as the bytes of a partition's log entry (docs/ARCHITECTURE.md §4.5), on the log's
 * codec (apps/log/core/bytes.ts). Decoding checks what `txnProblem` checks: a shard applies only what
 * a KV server would have appended, and names what is wrong with anything else.
 *
 *   txn:     [0x01] compares, success ops, failure ops   (each: varint count, then the items)
 *   compare: key str, target byte (1 value, 2 version, 3 createRevision, 4 modRevision),
 *            result byte (1 equal, 2 notEqual, 3 less, 4 greater), value blob | number varint
 *   op:      kind byte (1 put, 2 delete, 3 range), key str ("" allowed: the key space's start),
 *            flags byte (1: has to, 2: has limit), [to str ("": the end)], [limit varint], put: value blob
 *
 * A **batch** is the transactions a node appends in one entry, each with its client's idempotency
 * key: a shard applies each once (./shard-state.ts keeps the results by key, apps/smr's session
 * table), so a client's retry in a later batch is answered, not applied again:
 *
 *   batch:   [0x05] epoch varint, varint n, n × (client str, seq varint, ackedBelow varint, txn blob (as above))
 *
 * A **commit entry** is a partition's part of a transaction across partitions, committed (./cross.ts):
 *
 *   commit:  [0x06] epoch varint, txn varint (its number in the KV's transaction space), scanFrom
 *            varint (where the partition's participant must scan from after a restart), ops blob (a
 *            txn as above with no compares and no failure branch, its ops puts and deletes of single keys)
 *
 * An **owner entry** says which node owns the partition from map epoch `epoch` on: the node a map
 * of that epoch names appends it before it appends anything else (a partition moved, §4.5):
 *
 *   owner:   [0x04] epoch varint, node str
 *
 * Batches and commit entries carry the **map epoch** their node appended them under; a shard applies
 * one whose epoch is below the last owner entry's as nothing (./shard-state.ts), so a node that
 * has not heard of a move changes nothing once the new owner's entry is in the log. Entries written
 * before epochs (a batch [0x03] or a commit [0x02] without one, a bare txn) are of epoch 0.
 */
import { type ByteReader, ByteWriter, DecodeError, readAll } from "../../log/core/bytes.ts";
import { type Compare, type CompareResult, type KvOp, type KvTxn, TXN_LIMITS, txnProblem } from "./commands.ts";
import { KEY_LIMITS } from "./keys.ts";
import { ENTRY_LIMITS } from "../../log/core/entry.ts";

const FORMAT = 0x01;
const COMMIT = 0x02;
const BATCH = 0x03;
const OWNER = 0x04;
const BATCH_OF_EPOCH = 0x05;
const COMMIT_OF_EPOCH = 0x06;
/** A "host:port" in an owner entry (a map's addresses are far shorter). */
const OWNER_NODE_BYTES_MAX = 1_024;
const TARGETS = ["value", "version", "createRevision", "modRevision"] as const;
const RESULTS: readonly CompareResult[] = ["equal", "notEqual", "less", "greater"];
const OPS = ["put", "delete", "range"] as const;
const HAS_TO = 1;
const HAS_LIMIT = 2;

/** At least the bytes `encodeTxn` writes for `txn` (UTF-8 takes at most 3 bytes a UTF-16 unit, a
 *  varint at most 8): its writer's capacity, so that it never grows. */
function txnBytesBound(txn: KvTxn): number {
  let n = 32;
  for (const c of txn.compares) n += 24 + 3 * c.key.length + (c.target === "value" ? c.value.length : 0);
  for (const ops of [txn.success, txn.failure]) {
    for (const o of ops) n += 24 + 3 * (o.key.length + (o.op !== "put" && o.to !== undefined ? o.to.length : 0)) + (o.op === "put" ? o.value.length : 0);
  }
  return n;
}

export function encodeTxn(txn: KvTxn): Uint8Array {
  const w = new ByteWriter(txnBytesBound(txn));
  w.byte(FORMAT);
  w.varint(txn.compares.length);
  for (const c of txn.compares) {
    w.str(c.key);
    w.byte(TARGETS.indexOf(c.target) + 1);
    w.byte(RESULTS.indexOf(c.result) + 1);
    if (c.target === "value") w.blob(c.value);
    else w.varint(c.number);
  }
  for (const ops of [txn.success, txn.failure]) {
    w.varint(ops.length);
    for (const o of ops) {
      w.byte(OPS.indexOf(o.op) + 1);
      w.str(o.key);
      const to = o.op === "put" ? undefined : o.to;
      const limit = o.op === "range" ? o.limit : undefined;
      w.byte((to !== undefined ? HAS_TO : 0) | (limit !== undefined ? HAS_LIMIT : 0));
      if (to !== undefined) w.str(to);
      if (limit !== undefined) w.varint(limit);
      if (o.op === "put") w.blob(o.value);
    }
  }
  return w.done();
}

/** A count of at most `max` `what`. */
function readCount(r: ByteReader, what: string, max: number): number {
  const n = r.varint();
  if (n > max) throw new DecodeError(`${n} ${what} (limit ${max})`);
  return n;
}

function readCompare(r: ByteReader): Compare {
  const key = r.str("a compare's key", KEY_LIMITS.keyBytesMax);
  const target = TARGETS[r.byte() - 1];
  const result = RESULTS[r.byte() - 1];
  if (!target || !result) throw new DecodeError("a compare's target or result is unknown");
  return target === "value" ? { key, target, result, value: r.blob("a compare's value", TXN_LIMITS.valueBytesMax) } : { key, target, result, number: r.varint() };
}

function readOps(r: ByteReader): KvOp[] {
  const ops: KvOp[] = [];
  for (let i = readCount(r, "ops", TXN_LIMITS.opsMax); i > 0; i--) {
    const op = OPS[r.byte() - 1];
    if (!op) throw new DecodeError("an op is neither put, delete nor range");
    // A key or a range's end may be "" (the key space's start or end).
    const key = r.text("a key", KEY_LIMITS.keyBytesMax);
    const flags = r.byte();
    if (flags > (HAS_TO | HAS_LIMIT)) throw new DecodeError(`op flags ${flags}`);
    const to = flags & HAS_TO ? r.text("a range's to", KEY_LIMITS.keyBytesMax) : undefined;
    const limit = flags & HAS_LIMIT ? r.varint() : undefined;
    if ((op === "put" && to !== undefined) || (op !== "range" && limit !== undefined)) throw new DecodeError(`a ${op} with a ${to !== undefined ? "range" : "limit"}`);
    if (op === "put") ops.push({ op, key, value: r.blob("a value", TXN_LIMITS.valueBytesMax) });
    else if (op === "delete") ops.push({ op, key, ...(to !== undefined ? { to } : {}) });
    else ops.push({ op, key, ...(to !== undefined ? { to } : {}), ...(limit !== undefined ? { limit } : {}) });
  }
  return ops;
}

function readTxn(r: ByteReader): KvTxn | DecodeError {
  const format = r.byte();
  if (format !== FORMAT) return new DecodeError(`not a KV transaction (format ${format})`);
  const compares: Compare[] = [];
  for (let i = readCount(r, "compares", TXN_LIMITS.comparesMax); i > 0; i--) compares.push(readCompare(r));
  const success = readOps(r);
  const failure = readOps(r);
  return r.done ? { compares, success, failure } : new DecodeError("trailing bytes after a transaction");
}

/** The transaction in `bytes`, or why they are not one. Never throws. */
export function decodeTxn(bytes: Uint8Array): KvTxn | DecodeError {
  const txn = readAll(bytes, readTxn);
  if (txn instanceof DecodeError) return txn;
  const problem = txnProblem(txn);
  return problem ? new DecodeError(problem) : txn;
}

/** A partition's part of a transaction across partitions, committed: its ops to apply once. */
export interface KvCommit {
  /** The transaction's number in the KV's transaction space. */
  readonly txn: number;
  /** Where the partition's participant must scan from after a restart, when this was decided. */
  readonly scanFrom: number;
  readonly ops: readonly KvOp[];
}

/** A transaction of a batch, with its client's idempotency key; the client waits for no answer
 *  below `ackedBelow` (results of its earlier transactions can be forgotten). */
export interface KvProposal {
  readonly client: string;
  readonly seq: number;
  readonly ackedBelow: number;
  readonly txn: KvTxn;
}

export const BATCH_LIMITS = Object.freeze({
  /** Transactions in one batch. */
  proposalsMax: 4_096,
  clientBytesMax: ENTRY_LIMITS.nameBytesMax,
});

/** Who owns a partition from map epoch `epoch` on: the node at `node` ("host:port"). */
export interface KvOwner {
  readonly epoch: number;
  readonly node: string;
}

/** Why a node serving partition `partition` under map epoch `mapEpoch` no longer may, given the
 *  last owner entry its shard applied (one of a newer epoch: the partition moved), or undefined. */
export function supersededBy(owner: KvOwner | undefined, partition: number, mapEpoch: number): string | undefined {
  if (!owner || owner.epoch <= mapEpoch) return undefined;
  return `partition ${partition} moved to the node at ${owner.node} (map epoch ${owner.epoch}; this node serves epoch ${mapEpoch}): read the map again`;
}

/** What a partition's log entry holds for its shards (`epoch`: the map epoch it was appended under). */
export type KvEntry =
  | { readonly kind: "txn"; readonly txn: KvTxn }
  | { readonly kind: "commit"; readonly epoch: number; readonly commit: KvCommit }
  | { readonly kind: "batch"; readonly epoch: number; readonly proposals: readonly KvProposal[] }
  | { readonly kind: "owner"; readonly owner: KvOwner };

/** A batch of proposals appended under map epoch `epoch`, each transaction as `encodeTxn` makes it
 *  (given, so it is encoded once). */
export function encodeBatch(epoch: number, proposals: readonly { readonly client: string; readonly seq: number; readonly ackedBelow: number; readonly txn: Uint8Array }[]): Uint8Array {
  const w = new ByteWriter(proposals.reduce((n, p) => n + p.txn.byteLength + p.client.length * 3 + 24, 16));
  w.byte(BATCH_OF_EPOCH);
  w.varint(epoch);
  w.varint(proposals.length);
  for (const p of proposals) {
    w.str(p.client);
    w.varint(p.seq);
    w.varint(p.ackedBelow);
    w.blob(p.txn);
  }
  return w.done();
}

/** A commit entry appended under map epoch `epoch`. */
export function encodeCommit(epoch: number, c: KvCommit): Uint8Array {
  const ops = encodeTxn({ compares: [], success: c.ops, failure: [] });
  const w = new ByteWriter(ops.byteLength + 32);
  w.byte(COMMIT_OF_EPOCH);
  w.varint(epoch);
  w.varint(c.txn);
  w.varint(c.scanFrom);
  w.blob(ops);
  return w.done();
}

/** An owner entry: the node at `owner.node` owns the partition from map epoch `owner.epoch` on. */
export function encodeOwner(owner: KvOwner): Uint8Array {
  const w = new ByteWriter(owner.node.length * 3 + 24);
  w.byte(OWNER);
  w.varint(owner.epoch);
  w.str(owner.node);
  return w.done();
}

/** The entry in `bytes` (a transaction, a batch, a commit or an owner entry), or why they are none. Never throws. */
export function decodeEntry(bytes: Uint8Array): KvEntry | DecodeError {
  const tag = bytes[0];
  if (tag === BATCH || tag === BATCH_OF_EPOCH) return decodeBatch(bytes);
  if (tag === COMMIT || tag === COMMIT_OF_EPOCH) return decodeCommit(bytes);
  if (tag === OWNER) {
    const owner = readAll(bytes, (r): KvOwner | DecodeError => {
      r.byte();
      const epoch = r.varint();
      const node = r.str("a node's address", OWNER_NODE_BYTES_MAX);
      return r.done ? { epoch, node } : new DecodeError("trailing bytes after an owner entry");
    });
    return owner instanceof DecodeError ? owner : { kind: "owner", owner };
  }
  const txn = decodeTxn(bytes);
  return txn instanceof DecodeError ? txn : { kind: "txn", txn };
}

function decodeCommit(bytes: Uint8Array): KvEntry | DecodeError {
  let epoch = 0;
  const commit = readAll(bytes, (r): KvCommit | DecodeError => {
    if (r.byte() === COMMIT_OF_EPOCH) epoch = r.varint();
    const txn = r.varint();
    const scanFrom = r.varint();
    const inner = decodeTxn(r.view("a commit's ops", Number.MAX_SAFE_INTEGER));
    if (inner instanceof DecodeError) return new DecodeError(`a commit entry's ops: ${inner.message}`);
    if (inner.compares.length > 0 || inner.failure.length > 0) return new DecodeError("a commit entry's ops have compares or a failure branch");
    const ranged = inner.success.find((o) => o.op === "range" || (o.op === "delete" && o.to !== undefined));
    if (ranged) return new DecodeError(`a commit entry holds a ${ranged.op === "range" ? "range read" : "range delete"}`);
    return r.done ? { txn, scanFrom, ops: inner.success } : new DecodeError("trailing bytes after a commit entry");
  });
  return commit instanceof DecodeError ? commit : { kind: "commit", epoch, commit };
}

function decodeBatch(bytes: Uint8Array): KvEntry | DecodeError {
  let epoch = 0;
  const proposals = readAll(bytes, (r): KvProposal[] | DecodeError => {
    if (r.byte() === BATCH_OF_EPOCH) epoch = r.varint();
    const n = r.varint();
    if (n > BATCH_LIMITS.proposalsMax) return new DecodeError(`a batch of ${n} transactions (limit ${BATCH_LIMITS.proposalsMax})`);
    const out: KvProposal[] = [];
    for (let i = 0; i < n; i++) {
      const client = r.str("a client id", BATCH_LIMITS.clientBytesMax);
      const seq = r.varint();
      const ackedBelow = r.varint();
      const txn = decodeTxn(r.view("a transaction", Number.MAX_SAFE_INTEGER));
      if (txn instanceof DecodeError) return new DecodeError(`a batch's transaction ${i}: ${txn.message}`);
      out.push({ client, seq, ackedBelow, txn });
    }
    return r.done ? out : new DecodeError("trailing bytes after a batch");
  });
  return proposals instanceof DecodeError ? proposals : { kind: "batch", epoch, proposals };
}
