/**
 * The app model's vocabulary (docs/ARCHITECTURE.md §2, §3.4): an app operation is a generator that yields
 * **steps** and resumes with each step's result. Register steps (capture, write, read, alloc,
 * check, trim) and sleeps are the platform's; an app adds its own message steps (the log's token
 * request to its sequencer) by naming their kinds and results. One pure core then runs under every
 * driver: the node driver (wor/node/driver.ts) answers steps with a real `WorClient`, the simulator
 * through a `WorClientCore` on virtual time (both via wor/core/step-ops.ts).
 *
 * Generators resume with `unknown` (the driver answers whatever the step asked): `run` gives each
 * step its result type by kind, so an operation never handles a result of the wrong shape.
 */
import type { Entry } from "../../paxos/messages.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, OpResult, ReadResult, WriteResult } from "./results.ts";

/** Any step: its `kind` says who answers it and with what. App kinds never reuse a register kind. */
export interface Step {
  readonly kind: string;
}

export type RegisterStep =
  | { readonly kind: "capture"; readonly space: string; readonly from: number; readonly to: number }
  | { readonly kind: "write"; readonly capture: Capture; readonly entries: readonly Entry[] }
  | { readonly kind: "read"; readonly space: string; readonly from: number; readonly to: number; readonly recover: boolean }
  | { readonly kind: "alloc"; readonly space: string; readonly segment: number; readonly meta: Uint8Array }
  /** `final` (default true): the answer stays true (a register seen unwritten is captured, so nothing
   *  in flight can be chosen there later). Not final: "unallocated" says only that nothing was chosen
   *  there before the check (a quorum accepted nothing), for a caller that asks no more (a tail check). */
  | { readonly kind: "check"; readonly space: string; readonly segment: number; readonly final?: boolean }
  | { readonly kind: "trim"; readonly space: string; readonly below: number }
  /** Resume after `ms` of the driver's time (real or virtual). */
  | { readonly kind: "sleep"; readonly ms: number };

/** What each register step resumes with. */
export interface RegisterResults {
  capture: OpResult<CaptureResult>;
  write: OpResult<Map<number, WriteResult>>;
  read: OpResult<Map<number, ReadResult>>;
  alloc: OpResult<AllocResult>;
  check: OpResult<CheckResult>;
  trim: OpResult<number>;
  sleep: undefined;
}

const REGISTER_KINDS: ReadonlySet<string> = new Set<RegisterStep["kind"]>(["capture", "write", "read", "alloc", "check", "trim", "sleep"]);

/** A register step (or a sleep), as opposed to one of an app's own steps. */
export const isRegisterStep = (step: Step): step is RegisterStep => REGISTER_KINDS.has(step.kind);

/** An app operation: yields steps `S`, returns `T`. */
export type StepGen<S extends Step, T> = Generator<S, T, unknown>;
/** An operation that needs only the registers. It runs inside any app's operation (`yield*`). */
export type RegGen<T> = StepGen<RegisterStep, T>;

/**
 * `run` for steps `S` whose results by kind are `M`: yield one step, get its result typed by the
 * step's kind. An app with its own steps makes its own (`stepRunner<LogStep, LogResults>()`).
 */
export function stepRunner<S extends Step, M extends { readonly [K in S["kind"]]: unknown }>() {
  return function* run<X extends S>(step: X): Generator<X, M[X["kind"]], unknown> {
    return (yield step) as M[X["kind"]];
  };
}

/** Yield one register step and get its result. */
export const run = stepRunner<RegisterStep, RegisterResults>();

export const sleep = (ms: number): RegGen<undefined> => run({ kind: "sleep", ms } as const);
