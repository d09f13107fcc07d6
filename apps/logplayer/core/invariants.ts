/**
 * LogPlayer's invariants (docs/ARCHITECTURE.md §4.4): the four as pure functions
 * (`inOrderExactlyOnce`, `appliedMonotone`, `ackSound`, `fencedApplyNothing`), and one observer
 * that the unit tests and the model checker (verify/mc/models/logplayer.ts) feed with what they
 * see, calling them; each returns the violations it found.
 *
 *  - **in order, exactly once**: per shard, the durable sequence of rows is a prefix of the log
 *    filtered to that shard: no duplicate, no gap, no reordering, every row's data the entry's
 *    payload (checked at each durable write: the rows land in (applied, new applied] and are
 *    exactly the log's entries for the shard there);
 *  - **monotone**: a shard's durable applied position never decreases;
 *  - **acks are sound**: a player never holds an applied position above what the shard made durable;
 *  - **fencing**: a shard never applies an item of a batch whose epoch is below its own;
 *  - **safe trim**: the log is trimmed only below what every shard has durably applied;
 *  - **epochs are unique**: no two players hold the same epoch.
 * At the end (`complete`): every shard holds exactly the log filtered to it.
 */
import { bytesEqual } from "../../../verify/runtime/bytes.ts";
import { BEFORE_FIRST, type LogRecord, route } from "./items.ts";
import type { ShardWrite } from "./shard-core.ts";

/** The entries of `log` that go to `shard`, in order. */
export function filteredLog(log: Iterable<LogRecord>, shard: number, shards: number): LogRecord[] {
  return [...log].filter((r) => route(r, shards).includes(shard));
}

/** How the checks see the log: its entry at a position (undefined, or a record for no shard: a
 *  fill), and where it ends. */
export interface LogView {
  entry(position: number): LogRecord | undefined;
  /** One past the last slot known chosen (an entry, or a fill logged as a record for no shard). */
  readonly end: number;
}

/** Invariant 1, in order and exactly once: shard `s` of `shards`, having durably applied up to
 *  `from`, makes `w` durable. Its rows must be exactly the log's entries for `s` in
 *  (from, w.applied], in order, with the log's data, and w.applied must lie within the log. */
export function inOrderExactlyOnce(log: LogView, s: number, shards: number, from: number, w: ShardWrite): string[] {
  let r = 0;
  for (let p = from + 1; p <= w.applied; p++) {
    const entry = log.entry(p);
    const mine = entry !== undefined && route(entry, shards).includes(s);
    const row = w.rows[r];
    if (row?.position === p) {
      r++;
      if (!mine) return [`shard ${s}: applied position ${p}, which holds ${entry ? "no entry for it" : "no entry"}`];
      if (!bytesEqual(row.data, entry.payload)) return [`shard ${s}: the data applied at ${p} is not the log's`];
    } else if (mine) return [`shard ${s}: skipped its entry at position ${p} (applied ${from} → ${w.applied})`];
  }
  if (r < w.rows.length) return [`shard ${s}: rows at ${w.rows.slice(r).map((x) => x.position).join(",")} lie outside (${from}, ${w.applied}] or repeat`];
  if (w.applied >= log.end && w.applied > from) return [`shard ${s}: applied position ${w.applied} lies beyond the log's end ${log.end - 1}`];
  return [];
}

/** Invariant 2: a shard's durable applied position never decreases. */
export function appliedMonotone(s: number, before: number, after: number): string[] {
  return after < before ? [`shard ${s}: durable applied position went back from ${before} to ${after}`] : [];
}

/** Invariant 3: an ack never runs ahead of what the shard persisted (a player holding `acked`). */
export function ackSound(player: string, s: number, acked: number, durable: number): string[] {
  return acked > durable ? [`player ${player} holds shard ${s} at ${acked}, but the shard made only ${durable} durable`] : [];
}

/** Invariant 4: nothing from a fenced epoch is applied: shard `s` at epoch `shardEpoch` handled a
 *  batch of epoch `batchEpoch`, its applied position going from `before` to `after`. */
