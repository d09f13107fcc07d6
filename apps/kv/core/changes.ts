/**
 * The changes a KV shard applied lately (docs/ARCHITECTURE.md §4.5), for watches that resume from a
 * past revision: in revision order, at most `max` of them; when it is over, the oldest revisions'
 * changes are dropped whole, and `keptFrom` says from which revision on every change is kept.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import type { KvEvent } from "./messages.ts";

export class Changes {
  private list: KvEvent[] = [];
  private head = 0;
  private max = 1;
  /** Every change from this revision on is kept. */
  keptFrom = 1;

  reset(keptFrom: number, max: number): void {
    assert(Number.isSafeInteger(max) && max >= 1, "events kept ≥ 1");
    this.list = [];
    this.head = 0;
    this.keptFrom = keptFrom;
    this.max = max;
  }
  add(events: readonly KvEvent[]): void {
    this.list.push(...events);
    while (this.list.length - this.head > this.max) {
      const dropped = this.list[this.head]!.revision;
      while (this.head < this.list.length && this.list[this.head]!.revision === dropped) this.head++;
      this.keptFrom = dropped + 1;
    }
    if (this.head > 4_096 && this.head * 2 > this.list.length) {
      this.list = this.list.slice(this.head);
      this.head = 0;
    }
  }
  /** The changes kept at revision `from` or later. */
  since(from: number): KvEvent[] {
    let lo = this.head;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.list[mid]!.revision < from) lo = mid + 1;
      else hi = mid;
    }
    return this.list.slice(lo);
  }
}
