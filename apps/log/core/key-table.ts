/**
 * The sequencer's key table (docs/ARCHITECTURE.md §4.1): for each idempotency key, every slot the key was
 * issued or found chosen at, so a retry's token carries them as priors and the appender settles
 * them first. Bounded: `keysMax` keys, least recently noted forgotten first. The table knows where
 * its knowledge starts: every key with an attempt at a slot ≥ `from` is in it. Forgetting a key
 * moves `from` past that key's last slot, so the bound stays true.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { keyString } from "./entry.ts";
import { type LogResult, type TokenAsk, logFail } from "./steps.ts";

/** Stale or forgotten entries `order` may hold beyond its live ones before it is rebuilt. */
const STALE_ORDER_MAX = 1_024;

interface Noted {
  readonly slots: number[];
  /** The number of the note that last touched this key (its place in `order`). */
  seq: number;
}

export class KeyTable {
  private readonly keys = new Map<string, Noted>();
  /** Keys in the order they were noted, oldest first from `head`, each with that note's number: an
   *  entry whose number is not its key's latest is stale and skipped. Forgetting the least recently
   *  noted key is O(1) amortized (a Map's own oldest entry is not: after many deletions, finding it
   *  walks over their holes, which made each note cost ~0.5 ms once a table held 1M keys). */
  private order: { readonly k: string; readonly seq: number }[] = [];
  private head = 0;
  private seq = 0;
  private start: number;

  constructor(
    private readonly keysMax: number,
    /** The first slot whose keys are all known (the start of the dedupe window). */
    from: number,
  ) {
    assert(keysMax >= 1 && Number.isSafeInteger(from) && from >= 0, "keysMax ≥ 1, from a slot");
    this.start = from;
  }

  /** Every key with an attempt at a slot ≥ `from` is known. */
  get from(): number {
    return this.start;
  }

  get size(): number {
    return this.keys.size;
  }

  /** Every slot noted for key `k`, oldest first. */
  priors(k: string): readonly number[] {
    return this.keys.get(k)?.slots ?? [];
  }

  /** Why these asks get no tokens, if they do not: a key issued `priorsMax` slots already, or a
   *  retry whose earlier attempts may lie before the table's knowledge (`since` below `from`). */
  refusal(asks: readonly TokenAsk[], priorsMax: number): LogResult<never> | undefined {
    for (const a of asks) {
      const k = keyString(a.key);
      if (this.priors(k).length >= priorsMax) return logFail("exhausted", `key ${k} was issued ${priorsMax} slots already`);
      if (a.since !== undefined && a.since < this.start) {
        return logFail(
          "exhausted",
          `key ${k}: an earlier attempt may be at slot ${a.since} or later, but this sequencer knows the keys from slot ${this.start} on (its dedupe window); read the log from slot ${a.since} to look for it`,
        );
      }
    }
    return undefined;
  }

  /** Key `k` was issued, or found chosen, at `slot` (noted in increasing slot order). */
  note(k: string, slot: number): void {
    const seq = this.seq++;
    const noted = this.keys.get(k);
    if (!noted) this.keys.set(k, { slots: [slot], seq });
    else {
      if (!noted.slots.includes(slot)) noted.slots.push(slot);
      noted.seq = seq;
    }
    this.order.push({ k, seq });
    if (this.keys.size > this.keysMax) this.forgetOldest();
    const live = this.order.length - this.head;
    if (live > this.keys.size + STALE_ORDER_MAX || this.head > live + STALE_ORDER_MAX) this.rebuildOrder();
  }

  /** Forget the least recently noted key; knowledge now starts past its last slot. */
  private forgetOldest(): void {
    for (;;) {
      const o = this.order[this.head++]!;
      const noted = this.keys.get(o.k);
      if (noted?.seq !== o.seq) continue;
      this.keys.delete(o.k);
      this.start = Math.max(this.start, Math.max(...noted.slots) + 1);
      return;
    }
  }

  /** Drop what `order` holds of forgotten keys and each key's entries but its latest. */
  private rebuildOrder(): void {
    this.order = this.order.slice(this.head).filter((o) => this.keys.get(o.k)?.seq === o.seq);
    this.head = 0;
  }
}
