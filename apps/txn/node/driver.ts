/**
 * Transaction operations on the platform's node driver (wor/node/driver.ts): register steps go to
 * the `WorClient`, owner writes to its `unsafeWrite`, `prepare` and `notify` to the participants by
 * name (`ParticipantLink`), `awaitChosen` to a watch of the space, `now` to the wall clock, and
 * `parallel` answers its steps at once. A failure, or a bound that runs out, is thrown as a `TxnError`.
 */
import type { OpResult, WorFailure, WriteResult } from "../../../wor/core/results.ts";
import { isRegisterStep } from "../../../wor/core/steps.ts";
import { WorError, type WorClient } from "../../../wor/node/client.ts";
import { type AppSteps, type Bound, drive, registerStep } from "../../../wor/node/driver.ts";
import type { Outcome } from "../core/outcome.ts";
import type { Vote } from "../core/record.ts";
import type { AwaitChosenStep, PrepareRequest, TxnGen, TxnResult, TxnStep } from "../core/steps.ts";
import { TxnError } from "./txn-error.ts";

/** How operations reach participants by name (a coordinator has one; others need none). */
export interface ParticipantLink {
  prepare(participant: string, request: PrepareRequest): Promise<TxnResult<Vote>>;
  /** Fire and forget: participants also learn outcomes by watching the votes. */
  notify(participant: string, space: string, txn: number, outcome: Outcome): void;
}

const NO_PARTICIPANTS: ParticipantLink = {
  prepare: async (participant) => ({ ok: false, failure: { code: "unavailable", message: `no way to reach participant ${participant}` } }),
  notify: () => {},
};

async function ownerWrite(client: WorClient, space: string, index: number, value: Uint8Array): Promise<OpResult<Map<number, WriteResult>>> {
  try {
    return { ok: true, value: new Map([[index, await client.unsafeWrite(space, index, value)]]) };
  } catch (e) {
    if (e instanceof WorError) return { ok: false, failure: e.failure };
    throw e;
  }
}

/** The first value pushed as chosen in [from, to) of the space but for `known`, or none by `until`. */
async function awaitChosen(client: WorClient, s: AwaitChosenStep): Promise<ReadonlyMap<number, Uint8Array>> {
  const feed = client.watch(s.space, s.from);
  const timer = setTimeout(() => void feed.return(), Math.max(0, s.until - Date.now()));
  try {
    for await (const w of feed) if (w.index < s.to && !s.known.includes(w.index)) return new Map([[w.index, w.value]]);
  } catch {
    // The feed failed (fell behind, lost its links): the caller reads the clock and resolves.
  } finally {
    clearTimeout(timer);
    void feed.return();
  }
  return new Map();
}

type AppStep = Exclude<TxnStep, { kind: "capture" | "write" | "read" | "alloc" | "check" | "trim" | "sleep" }>;

function txnSteps(client: WorClient, link: ParticipantLink): AppSteps<AppStep> {
  const answer = (step: TxnStep): Promise<unknown> => {
    if (isRegisterStep(step)) return registerStep(client, step);
    switch (step.kind) {
      case "ownerWrite":
        return ownerWrite(client, step.space, step.index, step.value);
      case "prepare":
        return link.prepare(step.participant, step.request);
      case "notify":
        link.notify(step.participant, step.space, step.txn, step.outcome);
        return Promise.resolve(undefined);
      case "awaitChosen":
        return awaitChosen(client, step);
      case "now":
        return Promise.resolve(Date.now());
      case "parallel":
        return Promise.all(step.steps.map(answer));
    }
  };
  return {
    answer,
    waitingFor: (step) => (step.kind === "prepare" ? `participant ${step.participant}'s vote` : step.kind === "parallel" ? "the votes and the record" : `a ${step.kind} step`),
  };
}

const raise = (f: WorFailure): Error => new TxnError(f);

/** Run a transaction operation; its failure is thrown as a `TxnError`. */
export async function runTxn<T>(gen: TxnGen<TxnResult<T>>, client: WorClient, link: ParticipantLink = NO_PARTICIPANTS, bound?: Bound): Promise<T> {
  const r = await drive(gen, client, { app: txnSteps(client, link), ...(bound ? { bound } : {}), raise });
  if (!r.ok) throw new TxnError(r.failure);
  return r.value;
}
