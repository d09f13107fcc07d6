/**
 * One `watch(space, from)` on the client: merges what every acceptor pushes — values it learned are
 * chosen (its commit notices) and values it accepted (chosen once a quorum accepted one at one
 * ballot) — through a `WatchLearner` (wor/core/quorum-learner.ts: each index once, a bounded memory
 * of what was delivered), and hands each chosen value to an async iterator with a bounded buffer.
 * What a watcher misses it reads (apps/log's subscription does).
 */
import type { Ballot } from "../../paxos/ballot.ts";
import { WatchLearner } from "../core/quorum-learner.ts";

export interface Watched {
  readonly index: number;
  readonly value: Uint8Array;
}

export class WatchFeed implements AsyncIterableIterator<Watched> {
  private readonly buffer: Watched[] = [];
  private readonly learner: WatchLearner;
  private waiter: { resolve: (r: IteratorResult<Watched>) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private ended = false;

  constructor(
    readonly from: number,
    private readonly bufferMax: number,
    private readonly onClose: () => void,
    /** Acceptors that make a quorum. */
    quorum = 1,
  ) {
    this.learner = new WatchLearner(from, quorum);
  }

  /** Acceptor `acceptor` accepted `value` at `ballot` (durably): delivered once a quorum said so. */
  accepted(acceptor: number, index: number, ballot: Ballot, value: Uint8Array): void {
    if (this.ended) return;
    const chosen = this.learner.accepted(acceptor, index, ballot, value);
    if (chosen) this.deliver(index, chosen);
  }

  /** Acceptor `acceptor` learned the value it accepted at `ballot` is chosen (`value` undefined:
   *  the one it pushed this watch as accepted). */
  learned(acceptor: number, index: number, ballot: Ballot, value: Uint8Array | undefined): void {
    if (this.ended) return;
    const chosen = this.learner.learned(acceptor, index, ballot, value);
    if (chosen) this.deliver(index, chosen);
  }

  /** A value another feed delivered (a striped space's feed relays its groups' feeds). */
  relay(index: number, value: Uint8Array): void {
    if (!this.ended) this.deliver(index, value);
  }

  /** The client follows a new configuration (docs/ARCHITECTURE.md §3.5; of `quorum`): accepts heard so far count no more. */
  reconfigured(quorum?: number): void {
    this.learner.reconfigured(quorum);
  }

  private deliver(index: number, value: Uint8Array): void {
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
