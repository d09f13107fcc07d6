/**
 * Tokens (docs/ARCHITECTURE.md §4.1): the sequencer's grant of one slot under its range capture. Holding a
 * token is the right to write one entry at that slot with that capture, in one round trip.
 */
import type { Capture } from "../../../wor/core/results.ts";
import type { Backpointer } from "./entry.ts";

export interface Token {
  readonly slot: number;
  /** The sequencer's range capture covering `slot`. */
  readonly capture: Capture;
  /** One backpointer per stream tag of the ask, in the ask's order. */
  readonly prev: readonly Backpointer[];
  /** Every slot this sequencer issued before for the same idempotency key, oldest first: an
   *  earlier attempt may have landed at any of them, so the appender settles each before writing. */
  readonly priors: readonly number[];
}

/** Slots a sequencer remembers per idempotency key (and a token may carry as priors). */
export const SEQUENCER_PRIORS_MAX = 64;

/** The tokens for a batch of asks, in the asks' order, and the sequencer's view after issuing. */
export interface Grant {
  readonly tokens: readonly Token[];
  /** The next slot the sequencer will issue; for a tail query (no asks), confirmed by a tail check
   *  (./tail-check.ts): above every append acknowledged before the query. */
  readonly tail: number;
  /** The last slot issued for each queried stream tag (backpointers), in the query's order. */
  readonly streamTails: readonly number[];
}
