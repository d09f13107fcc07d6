/**
 * `runTxnModelCheck`: the transaction model (models/txn.ts) for `worm check mc --model txn` and the
 * tests. Named configurations, all over 3 acceptors and a network that loses, duplicates and
 * reorders, every actor able to time out at any moment:
 *  - small: one participant and one recoverer (what catches a recoverer overwriting a late YES):
 *    98,250 states, exhaustive in about 20 s of CPU.
 *  - coordinator: two participants and a coordinator that reads the votes (what catches a commit
 *    with a vote missing, in 381 states); its whole space takes more than minutes (a bounded
 *    search: --states-max).
 *  - full: the bounds, 3 participants, a coordinator, 2 recoverers and one acceptor crash:
 *    far beyond minutes; a bounded search only.
 * Acceptors persist each step before replying (sync mode), so an acceptor crash loses nothing and
 * adds no states; an actor that crashes is an actor that stops, which every prefix of a run covers.
 */
import { type CheckSummary, type Progress, type SearchOptions, check } from "./engine.ts";
import { TXN_MODEL_DEFAULTS, txnModel } from "./models/txn.ts";
import type { TxnModelOptions } from "./models/txn-actors.ts";

export const TXN_MC_CONFIGS = {
  small: { ...TXN_MODEL_DEFAULTS, participants: 1, recoverers: 1, coordinator: false, crashes: 0 },
  coordinator: { ...TXN_MODEL_DEFAULTS, participants: 2, recoverers: 0, coordinator: true, crashes: 0 },
  full: TXN_MODEL_DEFAULTS,
} as const satisfies Record<string, TxnModelOptions>;

export type TxnMcConfigName = keyof typeof TXN_MC_CONFIGS;

export interface TxnModelCheckOptions extends Partial<TxnModelOptions>, SearchOptions {}

export interface TxnModelCheckSummary extends CheckSummary {
  readonly txnModel: TxnModelOptions;
}

export function runTxnModelCheck(options: TxnModelCheckOptions = {}, onProgress?: (p: Progress) => void): TxnModelCheckSummary {
  const { statesMax, now, progressEvery, ...rest } = options;
  const model = txnModel(rest);
  return { ...check(model, { statesMax, now, progressEvery }, onProgress), txnModel: model.options };
}
