/**
 * The node driver of the app model (docs/ARCHITECTURE.md §3.4): runs any app operation (a generator over
 * wor/core/steps.ts) against a real `WorClient`. Register steps are answered by the client
 * (`WorClient.step`), sleeps by timers, the app's own steps by the handler the app passes in (the
 * log's token requests go to its sequencer). Everything issued in one turn is batched by the client
 * shell (one envelope per acceptor).
 *
 * An operation may have a deadline (`Bound`): the core's retry loops (no quorum, a sequencer that
 * keeps failing, settle rounds) then end there with an error that names the last failure seen, or
 * what the operation was waiting for. A step still running is abandoned, as after a crash: a
 * write's outcome is then unknown.
 */
import { assert } from "../../verify/runtime/assert.ts";
import type { WorFailure } from "../core/results.ts";
import { type RegisterResults, type RegisterStep, type Step, type StepGen, isRegisterStep } from "../core/steps.ts";
import { WorError, type WorClient } from "./client.ts";
import { TIMED_OUT, until } from "./deadlines.ts";

export const delay = (ms: number): Promise<undefined> => new Promise((resolve) => setTimeout(() => resolve(undefined), ms));

/** Answer one register step: by the client, or (a sleep) by a timer. */
export function registerStep<S extends RegisterStep>(client: WorClient, step: S): Promise<RegisterResults[S["kind"]]>;
export function registerStep(client: WorClient, step: RegisterStep): Promise<unknown> {
  return step.kind === "sleep" ? delay(step.ms) : client.step(step);
}

/** How an app answers its own steps. */
export interface AppSteps<A extends Step> {
  /** The step's result; failures are results too (never rejects for one). */
  answer(step: A): Promise<unknown>;
  /** What a step still running when the bound ran out was waiting for, in the app's nouns. */
  waitingFor(step: A): string;
}

/** A bound on a whole operation: it gives up `timeoutMs` after it starts. `what` names it in the error. */
export interface Bound {
  readonly timeoutMs: number;
  readonly what: string;
}

export interface DriveOptions<A extends Step> {
  /** Needed when the operation yields steps of its own. */
  readonly app?: AppSteps<A>;
  readonly bound?: Bound;
  /** The error thrown when the bound runs out (default: a `WorError`); apps speak their own. */
  readonly raise?: (failure: WorFailure) => Error;
}

/** A step's failure, when its result is one (`{ ok: false, failure }`, the shape of every failure). */
function failureOf(result: unknown): { readonly code: string; readonly message: string } | undefined {
  if (typeof result !== "object" || result === null || (result as { ok?: unknown }).ok !== false) return undefined;
  return (result as { failure: { code: string; message: string } }).failure;
}

function waitingFor<A extends Step>(step: RegisterStep | A, app: AppSteps<A> | undefined): string {
  if (!isRegisterStep(step)) return app!.waitingFor(step as A);
  if (step.kind === "sleep") return "a pause before retrying";
  return `a ${step.kind} round on ${step.kind === "write" ? step.capture.space : step.space}`;
}

/** Run an app operation to its end, or (with a bound) throw once its time is up. */
export async function drive<T, A extends Step = never>(gen: StepGen<RegisterStep | A, T>, client: WorClient, options: DriveOptions<A> = {}): Promise<T> {
  const { app, bound } = options;
  const raise = options.raise ?? ((f: WorFailure) => new WorError(f));
  const deadline = bound ? Date.now() + bound.timeoutMs : undefined;
  let last: { readonly code: string; readonly message: string } | undefined;
  let r = gen.next();
  while (!r.done) {
    const step = r.value;
    let answer: Promise<unknown>;
    if (isRegisterStep(step)) answer = registerStep(client, step);
    else {
      assert(app, () => `an operation yielded a ${step.kind} step and no handler was given for it`);
      answer = app.answer(step as A);
    }
    const result = deadline === undefined ? await answer : await until(answer, deadline);
    if (result === TIMED_OUT) {
      const b = bound!;
      if (last) throw raise({ code: last.code === "unavailable" ? "unavailable" : "timeout", message: `${last.message}; ${b.what} gave up after ${b.timeoutMs} ms` });
      throw raise({ code: "timeout", message: `${b.what} did not finish within ${b.timeoutMs} ms (waiting for ${waitingFor(step, app)})` });
    }
    last = failureOf(result) ?? last;
    r = gen.next(result);
  }
  return r.value;
}

/** One promise under a bound (a single request outside a generator, e.g. a tail from a sequencer). */
export async function bounded<T>(p: Promise<T>, bound: Bound | undefined, raise: (failure: WorFailure) => Error = (f) => new WorError(f)): Promise<T> {
  if (!bound) return p;
  const r = await until(p, Date.now() + bound.timeoutMs);
  if (r === TIMED_OUT) throw raise({ code: "timeout", message: `${bound.what} did not finish within ${bound.timeoutMs} ms` });
  return r;
}
