/**
 * The sequencer's key table (docs/ARCHITECTURE.md §4.1): for each idempotency key, every slot the key was
 * issued or found chosen at, so a retry's token carries them as priors and the appender settles
 * them first. Bounded: `keysMax` keys, least recently noted forgotten first. The table knows where
 * its knowledge starts: every key with an attempt at a slot ≥ `from` is in it. Forgetting a key
 * moves `from` past that key's last slot, so the bound stays true.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { LruMap } from "../../../wor/core/lru-map.ts";
import { keyString } from "./entry.ts";
import { type LogResult, type TokenAsk, logFail } from "./steps.ts";

export class KeyTable {
  private readonly keys = new LruMap<string, number[]>();
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
    return this.keys.get(k) ?? [];
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
    const slots = this.keys.get(k) ?? [];
    if (!slots.includes(slot)) slots.push(slot);
    this.keys.set(k, slots);
    if (this.keys.size <= this.keysMax) return;
    const [, gone] = this.keys.shift()!;
    this.start = Math.max(this.start, Math.max(...gone) + 1);
  }
}
