/**
 * A partition's state and how a transaction changes it (docs/ARCHITECTURE.md §4.5), pure and
 * deterministic: equal states and equal transactions give equal states and results, so every shard
 * of a partition that applies its log in order holds the same state, and a replay rebuilds it.
 *
 * The **revision** is the partition's count of transactions that wrote something (etcd's): a
 * transaction that changes nothing (a failed compare whose failure branch only reads, a delete of an
 * absent key) leaves it, and every key it writes gets the new one as its `modRevision`.
 */
import { type Compare, type KvOp, type KvRecord, type KvTxn, type OpResponse, TXN_LIMITS, type TxnResult, opRange } from "./commands.ts";
import { type KeyRange, compareKeys } from "./keys.ts";

/** Where a partition's records are: a shard's storage, or memory (`MemoryKv`). */
export interface KvStore {
  get(key: string): KvRecord | undefined;
  /** The records of the keys in `range`, in key order, at most `limit` of them. */
  range(range: KeyRange, limit: number): (readonly [string, KvRecord])[];
  /** Write (`record`) or delete (undefined) a key. */
  set(key: string, record: KvRecord | undefined): void;
}

/** Apply `txn` to `store`, whose revision is `revision`. */
export function applyTxn(store: KvStore, revision: number, txn: KvTxn): TxnResult {
  const succeeded = txn.compares.every((c) => holds(c, store.get(c.key)));
  const next = revision + 1;
  let wrote = false;
  const responses = (succeeded ? txn.success : txn.failure).map((o): OpResponse => {
    const r = applyOp(store, next, o);
    if ((r.op === "put" || (r.op === "delete" && r.deleted.length > 0)) && !wrote) wrote = true;
    return r;
  });
  return { succeeded, revision: wrote ? next : revision, responses };
}

function applyOp(store: KvStore, revision: number, o: KvOp): OpResponse {
  switch (o.op) {
    case "put": {
      const prev = store.get(o.key);
      store.set(o.key, { value: o.value, createRevision: prev?.createRevision ?? revision, modRevision: revision, version: (prev?.version ?? 0) + 1 });
      return { op: "put", prev };
    }
    case "delete": {
      const found = store.range(opRange(o), Number.POSITIVE_INFINITY);
      for (const [key] of found) store.set(key, undefined);
      return { op: "delete", deleted: found };
    }
    case "range": {
      const limit = o.limit ?? TXN_LIMITS.rangeLimitMax;
      const found = store.range(opRange(o), limit + 1);
      return { op: "range", found: found.slice(0, limit), more: found.length > limit };
    }
  }
}

/** Whether compare `c` holds of `record` (undefined: the key is absent). */
export function holds(c: Compare, record: KvRecord | undefined): boolean {
  if (c.target === "value") {
    if (!record) return c.result === "notEqual";
    return meets(compareBytes(record.value, c.value), c.result);
  }
  const actual = record ? record[c.target] : 0;
  return meets(actual < c.number ? -1 : actual > c.number ? 1 : 0, c.result);
}

const meets = (order: number, result: Compare["result"]): boolean =>
  result === "equal" ? order === 0 : result === "notEqual" ? order !== 0 : result === "less" ? order < 0 : order > 0;

/** -1, 0 or 1: `a` before, equal to or after `b`, byte by byte. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** A partition's records in memory, in key order (the simulator's shards, tests, the spec's checks). */
export class MemoryKv implements KvStore {
  private readonly records = new Map<string, KvRecord>();
  /** The keys, sorted (`compareKeys`). */
  private readonly keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }
  get(key: string): KvRecord | undefined {
    return this.records.get(key);
  }
  range(range: KeyRange, limit: number): (readonly [string, KvRecord])[] {
    const out: (readonly [string, KvRecord])[] = [];
    for (let i = this.firstAtOrAfter(range.from); i < this.keys.length && out.length < limit; i++) {
      const key = this.keys[i]!;
      if (range.to !== undefined && compareKeys(key, range.to) >= 0) break;
      out.push([key, this.records.get(key)!]);
    }
    return out;
  }
  set(key: string, record: KvRecord | undefined): void {
    const had = this.records.has(key);
    if (record) {
      this.records.set(key, record);
      if (!had) this.keys.splice(this.firstAtOrAfter(key), 0, key);
    } else if (had) {
      this.records.delete(key);
      this.keys.splice(this.firstAtOrAfter(key), 1);
    }
  }
  /** Every record, in key order. */
  entries(): (readonly [string, KvRecord])[] {
    return this.range({ from: "" }, Number.POSITIVE_INFINITY);
  }

  private firstAtOrAfter(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
