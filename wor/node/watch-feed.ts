/**
 * One `watch(space, from)` on the client: merges what every acceptor pushes — values it learned are
 * chosen (its commit notices) and values it accepted (chosen once a quorum accepted one at one
 * ballot, wor/core/quorum-learner.ts) — drops duplicates, and hands each chosen value once to an
 * async iterator with a bounded buffer. Pushes are a fast path, not the record: the indexes it
 * remembers as delivered are bounded (`deliveredMax`; below the forgotten ones pushes are ignored),
 * and what a watcher misses it reads (apps/log's subscription does).
 */
import type { Ballot } from "../../paxos/ballot.ts";
import { QuorumLearner } from "../core/quorum-learner.ts";

const WATCH_FEED_LIMITS = Object.freeze({
  /** Delivered indexes remembered (to drop repeats); past it the lower half is forgotten. */
  deliveredMax: 65_536,
});

export interface Watched {
  readonly index: number;
  readonly value: Uint8Array;
}

export class WatchFeed implements AsyncIterableIterator<Watched> {
  private readonly buffer: Watched[] = [];
  private readonly delivered = new Set<number>();
  /** Every index below it counts as delivered (forgotten from `delivered`). */
  private floor: number;
  private readonly learner: QuorumLearner;
  private waiter: { resolve: (r: IteratorResult<Watched>) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private ended = false;

  constructor(
    readonly from: number,
    private readonly bufferMax: number,
    private readonly onClose: () => void,
    /** Acceptors that make a quorum. */
    quorum = 1,
    private readonly deliveredMax: number = WATCH_FEED_LIMITS.deliveredMax,
  ) {
    this.floor = from;
    this.learner = new QuorumLearner(quorum);
  }

  /** Acceptor `acceptor` accepted `value` at `ballot` (durably): delivered once a quorum said so. */
  accepted(acceptor: number, index: number, ballot: Ballot, value: Uint8Array): void {
    if (this.ended || index < this.floor || this.delivered.has(index)) return;
    const chosen = this.learner.heard(acceptor, index, ballot, value);
    if (chosen) this.push(index, chosen);
  }

  /** A value some acceptor learned is chosen. */
  push(index: number, value: Uint8Array): void {
    if (this.ended || index < this.floor || this.delivered.has(index)) return;
    this.learner.forget(index);
    this.remember(index);
    const item = { index, value };
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    if (this.buffer.length >= this.bufferMax) {
      this.fail(new Error(`watcher fell ${this.bufferMax} values behind; watch again from its position`));
      return;
    }
    this.buffer.push(item);
  }

  fail(error: Error): void {
    if (this.ended) return;
    this.failure = error;
    this.finish();
  }

  /** The values pushed and not yet taken, taken now (without waiting). */
  takeBuffered(): Watched[] {
    return this.buffer.splice(0);
  }

  next(): Promise<IteratorResult<Watched>> {
    const item = this.buffer.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<Watched>> {
    this.failure = undefined;
    this.buffer.length = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Watched> {
    return this;
  }

  private remember(index: number): void {
    this.delivered.add(index);
    if (this.delivered.size <= this.deliveredMax) return;
    const sorted = [...this.delivered].sort((a, b) => a - b);
    const keep = sorted.length >> 1;
    this.floor = sorted[sorted.length - keep]!;
    for (const i of sorted.slice(0, sorted.length - keep)) this.delivered.delete(i);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose();
    const w = this.waiter;
    this.waiter = undefined;
    if (w && this.failure) w.reject(this.failure);
    else if (w) w.resolve({ value: undefined, done: true });
  }
}
