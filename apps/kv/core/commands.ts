/**
 * What the KV applies (docs/ARCHITECTURE.md §4.5): every write is a **transaction** in etcd's shape,
 * `if (every compare holds) then success ops else failure ops`, so a put is a transaction with no
 * compare and one put, and a compare-and-set one compare and one put. A partition appends each to its
 * log (the commit point) and its shards apply them in log order (./state.ts).
 *
 * Within a transaction the ops run in order, each seeing what the ones before it wrote; a key is
 * written at most once (two writes of one key are refused, as etcd does).
 */
import { type KeyRange, compareKeys, keyProblem, rangeProblem } from "./keys.ts";

/** What the KV holds at a key: its value, and the revisions that made it. */
export interface KvRecord {
  readonly value: Uint8Array;
  /** The revision of the write that created the key (since it was last deleted). */
  readonly createRevision: number;
  /** The revision of its last write. */
  readonly modRevision: number;
  /** Writes since it was created: 1 at creation. */
  readonly version: number;
}

/** A compare of a transaction: a key's field against a constant. A key that is absent has version,
 *  createRevision and modRevision 0, and no value: only `notEqual` holds of its value. */
export type Compare =
  | { readonly key: string; readonly target: "value"; readonly result: CompareResult; readonly value: Uint8Array }
  | { readonly key: string; readonly target: "version" | "createRevision" | "modRevision"; readonly result: CompareResult; readonly number: number };
export type CompareResult = "equal" | "notEqual" | "less" | "greater";

/** An op of a transaction. `delete` and `range` take one key (`to` absent) or [key, to): `key` ""
 *  is the start of the key space and `to` "" its end (so `{ key: "", to: "" }` is every key). */
export type KvOp =
  | { readonly op: "put"; readonly key: string; readonly value: Uint8Array }
  | { readonly op: "delete"; readonly key: string; readonly to?: string }
  | { readonly op: "range"; readonly key: string; readonly to?: string; readonly limit?: number };

export interface KvTxn {
  readonly compares: readonly Compare[];
  readonly success: readonly KvOp[];
  readonly failure: readonly KvOp[];
}

/** What an op did: a put or delete, the records before it; a range, the records it found. */
export type OpResponse =
  | { readonly op: "put"; readonly prev: KvRecord | undefined }
  | { readonly op: "delete"; readonly deleted: readonly (readonly [string, KvRecord])[] }
  | { readonly op: "range"; readonly found: readonly (readonly [string, KvRecord])[]; readonly more: boolean };

/** A transaction's result: which branch ran, the partition's revision after it, each op's response. */
export interface TxnResult {
  readonly succeeded: boolean;
  /** The partition's revision once applied: raised by one if the branch wrote anything. */
  readonly revision: number;
  readonly responses: readonly OpResponse[];
}

export const TXN_LIMITS = Object.freeze({
  comparesMax: 128,
  /** Ops in one branch. */
  opsMax: 128,
  valueBytesMax: 256 << 10,
  /** Keys one range op returns at most (its `limit` may ask for fewer). */
  rangeLimitMax: 10_000,
});

/** The range an op with `key` and optional `to` names (one key: [key, key + "\0")). */
export const opRange = (o: { readonly key: string; readonly to?: string }): KeyRange =>
  o.to === undefined ? { from: o.key, to: `${o.key}\u0000` } : { from: o.key, ...(o.to !== "" ? { to: o.to } : {}) };

/** Why a range op's `key` and `to` do not name a key or a range, or undefined. */
export const rangeOpProblem = (o: { readonly key: string; readonly to?: string }): string | undefined => (o.to === undefined ? keyProblem(o.key) : rangeProblem(opRange(o)));

/** Why `txn` is not a transaction this KV applies, or undefined. Checked before anything is appended. */
export function txnProblem(txn: KvTxn): string | undefined {
  if (!Array.isArray(txn.compares) || !Array.isArray(txn.success) || !Array.isArray(txn.failure)) return "a transaction has compares, success and failure lists";
  if (txn.compares.length > TXN_LIMITS.comparesMax) return `${txn.compares.length} compares (limit ${TXN_LIMITS.comparesMax})`;
  for (const c of txn.compares) {
    const p = compareProblem(c);
    if (p) return p;
  }
  for (const [branch, ops] of [
    ["success", txn.success],
    ["failure", txn.failure],
  ] as const) {
    if (ops.length > TXN_LIMITS.opsMax) return `${ops.length} ops in ${branch} (limit ${TXN_LIMITS.opsMax})`;
    const p = ops.map(opProblem).find((x) => x !== undefined) ?? twiceWritten(ops);
    if (p) return `${branch}: ${p}`;
  }
  return undefined;
}

function compareProblem(c: Compare): string | undefined {
  const k = keyProblem(c.key, "a compare's key");
  if (k) return k;
  if (!["equal", "notEqual", "less", "greater"].includes(c.result)) return `a compare's result must be equal, notEqual, less or greater (got ${String(c.result)})`;
  if (c.target === "value") return c.value instanceof Uint8Array ? undefined : "a value compare needs a value";
  if (c.target === "version" || c.target === "createRevision" || c.target === "modRevision") {
    return Number.isSafeInteger(c.number) && c.number >= 0 ? undefined : `a ${c.target} compare needs a non-negative integer (got ${String(c.number)})`;
  }
  return `a compare's target must be value, version, createRevision or modRevision (got ${String((c as { target: unknown }).target)})`;
}

function opProblem(o: KvOp): string | undefined {
  switch (o.op) {
    case "put":
      if (!(o.value instanceof Uint8Array)) return "a put needs a value";
      return keyProblem(o.key) ?? (o.value.length > TXN_LIMITS.valueBytesMax ? `a value of ${o.value.length} bytes (limit ${TXN_LIMITS.valueBytesMax})` : undefined);
    case "delete":
    case "range": {
      const p = rangeOpProblem(o);
      if (p) return p;
      if (o.op === "range" && o.limit !== undefined && !(Number.isSafeInteger(o.limit) && o.limit >= 1 && o.limit <= TXN_LIMITS.rangeLimitMax)) {
        return `a range's limit must be an integer from 1 to ${TXN_LIMITS.rangeLimitMax} (got ${o.limit})`;
      }
      return undefined;
    }
    default:
      return `an op must be put, delete or range (got ${String((o as { op: unknown }).op)})`;
  }
}

/** A key two writes of one branch touch (a put and a put, or a put inside a deleted range). */
function twiceWritten(ops: readonly KvOp[]): string | undefined {
  const writes = ops.filter((o) => o.op !== "range");
  for (let i = 0; i < writes.length; i++) {
    for (let j = i + 1; j < writes.length; j++) {
      const [a, b] = [writes[i]!, writes[j]!];
      if (overlap(a, b)) return `two writes of one key in a transaction (${JSON.stringify(a.key)} and ${JSON.stringify(b.key)})`;
    }
  }
  return undefined;
}

/** Whether two writes touch a key in common. */
function overlap(a: KvOp, b: KvOp): boolean {
  const [x, y] = [opRange(a), opRange(b)];
  const before = (from: string, to: string | undefined) => to === undefined || compareKeys(from, to) < 0;
  return before(x.from, y.to) && before(y.from, x.to);
}

/** The keys and ranges a transaction reads or writes: what a shard must have at hand to apply it. */
export function touched(txn: KvTxn): KeyRange[] {
  return [...txn.compares.map((c) => opRange({ key: c.key })), ...[...txn.success, ...txn.failure].map(opRange)];
}
