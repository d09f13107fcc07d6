/**
 * A map that forgets its least recently set entry in O(1) amortized, for the bounded tables of the
 * cores (a sequencer's keys and stream tails, a client's owner writes, the SMR's session table, whose
 * order of iteration is its snapshot's). A plain Map in last-set order
 * (delete, then set) whose first entry is evicted is not: after many deletions V8 finds that entry
 * by walking over their holes, at 65,536 entries 24 µs per eviction, at 1M about 0.5 ms, where a
 * set costs 0.3 µs. Here each entry carries the number of the set that last touched it, and a queue
 * of (key, number) in that order gives the oldest live entry: queue entries whose number is no
 * longer their key's are skipped, and the queue is rebuilt once it holds more than
 * `STALE_ENTRIES_MAX` beyond the live ones.
 */

/** Stale or forgotten entries the order queue may hold beyond its live ones before it is rebuilt. */
const STALE_ENTRIES_MAX = 1_024;

export class LruMap<K, V> {
  private readonly entries = new Map<K, { value: V; seq: number }>();
  private order: { readonly key: K; readonly seq: number }[] = [];
  private head = 0;
  private seq = 0;

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value of `key` (it does not become more recent). */
  get(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Set `key`, which becomes the most recent. */
  set(key: K, value: V): void {
    const seq = this.seq++;
    const e = this.entries.get(key);
    if (e) {
      e.value = value;
      e.seq = seq;
    } else this.entries.set(key, { value, seq });
    this.order.push({ key, seq });
    this.tidy();
  }

  clear(): void {
    this.entries.clear();
    this.order = [];
    this.head = 0;
  }

  /** Forget the least recently set entry and return it. */
  shift(): [K, V] | undefined {
    while (this.head < this.order.length) {
      const o = this.order[this.head++]!;
      const e = this.entries.get(o.key);
      if (e?.seq !== o.seq) continue;
      this.entries.delete(o.key);
      this.tidy();
      return [o.key, e.value];
    }
    return undefined;
  }

  /** The entries, least recently set first (the order `shift` takes them in); set nothing while iterating. */
  *[Symbol.iterator](): Generator<[K, V]> {
    for (let i = this.head; i < this.order.length; i++) {
      const o = this.order[i]!;
      const e = this.entries.get(o.key);
      if (e?.seq === o.seq) yield [o.key, e.value];
    }
  }

  private tidy(): void {
    const live = this.order.length - this.head;
    if (live <= this.entries.size + STALE_ENTRIES_MAX && this.head <= live + STALE_ENTRIES_MAX) return;
    this.order = this.order.slice(this.head).filter((o) => this.entries.get(o.key)?.seq === o.seq);
    this.head = 0;
  }
}
