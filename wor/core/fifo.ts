/** A first-in first-out queue with O(1) amortised `shift` (a sequencer's token asks, a LogPlayer player's per-shard queues). */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head++];
    if (this.head >= 1_024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /** The items, oldest first. */
  toArray(): T[] {
    return this.items.slice(this.head);
  }

  clone(): Fifo<T> {
    const c = new Fifo<T>();
    c.items = this.toArray();
    return c;
  }
}
