/**
 * The client cache of chosen values. Written values are immutable, so they may be cached forever;
 * `unwritten` is never cached. Bounded (`entriesMax`), evicting the oldest insertion.
 */
import type { SpaceName } from "../../paxos/messages.ts";

export class ValueCache {
  private readonly spaces = new Map<SpaceName, Map<number, Uint8Array>>();
  private readonly order: { space: SpaceName; index: number }[] = [];
  private head = 0;

  constructor(readonly entriesMax: number) {}

  get(space: SpaceName, index: number): Uint8Array | undefined {
    return this.spaces.get(space)?.get(index);
  }

  put(space: SpaceName, index: number, value: Uint8Array): void {
    if (this.entriesMax <= 0) return;
    let s = this.spaces.get(space);
    if (!s) this.spaces.set(space, (s = new Map()));
    if (s.has(index)) return;
    s.set(index, value);
    this.order.push({ space, index });
    while (this.order.length - this.head > this.entriesMax) {
      const old = this.order[this.head++]!;
      this.spaces.get(old.space)?.delete(old.index);
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Forget everything below a trim mark. */
  trim(space: SpaceName, below: number): void {
    const s = this.spaces.get(space);
    if (s) for (const i of [...s.keys()]) if (i < below) s.delete(i);
  }

  get size(): number {
    let n = 0;
    for (const s of this.spaces.values()) n += s.size;
    return n;
  }
}
