/**
 * A KV shard's partition in memory (docs/ARCHITECTURE.md §4.5), pure: the rule node/shard-store.ts
 * applies a delivered write with, and the state the simulator's shards keep
 * (verify/sim/worlds/kv-shard.ts). Delivered rows are applied as they arrive (staged), in position
 * order, each above the applied position: a row that is a KV transaction (./records.ts) is applied
 * with `applyTxn` and its result kept by position; any other row is skipped, its position applied all
 * the same. A write's **image** is what it makes durable (records, revision, applied position,
 * results) and what a restart loads; `readPosition` is the rule of a linearizable read.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { DecodeError } from "../../log/core/bytes.ts";
import { BEFORE_FIRST } from "../../logplayer/core/items.ts";
import type { KvRecord, TxnResult } from "./commands.ts";
import type { KeyRange } from "./keys.ts";
import { decodeTxn } from "./records.ts";
import { type KvStore, MemoryKv, applyTxn } from "./state.ts";

/** What a shard's durable write holds, and what a restart loads. */
export interface KvImage {
  /** The log applied up to here (BEFORE_FIRST: nothing). */
  readonly applied: number;
  readonly revision: number;
  /** Every record, in key order. */
  readonly entries: readonly (readonly [string, KvRecord])[];
  /** The result of each position applied that held a KV transaction. */
  readonly results: ReadonlyMap<number, TxnResult>;
}

/** A shard that has applied nothing. */
export const EMPTY_KV_IMAGE: KvImage = Object.freeze({ applied: BEFORE_FIRST, revision: 0, entries: [], results: new Map<number, TxnResult>() });

/**
 * The position a linearizable read waits for its shard to have applied, given the log's tail (its
 * next slot: every append acknowledged before the read began is below it): the last slot below it.
 */
export const readPosition = (tail: number): number =>
  // PLANTED BUG (verify/runtime/planted.ts) when on: the read waits for nothing (answers at once, maybe stale).
  planted("staleRead") ? BEFORE_FIRST : tail - 1;

/** A transaction a shard applied: its position, result and the records it changed (undefined: deleted). */
export interface Applied {
  readonly position: number;
  readonly result: TxnResult;
  readonly changes: readonly (readonly [string, KvRecord | undefined])[];
}

export class KvShardState {
  private readonly kv = new MemoryKv();
  private rev: number;
  private appliedAt: number;
  /** Each position's result (kept when `keepResults`: the simulator's; a node keeps its own, bounded). */
  private readonly results: Map<number, TxnResult>;
  /** The applied position of the last durable write. */
  private imaged: number;

  constructor(
    image: KvImage,
    private readonly keepResults = true,
  ) {
    for (const [key, record] of image.entries) this.kv.set(key, record);
    this.rev = image.revision;
    this.appliedAt = image.applied;
    this.imaged = image.applied;
    this.results = new Map(image.results);
  }

  /** The log applied up to here (BEFORE_FIRST: nothing). */
  get applied(): number {
    return this.appliedAt;
  }
  get revision(): number {
    return this.rev;
  }
  get size(): number {
    return this.kv.size;
  }
  get(key: string): KvRecord | undefined {
    return this.kv.get(key);
  }
  /** The records of the keys in `range`, in key order, at most `limit`. */
  range(range: KeyRange, limit: number): (readonly [string, KvRecord])[] {
    return this.kv.range(range, limit);
  }
  /** Every record, in key order. */
  entries(): (readonly [string, KvRecord])[] {
    return this.kv.entries();
  }
  /** The result of the transaction at `position`, once applied (undefined: no KV transaction there, or not kept). */
  resultAt(position: number): TxnResult | undefined {
    return this.results.get(position);
  }

  /** Apply the rows not applied yet, in position order (a shard stages the rows of its next write
   *  as they arrive, so those at or below its applied position were applied already); `applied`
   *  hears of each transaction. Returns how many rows were not KV transactions (skipped). */
  stage(rows: readonly { readonly position: number; readonly data: Uint8Array }[], applied?: (a: Applied) => void): number {
    // Rows come in position order, the ones applied first: start at the first one not applied.
    let lo = 0;
    for (let hi = rows.length; lo < hi; ) {
      const mid = (lo + hi) >>> 1;
      [lo, hi] = rows[mid]!.position <= this.appliedAt ? [mid + 1, hi] : [lo, mid];
    }
    let skipped = 0;
    let changes: [string, KvRecord | undefined][] = [];
    const tracked: KvStore = {
      get: (key) => this.kv.get(key),
      range: (range, limit) => this.kv.range(range, limit),
      set: (key, record) => {
        this.kv.set(key, record);
        changes.push([key, record]);
      },
    };
    for (let i = lo; i < rows.length; i++) {
      const row = rows[i]!;
      this.appliedAt = row.position;
      const txn = decodeTxn(row.data);
      if (txn instanceof DecodeError) {
        skipped++;
        continue;
      }
      changes = [];
      const result = applyTxn(tracked, this.rev, txn);
      this.rev = result.revision;
      if (this.keepResults) this.results.set(row.position, result);
      applied?.({ position: row.position, result, changes });
    }
    return skipped;
  }

  /** A write of `rows` up to `applied` goes to the storage: its rows are applied (those not staged
   *  yet) and the state stands at `applied` (positions past its last row held nothing for this
   *  shard). Returns how many rows were skipped. */
  write(rows: readonly { readonly position: number; readonly data: Uint8Array }[], applied: number, each?: (a: Applied) => void): number {
    const skipped = this.stage(rows, each);
    assert(applied >= this.appliedAt, () => `a write's applied position ${applied} below ${this.appliedAt}`);
    this.appliedAt = applied;
    return skipped;
  }

  /** The applied position and revision a durable write of the state holds now (a restart resumes there). */
  durable(): { readonly applied: number; readonly revision: number } {
    // PLANTED BUG (verify/runtime/planted.ts) when on: the write names the applied position of the
    // write before, with the records of now; a restart from it applies the rows between again.
    const applied = planted("applyTwice") ? this.imaged : this.appliedAt;
    this.imaged = this.appliedAt;
    return { applied, revision: this.rev };
  }

  /** Everything a durable write holds now (the simulator's disk keeps it whole). */
  image(): KvImage {
    const { applied, revision } = this.durable();
    return { applied, revision, entries: this.kv.entries(), results: new Map(this.results) };
  }
}
