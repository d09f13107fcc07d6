/**
 * `runModelCheck`: the entry point the CLI (`worm check mc`) and the tests call. Pure apart from the
 * clock reading passed in; progress goes to a callback.
 */
import { type CheckSummary, type Progress, check } from "./engine.ts";
import { worModel } from "./wor-model.ts";
import { type WorModelOptions, WOR_MODEL_DEFAULTS } from "./wor-state.ts";

export interface ModelCheckOptions extends Partial<WorModelOptions> {
  /** Stop after this many distinct states (the summary then says `complete: false`). */
  readonly statesMax?: number;
  /** A millisecond clock (e.g. `performance.now`); without it times read 0. */
  readonly now?: () => number;
  readonly progressEvery?: number;
}

export interface ModelCheckSummary extends CheckSummary {
  readonly model: WorModelOptions;
}

export function runModelCheck(options: ModelCheckOptions = {}, onProgress?: (p: Progress) => void): ModelCheckSummary {
  const { statesMax, now, progressEvery, ...rest } = options;
  const model = worModel(rest);
  const summary = check(
    model,
    {
      ...(statesMax !== undefined ? { statesMax } : {}),
      ...(now ? { now } : {}),
      ...(progressEvery !== undefined ? { progressEvery } : {}),
    },
    onProgress,
  );
  return { ...summary, model: { ...WOR_MODEL_DEFAULTS, ...rest } };
}

/**
 * Named configurations. All check one address with 3 acceptors and 2 proposers over a network that
 * loses, duplicates and reorders, with one acceptor crash.
 *  - full: commits and a reader too: the exhaustive target (< 60 s).
 *  - small: no reader: seconds (tests).
 *  - reads: a reader, no commits: seconds (tests; what catches a read without a quorum).
 *  - deep: two phase-1 rounds per proposer (retries after preemption or timeout): minutes.
 *  - minority: acceptor 0 unreachable all along, acceptor 1 holding an idle proposer's promise of
 *    round 3, one proposer with two phase-1 rounds and a reader: a capture must still succeed
 *    (a `sometimes` property). Seconds.
 */
export const MC_CONFIGS = {
  full: { ...WOR_MODEL_DEFAULTS, attempts: 1, commits: true, readers: 1, crashes: 1 },
  small: { ...WOR_MODEL_DEFAULTS, attempts: 1, commits: true, readers: 0, crashes: 1 },
  reads: { ...WOR_MODEL_DEFAULTS, attempts: 1, commits: false, readers: 1, crashes: 1 },
  deep: { ...WOR_MODEL_DEFAULTS, attempts: 2, commits: true, readers: 1, crashes: 1 },
  minority: {
    ...WOR_MODEL_DEFAULTS,
    proposers: 1,
    attempts: 2,
    commits: true,
    readers: 1,
    crashes: 1,
    symmetry: false,
    unreachable: [0],
    promised: [undefined, { round: 3, proposer: 3 }],
  },
} as const satisfies Record<string, WorModelOptions>;

export type McConfigName = keyof typeof MC_CONFIGS;
