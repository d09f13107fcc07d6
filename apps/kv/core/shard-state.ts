/**
 * A KV shard's partition in memory (docs/ARCHITECTURE.md §4.5), pure: the rule node/shard-store.ts
 * applies a delivered write with, and the state the simulator's shards keep
 * (verify/sim/worlds/kv-shard.ts). Delivered rows are applied as they arrive (staged), in position
 * order, each above the applied position: a row that is a KV transaction (./records.ts) is applied
 * with `applyTxn` and its result kept by position; a commit entry (a part of a transaction across
 * partitions, ./cross.ts) likewise, once: the transactions committed here are kept from the
 * participant's scan start on, and a second commit entry of one is skipped, as is one below the scan
 * start (its transaction was applied before: every commit entry's scan start is at or below every
 * commit its partition has not applied yet; a restart may still decide it again, scanning whole
 * blocks from where its image left the scan start); a batch's transactions (./records.ts) each once by its client's idempotency key,
 * its result kept by that key in a session table (apps/smr's: a retry in a later batch is skipped,
 * its first result kept; one below what its client acknowledged too); any other row is skipped,
 * its position applied all the same. An **owner entry** of a map epoch above the shard's makes it the
 * shard's **owner** (a partition moved to another node); from then on a batch or a commit entry of
 * an older map epoch (appended by a node that has not heard of the move) is applied as nothing: its
 * position applied, no record, result or session changed. A write's **image** is what it makes durable (records, revision, applied position,
 * results) and what a restart loads; `readPosition` is the rule of a linearizable read.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { probe } from "../../../verify/runtime/probe.ts";
import { DecodeError } from "../../log/core/bytes.ts";
import { BEFORE_FIRST } from "../../logplayer/core/items.ts";
import type { KvRecord, TxnResult } from "./commands.ts";
import type { KeyRange } from "./keys.ts";
import { Sessions } from "../../smr/core/sessions.ts";
import { type KvOwner, decodeEntry } from "./records.ts";
import { decodeResult, encodeResult } from "./stored.ts";
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
  /** Transactions across partitions committed here, from `scanFrom` on. */
  readonly committed: readonly number[];
  /** Where this partition's participant scans from after a restart (the newest commit entry's). */
  readonly scanFrom: number;
  /** The session table: each client's floor and the results of its batched transactions from there on. */
  readonly sessions: readonly KvSession[];
  /** The owner entry of the highest map epoch applied (none: the partition never moved, epoch 0). */
  readonly owner?: KvOwner;
}

/** A client's session: results below `floor` are forgotten. */
export interface KvSession {
  readonly client: string;
  readonly floor: number;
  readonly results: readonly (readonly [number, Uint8Array])[];
}

/** Bounds of the session table: clients kept, and results kept per client (apps/smr's limits). */
const KV_SESSION_LIMITS = Object.freeze({ sessionsMax: 65_536, resultsPerClientMax: 16_384 });

/** A shard that has applied nothing. */
export const EMPTY_KV_IMAGE: KvImage = Object.freeze({ applied: BEFORE_FIRST, revision: 0, entries: [], results: new Map<number, TxnResult>(), committed: [], scanFrom: 0, sessions: [] });

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
  /** A commit entry's: its transaction, now committed here, and those forgotten (below the new scan start). */
  readonly commit?: { readonly txn: number; readonly forgotten: readonly number[] };
  /** A batched transaction's: its key, its result's bytes, its client's floor now, and the results
   *  the session table forgot meanwhile (of any client). */
  readonly proposal?: {
    readonly client: string;
    readonly seq: number;
    readonly result: Uint8Array;
    readonly floor: number;
    readonly forgotten: readonly (readonly [string, number])[];
  };
}

export class KvShardState {
  private readonly kv = new MemoryKv();
  private rev: number;
  private appliedAt: number;
  /** Each position's result (kept when `keepResults`: the simulator's; a node keeps its own, bounded). */
  private readonly results: Map<number, TxnResult>;
  /** The applied position of the last durable write. */
  private imaged: number;
  private readonly committedHere: Set<number>;
  private scanStart: number;
  private readonly sessions: Sessions;
  /** Results the session table forgot since the last applied proposal. */
  private forgotten: [string, number][] = [];
  private ownedBy: KvOwner | undefined;

  constructor(
    image: KvImage,
    private readonly keepResults = true,
  ) {
    for (const [key, record] of image.entries) this.kv.set(key, record);
    this.rev = image.revision;
    this.appliedAt = image.applied;
    this.imaged = image.applied;
    this.results = new Map(image.results);
    this.committedHere = new Set(image.committed);
    this.scanStart = image.scanFrom;
    this.sessions = new Sessions(KV_SESSION_LIMITS, (client, seq) => this.forgotten.push([client, seq]));
    for (const s of image.sessions) this.sessions.restore(s.client, s.floor, s.results);
    this.ownedBy = image.owner;
  }

