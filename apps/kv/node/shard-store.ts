/**
 * A KV partition's storage shard (docs/ARCHITECTURE.md §4.5) on classic-level: a LogPlayer
 * `DeliveryStore` (apps/logplayer/node/shard-server.ts) that **applies** the delivered entries, KV
 * transactions (../core/records.ts), instead of keeping rows (its `Read` is UNIMPLEMENTED).
 *
 * The whole partition is in memory (a `KvShardState`, as the simulator's shards keep it), loaded on `open`. Rows
 * are applied as they arrive (`stage`), before they are durable: the log is the commit point, so a
 * delivered transaction is chosen already, and reads, results and watches need not wait for a sync.
 * A row that is not a KV transaction is skipped (counted; its position counts as applied). Each
 * write is ONE synced batch of the records its rows changed, their changes (for watches), their results (the last `resultsKept`
 * positions' kept, older ones deleted in the same batch) and the state; only its completion mints
 * the receipt that releases the shard's acks (paxos/held.ts). A failed write leaves memory ahead of
 * the disk: the store refuses everything from then on (a restart replays from what is durable).
 *
 * Layout (keys utf8): "k:" + key → its record; "r:" + position (16 digits) → the result of the
 * transaction there (both ../core/stored.ts); "x:" + txn (16 digits) → "" for each transaction across
 * partitions committed here (from the participant's scan start on); "e:" + revision (16 digits) →
 * the changes of one write, for watches resuming after a restart (./shard-changes.ts); "state" (./shard-layout.ts) →
 * JSON {kv: 1, applied, epoch, binding?, revision, scanFrom, owner?}; "holds" → which partition of which KV it is.
 */
import type { KvOwner } from "../core/records.ts";
import { ClassicLevel } from "classic-level";
import { type Receipt, mintReceipt } from "../../../paxos/held.ts";
import { assert } from "../../../verify/runtime/assert.ts";
import { DecodeError } from "../../log/core/bytes.ts";
import type { Row, ShardDurable, ShardWrite } from "../../logplayer/core/shard-core.ts";
import type { DeliveryStore } from "../../logplayer/node/shard-server.ts";
import type { KvRecord, TxnResult } from "../core/commands.ts";
import type { KeyRange } from "../core/keys.ts";
import type { KvEvent } from "../core/messages.ts";
import { type Applied, type KvImage, KvShardState } from "../core/shard-state.ts";
import { decodeResult, encodeRecord, encodeResult } from "../core/stored.ts";
import { ShardChanges } from "./shard-changes.ts";
import { KvShardStoreDamaged, type LoadedChanges, type Op, STATE_KEY, committedKey, encodeState, floorKey, loadShard, plain, recordKey, resultKey, sessionResultKey } from "./shard-layout.ts";

type Db = ClassicLevel<string, Uint8Array>;

export interface KvShardOptions {
  /** Positions (the last applied) whose results are kept durable: 65,536. */
  readonly resultsKept?: number;
  /** Results also kept in memory (the latest durable ones; those not yet durable always): 4,096. */
  readonly resultsInMemory?: number;
  /** Changes kept (in memory, and on disk across restarts) for watches resuming from a past revision: 65,536. */
  readonly eventsKept?: number;
  /** What the store holds ("partition 0 of KV kv (log kv-p0)"): recorded by its first open, and a
   *  later open naming anything else is refused (a node started on another's data directory). */
  readonly holds?: string;
}

const DEFAULTS = Object.freeze({ resultsKept: 65_536, resultsInMemory: 4_096, resultsInMemoryBytes: 16 << 20, eventsKept: 65_536 });

const utf8 = new TextEncoder();
const NOTHING = new Uint8Array(0);

/** What the rows applied since the last write changed, for the next write to make durable. */
const newStaged = () => ({
  records: new Map<string, KvRecord | undefined>(),
  results: [] as [number, Uint8Array][],
  committed: new Map<number, boolean>(),
  /** Session keys (a result, a floor) → their bytes (undefined: forgotten). */
  sessions: new Map<string, Uint8Array | undefined>(),
});

