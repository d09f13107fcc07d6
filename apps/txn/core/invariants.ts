/**
 * The transaction invariants (docs/ARCHITECTURE.md §4.3), checked against a ghost of what the
 * registers chose: the unit tests, the simulator's txn world and the model checker feed the same
 * observer. It judges by the rule itself, never by `decide` (whose planted bug it must catch).
 *  - an outcome follows from the chosen votes: committed only if every vote is a chosen YES,
 *    aborted only if some vote is a chosen NO;
 *  - everyone learns the same outcome, and an outcome never changes;
 *  - no participant applies a commit of an aborted transaction or the reverse, nor anything twice.
 */
import type { Outcome } from "./outcome.ts";
import type { Vote } from "./record.ts";

/** Why `outcome` does not follow from the chosen `votes` (undefined: it does). */
export function outcomeProblem(votes: readonly (Vote | undefined)[], outcome: Outcome): string | undefined {
  if (outcome === "committed") {
    const missing = votes.flatMap((v, i) => (v?.kind === "yes" ? [] : [`${i}: ${v ? "NO" : "not chosen"}`]));
    return missing.length > 0 ? `committed, but not every vote is a chosen YES (${missing.join(", ")})` : undefined;
  }
  return votes.some((v) => v?.kind === "no") ? undefined : "aborted, but no vote is a chosen NO";
}

interface Ghost {
  readonly votes: (Vote | undefined)[];
  outcome?: { readonly outcome: Outcome; readonly by: string };
  readonly applied: Set<string>;
}

export class TxnObserver {
  private readonly txns = new Map<string, Ghost>();

  private ghost(txn: string, participants: number): Ghost {
    let g = this.txns.get(txn);
    if (!g) this.txns.set(txn, (g = { votes: new Array<Vote | undefined>(participants).fill(undefined), applied: new Set() }));
    return g;
  }

  /** Vote `index` of `txn` (of `participants` votes) is chosen. */
  chosen(txn: string, participants: number, index: number, vote: Vote): void {
    this.ghost(txn, participants).votes[index] = vote;
  }

  /** The outcome the chosen votes imply so far (undefined: not decided yet). */
  implied(txn: string): Outcome | undefined {
    const votes = this.txns.get(txn)?.votes ?? [];
    if (votes.some((v) => v?.kind === "no")) return "aborted";
    return votes.length > 0 && votes.every((v) => v?.kind === "yes") ? "committed" : undefined;
  }

  /** `by` (a coordinator, a recoverer, a participant) learned `outcome` for `txn`. */
  decided(txn: string, participants: number, by: string, outcome: Outcome): string[] {
    const g = this.ghost(txn, participants);
    const bad: string[] = [];
    const problem = outcomeProblem(g.votes, outcome);
    if (problem) bad.push(`transaction ${txn}: ${by} decided ${problem}`);
    if (g.outcome && g.outcome.outcome !== outcome) bad.push(`transaction ${txn}: ${g.outcome.by} learned ${g.outcome.outcome}, ${by} learned ${outcome}`);
    g.outcome ??= { outcome, by };
    return bad;
  }

  /** Participant `who` applied `outcome` for `txn` (once per participant and transaction). */
  applied(txn: string, participants: number, who: string, outcome: Outcome): string[] {
    const g = this.ghost(txn, participants);
    const bad = this.decided(txn, participants, `participant ${who}`, outcome);
    if (g.applied.has(who)) bad.push(`transaction ${txn}: participant ${who} applied it twice`);
    g.applied.add(who);
    return bad;
  }
}
