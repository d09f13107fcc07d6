/**
 * Sealing behind (docs/ARCHITECTURE.md §4.1, apps/log/README.md "Exactly-once"): a ready sequencer seals each
 * of its segments once every token of it is issued, `sealAfterMs` later (an appender still writing
 * there by then is fenced and settles its slot), one at a time, in order. What it has sealed goes
 * into each segment it claims: the sealed-below mark (a new owner seals only from there,
 * wor/core/segments.ts) and which sealed segments of the dedupe window hold entries (a new owner
 * reads back only those). Pure bookkeeping: the sequencer runs the seals.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import type { LogSegmentFields } from "./segments.ts";

/** An own segment whose tokens are all issued, waiting to be sealed. */
interface FullSegment {
  readonly segment: number;
  /** When its last token was issued (or its last seal failed). */
  readonly at: number;
}

export class SealBehind {
  /** Every segment below this one is sealed. */
  private below = 0;
  /** Own segments fully issued and not yet sealed, oldest first (the first is `below`). */
  private full: FullSegment[] = [];
  /** Of the sealed segments from `entriesFrom` on, those that hold an entry (ascending). */
  private entriesFrom = 0;
  private entrySegments: number[] = [];
  private sealing = false;

  constructor(
    private readonly sealAfterMs: number,
    /** Entry-holding segments the claims list (the dedupe window). */
    private readonly dedupeSegments: number,
  ) {}

  get sealedBelow(): number {
    return this.below;
  }

  /** A recovery sealed everything through `last`; of the segments from `from` on, `entrySegments` hold entries. */
  recovered(last: number, from: number, entrySegments: readonly number[]): void {
    this.stop();
    this.below = last + 1;
    this.entriesFrom = from;
    this.entrySegments = [...entrySegments];
  }

  /** Seals in flight or waiting are dropped (the sequencer recovers or stands by). */
  stop(): void {
    this.full = [];
    this.sealing = false;
  }

  /** Every token of `segment` was issued, at `at`. */
  issued(segment: number, at: number): void {
    this.full.push({ segment, at });
  }

  /** When the next seal is due (none while one runs, or none waits). */
  due(): number | undefined {
    const first = this.full[0];
    return first && !this.sealing ? first.at + this.sealAfterMs : undefined;
  }

  /** The segment to seal now, if one is due at `now`; it is being sealed until `sealed` or `failed`. */
  start(now: number): number | undefined {
    const due = this.due();
    if (due === undefined || due > now) return undefined;
    const { segment } = this.full[0]!;
    assert(segment === this.below, () => `segment ${segment} is the next to seal (${this.below})`);
    this.sealing = true;
    return segment;
  }

  sealed(segment: number, holdsEntries: boolean): void {
    this.sealing = false;
    this.full.shift();
    this.below = segment + 1;
    if (holdsEntries) this.entrySegments.push(segment);
  }

  /** The seal of `segment` failed: try again `sealAfterMs` after `now` (a recovery would seal it anyway). */
  failed(segment: number, now: number): void {
    this.sealing = false;
    this.full[0] = { segment, at: now };
  }

  /** What the next claim records: the mark, and which sealed segments of the dedupe window behind it hold entries. */
  claimMeta(): Required<Pick<LogSegmentFields, "entriesFrom" | "entrySegments">> & { readonly sealedBelow: number } {
    if (this.entrySegments.length > this.dedupeSegments) {
      this.entrySegments = this.entrySegments.slice(-this.dedupeSegments);
      this.entriesFrom = this.entrySegments[0]!;
    }
    return { sealedBelow: this.below, entriesFrom: this.entriesFrom, entrySegments: [...this.entrySegments] };
  }
}
