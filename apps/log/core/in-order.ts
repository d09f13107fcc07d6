/**
 * The in-order buffer behind `subscribe(from)` (docs/ARCHITECTURE.md §4.1): values arrive pushed (any order,
 * maybe twice) or read; they leave strictly in slot order (the subscription skips fills unless asked). Tells its driver which
 * slot it is stuck on, so the driver can read it and, past the hole timeout, fill it. A slot is
 * stuck when it is missing below a later value or below a tail its driver learned (`expect`): a
 * token issued at the log's end and never written blocks whoever waits for that tail, and nothing
 * after it may ever come to show it. Pure.
 */
import { planted } from "../../../verify/runtime/planted.ts";
import type { SettledRead } from "./read.ts";

export class InOrder {
  private readonly held = new Map<number, SettledRead>();
  /** One past the highest slot known to be issued: held values, and tails learned. */
  private known = 0;
  /** When the buffer first got stuck at `next` (for the hole timeout), or undefined. */
  private stuckSince: number | undefined;

  constructor(
    private nextSlot: number,
    /** Slots held ahead of `next` before the oldest pushes are dropped (they will be read again). */
    private readonly heldMax: number,
  ) {}

  get next(): number {
    return this.nextSlot;
  }

  offer(s: SettledRead, now: number): void {
    if (s.slot < this.nextSlot || this.held.has(s.slot)) return;
    if (this.held.size >= this.heldMax && s.slot > this.nextSlot) return;
    this.held.set(s.slot, s);
    if (s.slot >= this.known) this.known = s.slot + 1;
    if (this.stuckSince === undefined && !this.held.has(this.nextSlot)) this.stuckSince = now;
  }

  /** Slots below `tail` were issued (a sequencer's tail, learned by a reader that waits for them):
   *  one missing below it is stuck, as below a later value. */
  expect(tail: number, now: number): void {
    if (tail <= this.known || planted("holeAtTailUnfilled")) return;
    this.known = tail;
    if (this.stuckSince === undefined && this.nextSlot < tail && !this.held.has(this.nextSlot)) this.stuckSince = now;
  }

  /** Settled slots in order from `next`: entries and fills (trimmed slots consumed but not returned). */
  take(now: number): SettledRead[] {
    const out: SettledRead[] = [];
    const before = this.nextSlot;
    for (let s = this.held.get(this.nextSlot); s; s = this.held.get(this.nextSlot)) {
      this.held.delete(this.nextSlot);
      this.nextSlot++;
      if (s.kind !== "trimmed") out.push(s);
    }
    if (this.nextSlot !== before) this.stuckSince = this.known > this.nextSlot ? now : undefined;
    return out;
  }

  /** The slot blocking delivery while later ones are known, and since when; undefined if none. */
  stuck(): { readonly slot: number; readonly since: number } | undefined {
    return this.stuckSince !== undefined && this.known > this.nextSlot && !this.held.has(this.nextSlot) ? { slot: this.nextSlot, since: this.stuckSince } : undefined;
  }

  /** Skip to `slot` (everything below is trimmed). */
  skipTo(slot: number): void {
    if (slot <= this.nextSlot) return;
    for (const k of this.held.keys()) if (k < slot) this.held.delete(k);
    this.nextSlot = slot;
  }
}
