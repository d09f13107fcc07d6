/**
 * The sequencer's memory of streams (docs/ARCHITECTURE.md §4.1): the last slot issued for each
 * stream tag, so each token carries a backpointer per tag. Bounded (`streamsMax`): the least
 * recently used tag is forgotten, and from then on an unknown tag's backpointer is "unknown"
 * (readers scan back) rather than "none".
 */
import { LruMap } from "../../../wor/core/lru-map.ts";
import { type Backpointer, PREV_NONE, PREV_UNKNOWN } from "./entry.ts";

export class StreamTails {
  private readonly tails = new LruMap<string, number>();
  /** Every stream's whole history is known (a fresh log, or recovered back to its start). */
  private complete = false;

  constructor(private readonly streamsMax: number) {}

  get size(): number {
    return this.tails.size;
  }

  /** Start over from what recovery found (`complete`: it read the log back to its start). */
  reset(found: ReadonlyMap<string, number>, complete: boolean): void {
    this.tails.clear();
    this.complete = complete;
    for (const [tag, slot] of [...found].sort(([, a], [, b]) => a - b)) this.note(tag, slot);
  }

  /** The last slot issued for `tag`: a backpointer, or none / unknown when not remembered. */
  tail(tag: string): Backpointer {
    return this.tails.get(tag) ?? (this.complete ? PREV_NONE : PREV_UNKNOWN);
  }

  /** `slot` was issued for `tag`. */
  note(tag: string, slot: number): void {
    this.tails.set(tag, slot);
    if (this.tails.size > this.streamsMax) {
      this.tails.shift();
      this.complete = false;
    }
  }
}
