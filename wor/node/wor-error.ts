/** The error every register client operation rejects with, carrying the failure's code. */
import type { WorFailure } from "../core/results.ts";

/** An operational failure (timeout, unavailable, unknown space, bad input...). */
export class WorError extends Error {
  override readonly name = "WorError";
  readonly _tag = "WorError";
  constructor(readonly failure: WorFailure) {
    super(`${failure.code}: ${failure.message}`);
  }
  get code(): WorFailure["code"] {
    return this.failure.code;
  }
}
