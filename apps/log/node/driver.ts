/**
 * The async driver of log operations (apps/log/core/steps.ts): answers register steps with a real
 * `WorClient`, token steps with a `TokenSource`, sleeps with timers. Everything that happens in one
 * turn is batched by the client shell (one envelope per acceptor).
 *
 * An operation may have a deadline (`Bound`): the core's retry loops (a sequencer that keeps
 * failing, no quorum, settle rounds) then end there with a `LogError` that names the last failure
 * seen, or what the operation was waiting for. A step still running is abandoned, as after a
 * crash: an append's outcome is then unknown (appending again with the same key stores it once).
 */
import { WorError, type WorClient } from "../../../wor/node/client.ts";
import type { OpResult } from "../../../wor/core/results.ts";
import type { LogFailure, LogGen, LogResult, LogStep, RegisterStep, StepResult } from "../core/steps.ts";
import { LogError } from "./log-error.ts";
import type { TokenSource } from "./token-source.ts";

async function settle<T>(p: Promise<T>): Promise<OpResult<T>> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    if (e instanceof WorError) return { ok: false, failure: e.failure };
    throw e;
  }
}

export const delay = (ms: number): Promise<undefined> => new Promise((resolve) => setTimeout(() => resolve(undefined), ms));

/** Answer one register step. */
export function registerStep(client: WorClient, step: RegisterStep): Promise<StepResult> {
  switch (step.kind) {
    case "capture":
      return settle(client.captureRange(step.space, step.from, step.to));
    case "write":
      return settle(client.writeMany(step.capture, step.entries));
    case "read":
      return settle(client.readRange(step.space, step.from, step.to, { recover: step.recover }));
    case "alloc":
      return settle(client.alloc(step.space, step.segment, step.meta));
    case "check":
      return settle(client.check(step.space, step.segment));
    case "trim":
      return settle(client.trim(step.space, step.below));
    case "sleep":
      return delay(step.ms);
  }
}

/** A bound on a whole operation: it gives up `timeoutMs` after it starts. `what` names it in the error. */
export interface Bound {
  readonly timeoutMs: number;
  readonly what: string;
}

const TIMED_OUT = Symbol("timed out");

/** `p`, or TIMED_OUT once `deadline` (epoch ms) passes. */
function until<T>(p: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function waitingFor(step: LogStep): string {
  if (step.kind === "tokens") return "tokens from the sequencer";
  if (step.kind === "sleep") return "a pause before retrying";
  return `a ${step.kind} round on ${step.kind === "write" ? step.capture.space : step.space}`;
}

/** The operation ran out of time: say what failed last, or what it was waiting for. */
function gaveUp(bound: Bound, last: LogFailure | undefined, step: LogStep): LogError {
  if (last) return new LogError({ code: last.code === "unavailable" ? "unavailable" : "timeout", message: `${last.message}; ${bound.what} gave up after ${bound.timeoutMs} ms` });
  return new LogError({ code: "timeout", message: `${bound.what} did not finish within ${bound.timeoutMs} ms (waiting for ${waitingFor(step)})` });
}

/** Run a log operation to its end, or (with a bound) throw a `LogError` when its time is up. */
export async function drive<T>(gen: Generator<LogStep, T, StepResult>, client: WorClient, tokens: TokenSource | undefined, bound?: Bound): Promise<T> {
  const deadline = bound ? Date.now() + bound.timeoutMs : undefined;
  let last: LogFailure | undefined;
  let r = gen.next(undefined as unknown as StepResult);
  while (!r.done) {
    const step = r.value;
    let answer: Promise<StepResult>;
    if (step.kind === "tokens") {
      answer = tokens
        ? tokens.grant(step.log, step.request)
        : Promise.resolve({ ok: false, failure: { code: "unavailable", message: "no sequencer configured for this log client" } });
    } else answer = registerStep(client, step);
    const result = deadline === undefined ? await answer : await until(answer, deadline);
    if (result === TIMED_OUT) throw gaveUp(bound!, last, step);
    if (result && !result.ok) last = result.failure;
    r = gen.next(result);
  }
  return r.value;
}

/** Run a log operation; its failure is thrown as a `LogError`. */
export async function runLog<T>(gen: LogGen<LogResult<T>>, client: WorClient, tokens: TokenSource | undefined, bound?: Bound): Promise<T> {
  const r = await drive(gen, client, tokens, bound);
  if (!r.ok) throw new LogError(r.failure);
  return r.value;
}

/** One promise under a bound (a single step outside a generator, e.g. a tail from the sequencer). */
export async function bounded<T>(p: Promise<T>, bound: Bound | undefined): Promise<T> {
  if (!bound) return p;
  const r = await until(p, Date.now() + bound.timeoutMs);
  if (r === TIMED_OUT) throw new LogError({ code: "timeout", message: `${bound.what} did not finish within ${bound.timeoutMs} ms` });
  return r;
}
