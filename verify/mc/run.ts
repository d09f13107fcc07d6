/**
 * `runModelCheck`: the entry point the CLI (`worm check mc`) and the tests call. Pure apart from the
 * clock reading passed in; progress goes to a callback.
 */
import { type CheckSummary, type Progress, type SearchOptions, check } from "./engine.ts";
import { worModel } from "./models/wor.ts";
import type { Ballot } from "../../paxos/ballot.ts";
import type { Request } from "../../paxos/messages.ts";
import { SPACE, type WorModelOptions, WOR_MODEL_DEFAULTS } from "./models/wor-state.ts";

/** The model's options, and `statesMax` (the summary then says `complete: false`), `now` (a
 *  millisecond clock, e.g. `performance.now`; without it times read 0), `progressEvery`. */
export interface ModelCheckOptions extends Partial<WorModelOptions>, SearchOptions {}

export interface ModelCheckSummary extends CheckSummary {
  readonly model: WorModelOptions;
}

export function runModelCheck(options: ModelCheckOptions = {}, onProgress?: (p: Progress) => void): ModelCheckSummary {
  const { statesMax, now, progressEvery, ...rest } = options;
  const summary = check(worModel(rest), { statesMax, now, progressEvery }, onProgress);
  return { ...summary, model: { ...WOR_MODEL_DEFAULTS, ...rest } };
}

const OLDER: Ballot = { round: 1, proposer: 1 };
/** What an older range capture (proposer 1, now idle) left: it captured [0, 2) at acceptors 0
 *  and 1, and its write of 0x0f at address 0 reached acceptor 0 only. */
const OLDER_CAPTURE: readonly (readonly Request[])[] = [
  [
    { kind: "prepare", space: SPACE, from: 0, to: 2, ballot: OLDER },
    { kind: "accept", space: SPACE, ballot: OLDER, entries: [{ index: 0, value: new Uint8Array([0x0f]) }] },
  ],
  [{ kind: "prepare", space: SPACE, from: 0, to: 2, ballot: OLDER }],
];

/**
 * Named configurations. All check 3 acceptors over a network that loses, duplicates and reorders,
 * with one acceptor crash.
 *  - full: one address, 2 proposers, commits and a reader: the exhaustive target (< 60 s).
 *  - small: no reader: seconds (tests).
 *  - reads: a reader, no commits: seconds (tests; what catches a read without a quorum).
 *  - deep: two phase-1 rounds per proposer (retries after preemption or timeout): minutes.
 *  - minority: acceptor 0 unreachable all along, acceptor 1 holding an idle proposer's promise of
 *    round 3, one proposer with two phase-1 rounds and a reader: its first capture must still
 *    succeed (a `sometimes` property). Seconds.
 *  - range: two addresses, captured with range prepares and written together, by 2 proposers
 *    (ids 2 and 3) over what an older range capture left (OLDER_CAPTURE: a third ballot, below
 *    theirs); no commits, no reader. What catches adopting the lowest accepted ballot and not
 *    persisting range promises. Half a minute.
 *  - recover: the same addresses and older capture, one proposer (id 2) that then reads with
 *    recovery: a read that finds an address unsettled captures it (a new ballot) and finishes
 *    what it found. Seconds (tests).
 * Without commits a crash can lose nothing from a correct acceptor (sync mode), so in `reads`,
 * `range` and `recover` it only ever hits a planted bug's unpersisted state.
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
    seed: [[], [{ kind: "prepare", space: SPACE, from: 0, to: 1, ballot: { round: 3, proposer: 3 } }]],
  },
  range: {
    ...WOR_MODEL_DEFAULTS,
    addresses: 2,
    attempts: 1,
    commits: false,
    readers: 0,
    crashes: 1,
    seed: OLDER_CAPTURE,
    firstProposerId: 2,
  },
  recover: {
    ...WOR_MODEL_DEFAULTS,
    addresses: 2,
    proposers: 1,
    attempts: 1,
    commits: false,
    readers: 1,
    recover: true,
    crashes: 1,
    seed: OLDER_CAPTURE,
    firstProposerId: 2,
  },
} as const satisfies Record<string, WorModelOptions>;

export type McConfigName = keyof typeof MC_CONFIGS;
