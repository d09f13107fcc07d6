/**
 * Log operations on the platform's node driver (wor/node/driver.ts): token steps go to the log's
 * `TokenSource`, and a failure (or a bound that ran out) is thrown as a `LogError`. A step still
 * running when the bound runs out is abandoned, as after a crash: an append's outcome is then
 * unknown (appending again with the same key stores it once).
 */
import type { WorFailure } from "../../../wor/core/results.ts";
import { type AppSteps, type Bound, bounded as boundedBy, drive } from "../../../wor/node/driver.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import type { LogGen, LogResult, TokensStep } from "../core/steps.ts";
import { LogError } from "./log-error.ts";
import type { TokenSource } from "./token-source.ts";

const NO_SEQUENCER: LogResult<never> = { ok: false, failure: { code: "unavailable", message: "no sequencer configured for this log client" } };

/** Token steps answered by `tokens` (none: every token step fails `unavailable`). */
const tokenSteps = (tokens: TokenSource | undefined): AppSteps<TokensStep> => ({
  answer: (step) => (tokens ? tokens.grant(step.log, step.request) : Promise.resolve(NO_SEQUENCER)),
  waitingFor: () => "tokens from the sequencer",
});

const raise = (f: WorFailure): Error => new LogError(f);

/** Run a log operation; its failure is thrown as a `LogError`. */
export async function runLog<T>(gen: LogGen<LogResult<T>>, client: WorClient, tokens: TokenSource | undefined, bound?: Bound): Promise<T> {
  const r = await drive(gen, client, { app: tokenSteps(tokens), ...(bound ? { bound } : {}), raise });
  if (!r.ok) throw new LogError(r.failure);
  return r.value;
}

/** One promise under a bound (a tail from the sequencer), timing out with a `LogError`. */
export const bounded = <T>(p: Promise<T>, bound: Bound | undefined): Promise<T> => boundedBy(p, bound, raise);
