/**
 * The shared log's invariants (docs/ARCHITECTURE.md §4.1), as one ghost observer that unit tests, the simulator
 * and the real-process tests feed with what they saw. Each method returns the violations it found
 * (empty when all is well):
 *  - every slot holds at most one value forever (entry or fill), whoever reads it;
 *  - an idempotency key is chosen at one slot at most (no append stored twice);
 *  - an acknowledged append is readable at its slot, and a fill only occupies a slot no append was
 *    acknowledged at;
 *  - readers see the same prefix in the same order (each delivery sequence is consistent with the
 *    slot values, in increasing slot order);
 *  - a stream read gives exactly that stream's entries of its range, in log order;
 *  - the tail is linearizable (etcd, Corfu): a tail obtained is above every slot whose append was
 *    acknowledged before the tail was asked for, so reading up to it sees every such append.
 */
import { type IdempotencyKey, keyString } from "./entry.ts";
import type { SettledRead } from "./read.ts";

/** What a tail asked for now must cover: the highest slot acknowledged so far (-1: none). */
export interface TailAsk {
  readonly ackedMax: number;
}

type Held = { readonly kind: "entry"; readonly key: string } | { readonly kind: "fill" };

const show = (h: Held): string => (h.kind === "fill" ? "fill" : `entry ${h.key}`);

export class LogObserver {
  private readonly slots = new Map<number, Held>();
  private readonly keySlot = new Map<string, number>();
  private readonly acks = new Map<number, string>();
  /** The highest slot an append was acknowledged at (-1: none). */
  private ackedMax = -1;
  private readonly delivered = new Map<string, number>();
  private readonly tagged = new Map<number, readonly string[]>();

  /** A settled read: what `slot` holds. */
  observe(s: SettledRead): string[] {
    if (s.kind === "trimmed") return [];
    const held: Held = s.kind === "fill" ? { kind: "fill" } : { kind: "entry", key: keyString(s.entry.key) };
    const out: string[] = [];
    const before = this.slots.get(s.slot);
    if (before && show(before) !== show(held)) out.push(`slot ${s.slot} read as ${show(held)} after ${show(before)}`);
    if (!before) this.slots.set(s.slot, held);
    if (s.kind === "entry" && !before) this.tagged.set(s.slot, s.entry.streams.map((l) => l.tag));
    if (held.kind === "entry") {
      const at = this.keySlot.get(held.key);
      if (at !== undefined && at !== s.slot) out.push(`key ${held.key} is stored twice: slots ${at} and ${s.slot}`);
      if (at === undefined) this.keySlot.set(held.key, s.slot);
    }
    const acked = this.acks.get(s.slot);
    if (acked !== undefined && show(held) !== `entry ${acked}`) out.push(`slot ${s.slot} acknowledged for ${acked} but holds ${show(held)}`);
    return out;
  }

  /** An append was acknowledged at `slot`. */
  acked(key: IdempotencyKey, slot: number): string[] {
    const k = keyString(key);
    const out: string[] = [];
    const other = this.acks.get(slot);
    if (other !== undefined && other !== k) out.push(`slot ${slot} acknowledged to both ${other} and ${k}`);
    this.acks.set(slot, k);
    this.ackedMax = Math.max(this.ackedMax, slot);
    const held = this.slots.get(slot);
    if (held && show(held) !== `entry ${k}`) out.push(`slot ${slot} acknowledged for ${k} but holds ${show(held)}`);
    const at = this.keySlot.get(k);
    if (at !== undefined && at !== slot) out.push(`key ${k} acknowledged at ${slot} but stored at ${at}`);
    return out;
  }

  /** A tail is being asked for (before the request leaves). */
  tailAsked(): TailAsk {
    return { ackedMax: this.ackedMax };
  }

  /** The tail `tail` came back for `ask`: above every append acknowledged before it was asked for. */
  tailObtained(ask: TailAsk, tail: number): string[] {
    return tail > ask.ackedMax ? [] : [`tail ${tail} obtained after an append was acknowledged at slot ${ask.ackedMax}: a read up to the tail misses it`];
  }

  /** A read of every slot below `tail` (after the run) returned `got`: every acknowledged append is
   *  below the tail and among them, holding its entry. */
  readUpToTail(tail: number, got: readonly SettledRead[]): string[] {
    const read = new Map(got.map((s) => [s.slot, s]));
    const out: string[] = [];
    for (const [slot, k] of [...this.acks].sort(([a], [b]) => a - b)) {
      const s = read.get(slot);
      if (slot >= tail) out.push(`acknowledged append ${k} at slot ${slot} is not below the final tail ${tail}`);
      else if (s?.kind !== "entry" || keyString(s.entry.key) !== k) out.push(`acknowledged append ${k} at slot ${slot}: the read up to the tail gave ${s === undefined ? "nothing" : s.kind === "entry" ? `entry ${keyString(s.entry.key)}` : s.kind}`);
    }
    return out;
  }

  /** Reader `reader` delivered this entry next (subscribe or an in-order read). */
  deliver(reader: string, s: SettledRead): string[] {
    const out = this.observe(s);
    const last = this.delivered.get(reader) ?? -1;
    if (s.slot <= last) out.push(`reader ${reader} delivered slot ${s.slot} after slot ${last}`);
    // A skipped slot must not hold an entry: readers see the same order with nothing left out.
    for (let i = last + 1; i < s.slot; i++) {
      const h = this.slots.get(i);
      if (h?.kind === "entry" && this.delivered.has(reader)) out.push(`reader ${reader} skipped slot ${i} holding ${show(h)}`);
    }
    this.delivered.set(reader, s.slot);
    return out;
  }

  /** A stream read over [from, to) returned these entries. Checks order and that every entry it
   *  returned carries the tag; completeness is checked against what the observer saw. */
  streamRead(tag: string, from: number, to: number, got: readonly SettledRead[]): string[] {
    const out: string[] = [];
    let last = -1;
    for (const s of got) {
      out.push(...this.observe(s));
      if (s.slot <= last) out.push(`stream ${tag}: slot ${s.slot} after ${last}`);
      last = s.slot;
      if (s.kind !== "entry" || !s.entry.streams.some((l) => l.tag === tag)) out.push(`stream ${tag}: slot ${s.slot} is not in the stream`);
    }
    const returned = new Set(got.map((s) => s.slot));
    for (const [slot, h] of this.slots) {
      if (slot < from || slot >= to || h.kind !== "entry" || returned.has(slot)) continue;
      if (this.tagged.get(slot)?.includes(tag)) out.push(`stream ${tag}: read of [${from}, ${to}) left out slot ${slot}`);
    }
    return out;
  }

  /** After the run: every acknowledged slot was seen holding its entry. */
  finalCheck(): string[] {
    const out: string[] = [];
    for (const [slot, k] of this.acks) {
      const h = this.slots.get(slot);
      if (!h) out.push(`acknowledged append ${k} at slot ${slot} was never read back`);
    }
    return out;
  }
}