  /** The owner entry of the highest map epoch applied (undefined: none, map epoch 0). */
  get owner(): KvOwner | undefined {
    return this.ownedBy;
  }
  /** The map epoch of the partition's owner as the log says: entries of older ones are applied as nothing. */
  get mapEpoch(): number {
    return this.ownedBy?.epoch ?? 0;
  }

  /** The result of client `client`'s batched transaction `seq`: undefined while not applied;
   *  `expired` below what the client acknowledged (its result is forgotten). */
  resultOf(client: string, seq: number): TxnResult | "expired" | undefined {
    const r = this.sessions.find(client, seq);
    if (r === undefined || r === "expired") return r;
    const result = decodeResult(r);
    assert(!("_tag" in result), () => `the result of ${client}#${seq} does not decode`);
    return result as TxnResult;
  }

  /** Where this partition's participant scans from after a restart. */
  get scanFrom(): number {
    return this.scanStart;
  }
  /** Whether transaction `txn` (across partitions) committed here. */
  committed(txn: number): boolean {
    return this.committedHere.has(txn);
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
      const entry = decodeEntry(row.data);
      if (entry instanceof DecodeError) {
        skipped++;
        continue;
      }
      if (entry.kind === "owner") {
        if (entry.owner.epoch > this.mapEpoch) this.ownedBy = entry.owner;
        continue;
      }
      // PLANTED BUG (verify/runtime/planted.ts) when on: an entry of a superseded map epoch is applied.
      if ((entry.kind === "txn" ? 0 : entry.epoch) < this.mapEpoch && !planted("applySuperseded")) {
        probe("kv.shard.superseded");
        continue;
      }
      if (entry.kind === "batch") {
        for (const p of entry.proposals) {
          const known = this.sessions.find(p.client, p.seq);
          // PLANTED BUG (verify/runtime/planted.ts) when on: a retry is applied again.
          if (known !== undefined && !(known !== "expired" && planted("applyRetryTwice"))) {
            // A retry (its first result kept), or below what its client acknowledged: not applied again.
            probe(known === "expired" ? "kv.shard.batchedBelowFloor" : "kv.shard.batchedRetrySkipped");
            continue;
          }
          changes = [];
          const result = applyTxn(tracked, this.rev, p.txn);
          this.rev = result.revision;
          const bytes = encodeResult(result);
          this.sessions.record(p.client, p.seq, p.ackedBelow, bytes);
          const forgotten = this.forgotten;
          this.forgotten = [];
          applied?.({ position: row.position, result, changes, proposal: { client: p.client, seq: p.seq, result: bytes, floor: this.sessions.floorOf(p.client), forgotten } });
        }
        continue;
      }
      // A commit entry of a transaction committed here, or below the scan start (committed, applied and
      // forgotten: a restart may decide it again, and its entry is appended again), is a repeat.
      const repeat = entry.kind === "commit" && (this.committedHere.has(entry.commit.txn) || entry.commit.txn < this.scanStart);
      // PLANTED BUG (verify/runtime/planted.ts) when on: a repeated commit entry is applied again.
      if (repeat && !planted("commitEntryTwice")) continue;
      changes = [];
      const result = applyTxn(tracked, this.rev, entry.kind === "txn" ? entry.txn : { compares: [], success: entry.commit.ops, failure: [] });
      this.rev = result.revision;
      if (this.keepResults) this.results.set(row.position, result);
      const commit = entry.kind === "commit" ? { txn: entry.commit.txn, forgotten: this.committedAt(entry.commit.txn, entry.commit.scanFrom) } : undefined;
      applied?.({ position: row.position, result, changes, ...(commit ? { commit } : {}) });
    }
    return skipped;
  }

  /** `txn` committed here, and the scan start is now at least `scanFrom`: returns the transactions
   *  forgotten (below it: a restart decides none of them again). */
  private committedAt(txn: number, scanFrom: number): number[] {
    this.committedHere.add(txn);
    if (scanFrom <= this.scanStart) return [];
    this.scanStart = scanFrom;
    const forgotten = [...this.committedHere].filter((t) => t < scanFrom);
    for (const t of forgotten) this.committedHere.delete(t);
    return forgotten;
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
    return { applied, revision, entries: this.kv.entries(), results: new Map(this.results), committed: [...this.committedHere], scanFrom: this.scanStart, sessions: this.sessions.list(), ...(this.ownedBy ? { owner: this.ownedBy } : {}) };
  }
}
