/** Quorum arithmetic. One quorum size for both phases; any two quorums intersect. */

export function majority(acceptors: number): number {
  return Math.floor(acceptors / 2) + 1;
}

/** A quorum size is usable when two quorums always share an acceptor and it is reachable. */
export function isValidQuorum(quorum: number, acceptors: number): boolean {
  return Number.isInteger(quorum) && quorum <= acceptors && 2 * quorum > acceptors;
}

/** True when `count` votes out of `acceptors` can still reach `quorum` with `outstanding` to come. */
export function canReach(count: number, outstanding: number, quorum: number): boolean {
  return count + outstanding >= quorum;
}
