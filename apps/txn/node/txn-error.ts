/** A transaction operation's failure, thrown by the node API (`failure.code` says which). */
import type { TxnFailure } from "../core/steps.ts";

export class TxnError extends Error {
  override readonly name = "TxnError";
  readonly _tag = "TxnError";
  constructor(readonly failure: TxnFailure) {
    super(`${failure.code}: ${failure.message}`);
  }
}
