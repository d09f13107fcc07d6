/**
 * The outcome is data (docs/ARCHITECTURE.md §4.3): a transaction commits iff every participant's vote
 * register holds YES, and aborts iff one holds NO. Nobody records a decision; anyone who reads the
 * votes computes the same one, and once every vote is chosen it can never change.
 */
import { planted } from "../../../verify/runtime/planted.ts";
import type { Vote } from "./record.ts";

export type Outcome = "committed" | "aborted";

/** The outcome the votes imply; undefined while some vote is unknown (unwritten or pending) and none is NO. */
export function decide(votes: readonly (Vote | undefined)[]): Outcome | undefined {
  if (votes.some((v) => v?.kind === "no")) return "aborted";
  // PLANTED BUG: commit on the YES votes known so far, as if a missing one were a YES too.
  if (planted("commitWithVoteMissing") && votes.some((v) => v?.kind === "yes")) return "committed";
  return votes.every((v) => v?.kind === "yes") ? "committed" : undefined;
}
