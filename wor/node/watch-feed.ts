/**
 * One `watch(space, from)` on the client: merges the learned values pushed by every acceptor,
 * drops duplicates, and hands them to an async iterator with a bounded buffer.
 */
export interface Watched {
  readonly index: number;
  readonly value: Uint8Array;
}

export class WatchFeed implements AsyncIterableIterator<Watched> {
  private readonly buffer: Watched[] = [];
  private readonly delivered = new Set<number>();
  private waiter: { resolve: (r: IteratorResult<Watched>) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private ended = false;

  constructor(
    readonly from: number,
    private readonly bufferMax: number,
    private readonly onClose: () => void,
  ) {}

  /** A value some acceptor learned is chosen. */
  push(index: number, value: Uint8Array): void {
    if (this.ended || index < this.from || this.delivered.has(index)) return;
    this.delivered.add(index);
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
