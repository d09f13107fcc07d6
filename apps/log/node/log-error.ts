/** A log operation's failure, thrown by the node API (`failure.code` says which). */
import type { LogFailure } from "../core/steps.ts";

export class LogError extends Error {
  override readonly name = "LogError";
  readonly _tag = "LogError";
  constructor(readonly failure: LogFailure) {
    super(`${failure.code}: ${failure.message}`);
  }
}
