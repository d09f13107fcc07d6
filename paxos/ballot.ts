/**
 * Ballots: (round, proposer), ordered lexicographically (docs/ARCHITECTURE.md §3.2).
 * Ballot 0 = (0, 0) is the reserved owner ballot used by `unsafeWrite`; every proposer id is > 0.
 */
export interface Ballot {
  readonly round: number;
  readonly proposer: number;
}

export const OWNER_BALLOT: Ballot = Object.freeze({ round: 0, proposer: 0 });

/** Largest round or proposer id we accept: both travel as uint64 but stay exact JS integers. */
const BALLOT_PART_MAX = Number.MAX_SAFE_INTEGER;

export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.proposer !== b.proposer) return a.proposer < b.proposer ? -1 : 1;
  return 0;
}

export const ballotEq = (a: Ballot, b: Ballot): boolean => a.round === b.round && a.proposer === b.proposer;
export const ballotLt = (a: Ballot, b: Ballot): boolean => compareBallots(a, b) < 0;
export const ballotGe = (a: Ballot, b: Ballot): boolean => compareBallots(a, b) >= 0;
export const maxBallot = (a: Ballot, b: Ballot): Ballot => (compareBallots(a, b) >= 0 ? a : b);
export const isOwnerBallot = (b: Ballot): boolean => b.round === 0 && b.proposer === 0;

/** A well-formed ballot: non-negative exact integers; round 0 only as the owner ballot. */
const isBallotPart = (x: number): boolean => Number.isSafeInteger(x) && x >= 0 && x <= BALLOT_PART_MAX;

export function isValidBallot(b: Ballot): boolean {
  if (!isBallotPart(b.round) || !isBallotPart(b.proposer)) return false;
  return b.round > 0 ? b.proposer > 0 : b.proposer === 0;
}

/** The smallest ballot of `proposer` that is above `seen`. */
export function nextBallot(seen: Ballot, proposer: number): Ballot {
  return { round: seen.round + 1, proposer };
}

/** `round:proposer`, both as integers ("3:1234"; never "3.1234", which reads as a fraction), or "owner". */
export const formatBallot = (b: Ballot): string => (isOwnerBallot(b) ? "owner" : `${b.round}:${b.proposer}`);