export function fencedApplyNothing(s: number, shardEpoch: number, batchEpoch: number, before: number, after: number): string[] {
  return batchEpoch < shardEpoch && after > before ? [`shard ${s} at epoch ${shardEpoch} applied items of fenced epoch ${batchEpoch} (${before} → ${after})`] : [];
}

export class DeliveryObserver {
  /** The log as far as it is known: entries by position (positions absent are fills). */
  private readonly log = new Map<number, LogRecord>();
  /** One past the last slot logged (an entry or a fill). */
  private logEnd = 0;
  /** One past the last entry logged (a fill is a record for no shard). */
  private entryEnd = 0;
  private readonly applied: number[];
  private readonly rows: number[];
  private readonly epochs = new Map<number, string>();

  constructor(private readonly shards: number) {
    this.applied = new Array<number>(shards).fill(BEFORE_FIRST);
    this.rows = new Array<number>(shards).fill(0);
  }

  /** What shard `s` has made durable. */
  durableApplied(s: number): number {
    return this.applied[s]!;
  }

  /** The log's entry at `record.position` (a fill: a record for no shard); every position below it not logged is a fill. */
  logged(record: LogRecord): void {
    this.log.set(record.position, record);
    this.logEnd = Math.max(this.logEnd, record.position + 1);
    if (record.keys.length > 0) this.entryEnd = Math.max(this.entryEnd, record.position + 1);
  }

  /** Shard `s` made `w` durable. */
  durable(s: number, w: ShardWrite): string[] {
    const from = this.applied[s]!;
    const view: LogView = { entry: (p) => this.log.get(p), end: this.logEnd };
    const bad = [...appliedMonotone(s, from, w.applied)];
    if (bad.length === 0) bad.push(...inOrderExactlyOnce(view, s, this.shards, from, w));
    if (bad.length > 0) return bad;
    this.applied[s] = w.applied;
    this.rows[s]! += w.rows.length;
    return [];
  }

  /** A player holds `applied` as shard `s`'s durable position. */
  acked(player: string, s: number, applied: number): string[] {
    return ackSound(player, s, applied, this.applied[s]!);
  }

  /** Shard `s` at epoch `shardEpoch` handled a batch of epoch `batchEpoch`, its applied position
   *  going from `before` to `after`. */
  batch(s: number, shardEpoch: number, batchEpoch: number, before: number, after: number): string[] {
    return fencedApplyNothing(s, shardEpoch, batchEpoch, before, after);
  }

  /** A player trimmed the log below `below`. */
  trimmed(below: number): string[] {
    const safe = Math.min(...this.applied) + 1;
    return below > safe ? [`the log was trimmed below ${below}, but a shard has applied only up to ${safe - 1}`] : [];
  }

  /** `player` holds `epoch`. */
  claimed(epoch: number, player: string): string[] {
    const other = this.epochs.get(epoch);
    if (other !== undefined && other !== player) return [`epoch ${epoch} is held by ${other} and ${player}`];
    this.epochs.set(epoch, player);
    return [];
  }

  /** Has every shard applied everything logged? */
  caughtUp(): boolean {
    return this.applied.every((a) => a >= this.lastEntry());
  }

  /** The end check: every shard applied the whole log, so its rows are exactly its entries. */
  complete(): string[] {
    const bad: string[] = [];
    for (let s = 0; s < this.shards; s++) {
      const want = filteredLog(this.log.values(), s, this.shards).length;
      if (this.applied[s]! < this.lastEntry()) bad.push(`shard ${s} applied only up to ${this.applied[s]} of a log ending at ${this.lastEntry()}`);
      else if (this.rows[s] !== want) bad.push(`shard ${s} holds ${this.rows[s]} rows, not the ${want} entries for it`);
    }
    return bad;
  }

  /** A copy that goes its own way (the model checker branches on it). */
  clone(): DeliveryObserver {
    const c = Object.assign(Object.create(DeliveryObserver.prototype) as DeliveryObserver, this);
    Object.assign(c, { log: new Map(this.log), applied: [...this.applied], rows: [...this.rows], epochs: new Map(this.epochs) });
    return c;
  }

  private lastEntry(): number {
    return this.entryEnd - 1;
  }
}
