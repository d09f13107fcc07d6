/**
 * The log's own step and failures (docs/ARCHITECTURE.md §3.4): log operations are generators over the register
 * steps (wor/core/steps.ts) plus one step of the log's, a token request to its sequencer. One core
 * then runs under the node driver (wor/node/driver.ts, with apps/log/node/driver.ts answering token
 * steps) and under the simulator.
 */
import type { Ballot } from "../../../paxos/ballot.ts";
import type { FailureCode } from "../../../wor/core/results.ts";
import { type RegisterResults, type RegisterStep, type StepGen, stepRunner } from "../../../wor/core/steps.ts";
import type { IdempotencyKey } from "./entry.ts";
import type { Grant } from "./tokens.ts";

/** A request for one token: the entry's key and stream tags. */
export interface TokenAsk {
  readonly key: IdempotencyKey;
  readonly streams: readonly string[];
  /** The appender's last token was fenced by this ballot: the sequencer re-captures if it is behind. */
  readonly preemptedBy?: Ballot;
  /** No earlier attempt of this key is below this slot (e.g. the tail read before the first one):
   *  a sequencer whose dedupe window starts above it refuses rather than risk a duplicate. */
  readonly since?: number;
  /** The appender's last token, at this slot, found another value there (a fill): someone captured
   *  over the sequencer, which checks whether it still serves the log if it issued that slot. */
  readonly taken?: number;
}

/** A request to the sequencer: tokens for `asks` (may be none), and the tails of `streams`. */
export interface GrantRequest {
  readonly asks: readonly TokenAsk[];
  readonly streams?: readonly string[];
  /** Takeover hint: the address of a sequencer the client gave up on (deadline missed, stream
   *  failed). A standby sequencer takes the log over when this names the active one. */
  readonly takeover?: string;
}

/** The log's own step: a request to the log's sequencer (answered by a `TokenSource`). */
export interface TokensStep {
  readonly kind: "tokens";
  readonly log: string;
  readonly request: GrantRequest;
}

export type LogStep = RegisterStep | TokensStep;

/** What each log step resumes with. */
type LogResults = RegisterResults & { tokens: LogResult<Grant> };
export type StepResult = LogResults[keyof LogResults];

/** A log operation: yields steps, resumes with their results, returns T. */
export type LogGen<T> = StepGen<LogStep, T>;

/** Yield one log step and get its result, typed by the step's kind. */
export const run = stepRunner<LogStep, LogResults>();

/** The sequencer that serves a log: the owner of its last allocated segment, and where it serves. */
export interface ActiveSequencer {
  readonly owner: string;
  readonly address: string;
}

/** A log operation's failure: the register layer's codes plus the log's own. `redirect`: a standby
 *  sequencer's answer, naming the `active` one (remote token sources follow it). */
export type LogFailure =
  | { readonly code: FailureCode | "trimmed" | "corrupt" | "exhausted"; readonly message: string }
  | { readonly code: "redirect"; readonly message: string; readonly active: ActiveSequencer };
export type LogResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: LogFailure };
export const logOk = <T>(value: T): LogResult<T> => ({ ok: true, value });
export const logFail = (code: Exclude<LogFailure["code"], "redirect">, message: string): LogResult<never> => ({ ok: false, failure: { code, message } });

/** Failures worth retrying after a pause: the cluster or the sequencer may come back. */
export const isTransient = (code: LogFailure["code"]): boolean => code === "timeout" || code === "unavailable" || code === "notReady" || code === "contended";