interface Waiter {
  readonly position: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class KvShardStore implements DeliveryStore {
  /** The partition in memory, applying staged rows (the simulator's shards run the same, ../core/shard-state.ts). */
  private readonly mem: KvShardState;
  private readonly kept: number;
  private readonly inMemory: number;
  private writes = 0;
  private skippedRows = 0;
  /** Positions whose result is on disk, ascending, from `storedHead` on. */
  private stored: number[] = [];
  private storedHead = 0;
  /** Recent results, by position ascending (insertion order). */
  private readonly recent = new Map<number, { readonly result: TxnResult; readonly bytes: number }>();
  private recentBytes = 0;
  private waiters: Waiter[] = [];
  /** What rows applied since the last write changed, for the next write to make durable. */
  private staged = newStaged();
  /** The latest changes (loaded back, and applied since), the oldest dropped past `eventsKept`; the watches. */
  private readonly changes: ShardChanges;
  /** Why the store serves nothing more (a failed write, or closed). */
  private broken: Error | undefined;
  /** Hears of an owner entry that raised the map epoch, once applied (its node may be superseded). */
  onOwner: ((owner: KvOwner) => void) | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly db: Db,
    readonly dir: string,
    /** What is durable now. */
    public state: ShardDurable,
    image: KvImage,
    changes: LoadedChanges,
    options: KvShardOptions,
  ) {
    const revision = image.revision;
    this.mem = new KvShardState(image, false);
    this.kept = options.resultsKept ?? DEFAULTS.resultsKept;
    this.inMemory = options.resultsInMemory ?? DEFAULTS.resultsInMemory;
    this.changes = new ShardChanges(changes, revision, options.eventsKept ?? DEFAULTS.eventsKept);
    assert(Number.isSafeInteger(this.kept) && this.kept >= 1 && Number.isSafeInteger(this.inMemory) && this.inMemory >= 0, "results kept ≥ 1, in memory ≥ 0");
  }

