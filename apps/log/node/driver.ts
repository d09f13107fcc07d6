/**
 * The async driver of log operations (apps/log/core/steps.ts): answers register steps with a real
 * `WorClient`, token steps with a `TokenSource`, sleeps with timers. Everything that happens in one
 * turn is batched by the client shell (one envelope per acceptor).
 */
import { WorError, type WorClient } from "../../../wor/node/client.ts";
import type { OpResult } from "../../../wor/core/results.ts";
import type { LogGen, LogResult, LogStep, RegisterStep, StepResult } from "../core/steps.ts";
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

/** Run a log operation to its end. */
export async function drive<T>(gen: Generator<LogStep, T, StepResult>, client: WorClient, tokens: TokenSource | undefined): Promise<T> {
  let r = gen.next(undefined as unknown as StepResult);
  while (!r.done) {
    const step = r.value;
    let result: StepResult;
    if (step.kind === "tokens") {
      result = tokens
        ? await tokens.grant(step.log, step.request)
        : { ok: false, failure: { code: "unavailable", message: "no sequencer configured for this log client" } };
    } else result = await registerStep(client, step);
    r = gen.next(result);
  }
  return r.value;
}

/** Run a log operation; its failure is thrown as a `LogError`. */
export async function runLog<T>(gen: LogGen<LogResult<T>>, client: WorClient, tokens: TokenSource | undefined): Promise<T> {
  const r = await drive(gen, client, tokens);
  if (!r.ok) throw new LogError(r.failure);
  return r.value;
}
