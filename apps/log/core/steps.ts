/**
 * The steps log operations yield (DESIGN.md §7.1): register operations, token requests to the
 * sequencer, and sleeps. Log operations are generators over these steps, so one core runs under the
 * async node driver (apps/log/node/driver.ts) and under the simulator, which answer each step.
 */
import type { Ballot } from "../../../paxos/ballot.ts";
import type { Entry } from "../../../paxos/messages.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, FailureCode, OpResult, ReadResult, WriteResult } from "../../../wor/core/results.ts";
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

export type RegisterStep =
  | { readonly kind: "capture"; readonly space: string; readonly from: number; readonly to: number }
  | { readonly kind: "write"; readonly capture: Capture; readonly entries: readonly Entry[] }
  | { readonly kind: "read"; readonly space: string; readonly from: number; readonly to: number; readonly recover: boolean }
  | { readonly kind: "alloc"; readonly space: string; readonly segment: number; readonly meta: Uint8Array }
  | { readonly kind: "check"; readonly space: string; readonly segment: number }
  | { readonly kind: "trim"; readonly space: string; readonly below: number }
  | { readonly kind: "sleep"; readonly ms: number };

/** A request to the sequencer: tokens for `asks` (may be none), and the tails of `streams`. */
export interface GrantRequest {
  readonly asks: readonly TokenAsk[];
  readonly streams?: readonly string[];
  /** Takeover hint: the address of a sequencer the client gave up on (deadline missed, stream
   *  failed). A standby sequencer takes the log over when this names the active one. */
  readonly takeover?: string;
}

export type LogStep = RegisterStep | { readonly kind: "tokens"; readonly log: string; readonly request: GrantRequest };

/** What each step resumes with. */
export interface StepResults {
  capture: OpResult<CaptureResult>;
  write: OpResult<Map<number, WriteResult>>;
  read: OpResult<Map<number, ReadResult>>;
  alloc: OpResult<AllocResult>;
  check: OpResult<CheckResult>;
  trim: OpResult<number>;
  sleep: undefined;
  tokens: LogResult<Grant>;
}
export type StepResult = StepResults[keyof StepResults];

/** A log operation: yields steps, resumes with their results, returns T. */
export type LogGen<T> = Generator<LogStep, T, StepResult>;
/** One that only needs the registers (the sequencer's work). */
export type RegGen<T> = Generator<RegisterStep, T, StepResult>;

/** Yield one step and get its result, typed by the step's kind. */
export function* run<S extends LogStep>(step: S): Generator<S, StepResults[S["kind"]], StepResult> {
  return (yield step) as StepResults[S["kind"]];
}

export const sleep = (ms: number): RegGen<undefined> => run({ kind: "sleep", ms } as const);

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