  /** Open (creating) the store at `dir` and load the partition into memory. */
  static async open(dir: string, options: KvShardOptions = {}): Promise<KvShardStore> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
    await db.open();
    try {
      const { state, image, stored, changes } = await loadShard(db, dir, options.holds, options.eventsKept ?? DEFAULTS.eventsKept);
      const store = new KvShardStore(db, dir, state, image, changes, options);
      store.stored.push(...stored);
      return store;
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** The receipt for what `open` loaded (durable already). */
  get loaded(): Receipt {
    return mintReceipt(0);
  }
  /** The partition's revision, as applied in memory. */
  get revision(): number {
    return this.mem.revision;
  }
  /** The highest position applied in memory (-1: none); at least `state.applied`. */
  get applied(): number {
    return this.mem.applied;
  }
  /** Keys the partition holds; delivered rows that were not KV transactions (skipped) since it opened. */
  get keys(): number {
    return this.mem.size;
  }
  get skipped(): number {
    return this.skippedRows;
  }

  /** Where the partition's participant scans from after a restart (carried by commit entries). */
  get scanFrom(): number {
    return this.mem.scanFrom;
  }
  /** The owner entry of the highest map epoch applied (undefined: none, map epoch 0). */
  get owner(): KvOwner | undefined {
    return this.mem.owner;
  }
  /** The map epoch of the partition's owner as its log says (0: it never moved). */
  get mapEpoch(): number {
    return this.mem.mapEpoch;
  }
  /** Whether transaction `txn` (across partitions) committed here (known from the scan start on). */
  committed(txn: number): boolean {
    return this.mem.committed(txn);
  }

  get(key: string): KvRecord | undefined {
    this.usable();
    return this.mem.get(key);
  }
  /** The records of the keys in `range`, in key order, at most `limit`. */
  range(range: KeyRange, limit: number): (readonly [string, KvRecord])[] {
    this.usable();
    return this.mem.range(range, limit);
  }

  /** Apply the rows not applied yet, in memory, at once (the shard server stages them as they
   *  arrive; they are its next write's): records, revision, results, waiters and watches. */
  stage(rows: readonly Row[]): void {
    this.usable();
    const before = this.mem.applied;
    const epoch = this.mem.mapEpoch;
    const events: KvEvent[] = [];
    this.skippedRows += this.mem.stage(rows, (a) => this.note(a, events));
    if (this.mem.applied === before) return;
    this.wake();
    this.changes.publish(events, this.mem.revision);
    this.ownerNews(epoch);
  }

  /** Make `w` durable in one synced batch (its rows applied first if they were not staged): the
   *  records they changed, their results, the state; the receipt proves it. */
  async write(w: ShardWrite): Promise<Receipt> {
    this.usable();
    try {
      const events: KvEvent[] = [];
      const epoch = this.mem.mapEpoch;
      this.skippedRows += this.mem.write(w.rows, w.applied, (a) => this.note(a, events));
      this.wake();
      this.changes.publish(events, this.mem.revision);
      this.ownerNews(epoch);
      const durable = this.mem.durable();
      const state: ShardDurable = { applied: durable.applied, epoch: w.epoch, ...(w.binding ? { binding: w.binding } : {}) };
      const { records, results, committed, sessions } = this.staged;
      this.staged = newStaged();
      const low = w.applied - this.kept;
      const ops: Op[] = [];
      for (const [position, bytes] of results) {
        if (position <= low) continue;
        ops.push({ type: "put", key: resultKey(position), value: bytes });
        this.stored.push(position);
      }
      for (const [key, value] of sessions) ops.push(value ? { type: "put", key, value } : { type: "del", key });
      for (const [txn, held] of committed) ops.push(held ? { type: "put", key: committedKey(txn), value: NOTHING } : { type: "del", key: committedKey(txn) });
      for (const [key, record] of records) ops.push(record ? { type: "put", key: recordKey(key), value: encodeRecord(record) } : { type: "del", key: recordKey(key) });
      for (; this.storedHead < this.stored.length && this.stored[this.storedHead]! <= low; this.storedHead++) ops.push({ type: "del", key: resultKey(this.stored[this.storedHead]!) });
      if (this.storedHead > 1_024 && this.storedHead * 2 > this.stored.length) {
        this.stored = this.stored.slice(this.storedHead);
        this.storedHead = 0;
      }
      ops.push(...this.changes.writeOps());
      ops.push({ type: "put", key: STATE_KEY, value: encodeState({ ...state, revision: durable.revision, scanFrom: this.mem.scanFrom, ...(this.mem.owner ? { owner: this.mem.owner } : {}) }) });
      await this.db.batch(ops, { sync: true });
      this.state = state;
    } catch (e) {
      this.fail(e as Error);
      throw e;
    }
    this.forget();
    return mintReceipt(++this.writes);
  }

  /** A transaction applied in memory: what the next write makes durable, its result, its events. */
  private note(a: Applied, events: KvEvent[]): void {
    for (const [key, record] of a.changes) {
      this.staged.records.set(key, record);
      events.push({ key, revision: a.result.revision, ...(record ? { record } : {}) });
    }
    if (a.commit) {
      this.staged.committed.set(a.commit.txn, true);
      for (const t of a.commit.forgotten) this.staged.committed.set(t, false);
    }
    if (a.proposal) {
      // A batched transaction's result is kept by its key, in the session table, not by position.
      const { client, seq, result, floor, forgotten } = a.proposal;
      for (const [c, s] of forgotten) this.staged.sessions.set(sessionResultKey(c, s), undefined);
      this.staged.sessions.set(sessionResultKey(client, seq), result);
      this.staged.sessions.set(floorKey(client), utf8.encode(String(floor)));
      return;
    }
    const bytes = encodeResult(a.result);
    this.remember(a.position, a.result, bytes.length);
    this.staged.results.push([a.position, bytes]);
  }

  /** Resolves once the position `position` is applied in memory; rejects if the store fails, closes,
   *  or `signal` aborts (the caller bounds the wait). */
  whenApplied(position: number, signal?: AbortSignal): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.mem.applied >= position) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const abort = () => {
        this.waiters = this.waiters.filter((x) => x !== waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        position,
        resolve: () => {
          signal?.removeEventListener("abort", abort);
          resolve();
        },
        reject: (e) => {
          signal?.removeEventListener("abort", abort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** The result of client `client`'s batched transaction `seq` (`expired`: below what the client
   *  acknowledged; undefined: not applied). */
  resultOf(client: string, seq: number): TxnResult | "expired" | undefined {
    this.usable();
    return this.mem.resultOf(client, seq);
  }

  /** The result of the transaction at `position`, once applied: undefined if the entry there was
   *  no KV transaction (or went to another shard), or its result is no longer kept. */
  async resultAt(position: number, signal?: AbortSignal): Promise<TxnResult | undefined> {
    await this.whenApplied(position, signal);
    if (position <= this.mem.applied - this.kept) return undefined;
    const held = this.recent.get(position);
    if (held) return held.result;
    this.usable();
    const raw = await this.db.get(resultKey(position));
    if (raw === undefined) return undefined;
    const result = decodeResult(plain(raw));
    if (result instanceof DecodeError) throw new KvShardStoreDamaged(`KV shard store ${this.dir}: the result at position ${position} is malformed (${result.message})`);
    return result;
  }

  /** Everything the store holds durably, in key order, from one view of its database (which later
   *  writes do not change), in chunks of about `chunkBytes` (a snapshot: ./shard-snapshot.ts). */
  async *entries(chunkBytes: number): AsyncGenerator<[string, Uint8Array][]> {
    this.usable();
    const it = this.db.iterator();
    try {
      let chunk: [string, Uint8Array][] = [];
      let bytes = 0;
      for await (const [key, value] of it) {
        chunk.push([key, plain(value)]);
        bytes += key.length + value.length;
        if (bytes < chunkBytes) continue;
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      if (chunk.length > 0) yield chunk;
    } finally {
      await it.close();
    }
  }

  /** Watch `range` from revision `fromRevision` on (0: from the next): ./shard-changes.ts `watch`. */
  watch(range: KeyRange, fromRevision: number, deliver: (events: KvEvent[], revision: number) => void, end: (reason: Error) => void): (() => void) | string {
    this.usable();
    return this.changes.watch(range, fromRevision, this.mem.revision, deliver, end);
  }

  /** Close the store; waiters are rejected. */
  close(): Promise<void> {
    if (!this.closing) {
      this.broken ??= new Error(`KV shard store ${this.dir} is closed`);
      this.changes.endAll(this.broken);
      this.rejectWaiters();
      this.closing = this.db.close();
    }
    return this.closing;
  }

  private usable(): void {
    if (this.broken) throw this.broken;
  }

  private fail(e: Error): void {
    this.broken ??= new Error(`KV shard store ${this.dir}: a write failed (memory is ahead of the disk; reopen the store): ${e.message}`);
    this.changes.endAll(this.broken);
    this.rejectWaiters();
  }

  private rejectWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.broken);
  }

  /** Tell `onOwner` if the map epoch rose from `before`. */
  private ownerNews(before: number): void {
    const owner = this.mem.owner;
    if (owner && owner.epoch > before) this.onOwner?.(owner);
  }

  private wake(): void {
    if (!this.waiters.some((w) => w.position <= this.mem.applied)) return;
    const ready = this.waiters.filter((w) => w.position <= this.mem.applied);
    this.waiters = this.waiters.filter((w) => w.position > this.mem.applied);
    for (const w of ready) w.resolve();
  }

  private remember(position: number, result: TxnResult, bytes: number): void {
    this.recent.set(position, { result, bytes });
    this.recentBytes += bytes;
    this.forget();
  }

  /** Drop the oldest results from memory beyond its bounds, and those out of the kept window;
   *  never one not yet durable (its result is on no disk yet). */
  private forget(): void {
    const low = this.mem.applied - this.kept;
    for (const [position, { bytes }] of this.recent) {
      const over = this.recent.size > this.inMemory || this.recentBytes > DEFAULTS.resultsInMemoryBytes;
      if (position > low && !(over && position <= this.state.applied)) break;
      this.recent.delete(position);
      this.recentBytes -= bytes;
    }
  }
}
