/**
 * Where a KV node's writes and reads meet the locks of transactions across partitions
 * (docs/ARCHITECTURE.md §4.5; the locks: apps/kv/core/book.ts).
 *
 * - A write of a partition (`admit`) waits until no key it touches is locked, and is then **on its
 *   way**: a transaction that locks one of its keys later waits (`drained`) until the write is
 *   applied, or can no longer land in the log, before it evaluates its compares.
 * - A linearizable read (`free`) waits until no key of its range is locked: a transaction that
 *   committed before the read began holds its locks until its part is applied.
 *
 * Waits never hold a lock, and locks never wait, so nothing here can deadlock; every wait is bounded
 * by its caller's signal.
 */
import { type KeyRange, inRange } from "../core/keys.ts";

/** A write on its way to the log. */
export interface OnItsWay {
  readonly ranges: readonly KeyRange[];
}

export class KeyGate {
  private readonly onItsWay = new Set<OnItsWay>();
  private waiters: (() => void)[] = [];

  constructor(
    /** A transaction holding a lock on a key of `range`, or undefined. */
    private readonly lockedIn: (range: KeyRange) => string | undefined,
  ) {}

  /** Writes on their way now. */
  get writesOnTheirWay(): number {
    return this.onItsWay.size;
  }

  /** Locks were released, or a write settled: every waiter looks again. */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once no key of `ranges` is locked. */
  async free(ranges: readonly KeyRange[], signal: AbortSignal): Promise<void> {
    while (this.locked(ranges)) await this.next(signal);
  }

  /** A write of `ranges`: once none is locked, it is on its way (in the same step, so a lock taken
   *  after it waits for it). Call `settled` once it is applied, or cannot land any more. */
  async admit(ranges: readonly KeyRange[], signal: AbortSignal): Promise<OnItsWay> {
    while (this.locked(ranges)) await this.next(signal);
    const w: OnItsWay = { ranges };
    this.onItsWay.add(w);
    return w;
  }

  settled(w: OnItsWay): void {
    if (this.onItsWay.delete(w)) this.wake();
  }

  /** Resolves once no write of a key of `keys` is on its way. */
  async drained(keys: readonly string[], signal: AbortSignal): Promise<void> {
    const touches = () => [...this.onItsWay].some((w) => w.ranges.some((r) => keys.some((k) => inRange(k, r))));
    while (touches()) await this.next(signal);
  }

  private locked(ranges: readonly KeyRange[]): boolean {
    return ranges.some((r) => this.lockedIn(r) !== undefined);
  }

  private next(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const abort = () => {
        this.waiters = this.waiters.filter((w) => w !== go);
        reject(signal.reason);
      };
      const go = () => {
        signal.removeEventListener("abort", abort);
        resolve();
      };
      signal.addEventListener("abort", abort, { once: true });
      this.waiters.push(go);
    });
  }
}
