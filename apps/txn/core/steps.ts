/**
 * The transaction app's steps (docs/ARCHITECTURE.md §3.4): its operations are generators over the
 * register steps (wor/core/steps.ts) plus steps of its own, answered by the node driver
 * (apps/txn/node/driver.ts) or the simulator's txn world:
 *  - `ownerWrite`: a write at the owner ballot (a participant's vote, a block owner's record);
 *  - `prepare`: ask a participant to vote (it writes its vote itself and answers with the vote
 *    chosen at its address, or a failure: then the vote is unknown);
 *  - `notify`: tell a participant the outcome (fire and forget: it also learns by watching);
 *  - `awaitChosen`: wait for the acceptors to push a value chosen in a span of addresses, other than
 *    those the caller knows (a watch), or for a time on the driver's clock, whichever comes first;
 *  - `now`: the driver's clock (cores never read one);
 *  - `parallel`: several steps at once, resuming with all their results in order.
 */
import type { FailureCode, OpResult, WriteResult } from "../../../wor/core/results.ts";
import { type RegisterResults, type RegisterStep, type StepGen, stepRunner } from "../../../wor/core/steps.ts";
import type { Outcome } from "./outcome.ts";
import type { Vote } from "./record.ts";

/** What a participant is asked to vote on. */
export interface PrepareRequest {
  readonly space: string;
  /** The transaction: its segment number. */
  readonly txn: number;
  /** The participant's place in the record: its vote is address `index` of the segment. */
  readonly index: number;
  /** The encoded record (participants, deadline): the participant can finish the allocation. */
  readonly record: Uint8Array;
  /** What this participant is to do (its own encoding). */
  readonly payload: Uint8Array;
}

export interface OwnerWriteStep {
  readonly kind: "ownerWrite";
  readonly space: string;
  readonly index: number;
  readonly value: Uint8Array;
}
export interface PrepareStep {
  readonly kind: "prepare";
  readonly participant: string;
  readonly request: PrepareRequest;
}
export interface NotifyStep {
  readonly kind: "notify";
  readonly participant: string;
  readonly space: string;
  readonly txn: number;
  readonly outcome: Outcome;
}
export interface AwaitChosenStep {
  readonly kind: "awaitChosen";
  readonly space: string;
  readonly from: number;
  readonly to: number;
  /** Addresses of the span whose values the caller holds: a push of one of them is no news (a new
   *  watch pushes the values already chosen first). */
  readonly known: readonly number[];
  /** Give up at this time (the driver's clock). */
  readonly until: number;
}
export interface NowStep {
  readonly kind: "now";
}
export interface ParallelStep {
  readonly kind: "parallel";
  readonly steps: readonly TxnStep[];
}

export type TxnStep = RegisterStep | OwnerWriteStep | PrepareStep | NotifyStep | AwaitChosenStep | NowStep | ParallelStep;

/** A transaction operation's failure: the register layer's codes plus the app's own. */
export interface TxnFailure {
  readonly code: FailureCode | "unknownTxn" | "corrupt";
  readonly message: string;
}
export type TxnResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: TxnFailure };
export const txnOk = <T>(value: T): TxnResult<T> => ({ ok: true, value });
export const txnFail = (code: TxnFailure["code"], message: string): TxnResult<never> => ({ ok: false, failure: { code, message } });

type TxnResults = RegisterResults & {
  /** As the client core's owner write answers: the one address's result. */
  ownerWrite: OpResult<Map<number, WriteResult>>;
  prepare: TxnResult<Vote>;
  notify: undefined;
  /** The values pushed as chosen in [from, to) before `until` (empty: none came). */
  awaitChosen: ReadonlyMap<number, Uint8Array>;
  now: number;
  parallel: readonly unknown[];
};

export type TxnGen<T> = StepGen<TxnStep, T>;

/** Yield one step and get its result, typed by the step's kind. */
export const run = stepRunner<TxnStep, TxnResults>();

export const now = (): TxnGen<number> => run({ kind: "now" } as const);

/** Run `steps` at once; the results come back in their order. */
export function* parallel(steps: readonly TxnStep[]): TxnGen<readonly unknown[]> {
  return steps.length === 0 ? [] : yield* run({ kind: "parallel", steps } as const);
}
