/**
 * Proposer round logic, pure (docs/ARCHITECTURE.md §3.2): tallies that take acceptor replies one at a time and
 * say when a round is decided. Phase 1 (`PrepareTally`) adopts the highest accepted value per
 * address; phase 2 (`AcceptTally`) counts votes per address; `ReadTally` classifies what a quorum
 * reports as written, unwritten or pending; `AckTally` counts acknowledgements (trim, createSpace).
 *
 * A tally waits only for acceptors that may still answer: one whose link is known down
 * (`setDown`) is not waited for, so a round that cannot reach a quorum without it is decided at
 * once. Every tally keeps what each acceptor answered (`answerList`), for a failure's account.
 */
import { assert } from "../verify/runtime/assert.ts";
import { planted } from "../verify/runtime/planted.ts";
import { type Ballot, OWNER_BALLOT, ballotEq, ballotLt, maxBallot } from "./ballot.ts";
import type { Accepted, ErrorCode, Reply } from "./messages.ts";
import { canReach } from "./quorum.ts";

export interface Electorate {
  readonly acceptors: number;
  readonly quorum: number;
}

/**
 * A round that failed. `noQuorum`: no quorum answered before the deadline; `unreachable`: the
 * acceptors that could still have made a quorum are known down (decided before the deadline).
 */
export type RoundFailure = { readonly kind: "failed"; readonly code: ErrorCode | "noQuorum" | "unreachable"; readonly message: string };

/** What one acceptor answered in a round. The word for a yes depends on the round. */
export type Verdict =
  | { readonly kind: "promised" | "voted" | "reported" | "acknowledged" }
  /** It holds a higher promise (a prepare rejected, or an accept refused at some address). */
  | { readonly kind: "rejected"; readonly promised: Ballot }
  | { readonly kind: "trimmed"; readonly mark: number }
  /** An answer that counts for nothing here (a promise or a vote for another ballot). */
  | { readonly kind: "stale" }
  | { readonly kind: "error"; readonly code: ErrorCode; readonly message: string };

export interface Answer {
  readonly acceptor: number;
  readonly verdict: Verdict;
}

const PROMISED: Verdict = Object.freeze({ kind: "promised" });
const VOTED: Verdict = Object.freeze({ kind: "voted" });
const REPORTED: Verdict = Object.freeze({ kind: "reported" });
const ACKNOWLEDGED: Verdict = Object.freeze({ kind: "acknowledged" });
const STALE: Verdict = Object.freeze({ kind: "stale" });

abstract class Tally {
  private readonly verdicts = new Map<number, Verdict>();
  private readonly down = new Set<number>();
  /** Acceptors that may still answer: neither answered nor known down. */
  protected outstanding: number;
  protected readonly errors: { code: ErrorCode; message: string }[] = [];
  constructor(protected readonly electorate: Electorate) {
    this.outstanding = electorate.acceptors;
  }

  /** Record one acceptor's reply; a repeated reply from the same acceptor is ignored. */
  add(acceptor: number, reply: Reply): void {
    assert(acceptor >= 0 && acceptor < this.electorate.acceptors, "reply from an acceptor outside the electorate");
    if (this.verdicts.has(acceptor)) return;
    if (!this.down.has(acceptor)) this.outstanding--;
    let verdict: Verdict;
    if (reply.kind === "error") {
      verdict = { kind: "error", code: reply.code, message: reply.message };
      this.errors.push({ code: reply.code, message: reply.message });
    } else verdict = this.take(reply);
    this.verdicts.set(acceptor, verdict);
  }
  /** `acceptor`'s link is down (or back up): a round does not wait for an acceptor that cannot answer. */
  setDown(acceptor: number, down: boolean): void {
    if (down === this.down.has(acceptor)) return;
    if (down) this.down.add(acceptor);
    else this.down.delete(acceptor);
    if (!this.verdicts.has(acceptor)) this.outstanding += down ? -1 : 1;
  }
  hasAnswered(acceptor: number): boolean {
    return this.verdicts.has(acceptor);
  }
  /** What each acceptor that answered said, by acceptor. */
  answerList(): Answer[] {
    return [...this.verdicts].sort(([a], [b]) => a - b).map(([acceptor, verdict]) => ({ acceptor, verdict }));
  }
  /** The highest promise any acceptor rejected this round with: the next attempt goes above it. */
  highestRejection(): Ballot | undefined {
    let hi: Ballot | undefined;
    for (const v of this.verdicts.values()) if (v.kind === "rejected") hi = hi ? maxBallot(hi, v.promised) : v.promised;
    return hi;
  }
  protected get answered(): number {
    return this.verdicts.size;
  }
  protected failure(): RoundFailure {
    const first = this.errors[0];
    return first
      ? { kind: "failed", code: first.code, message: first.message }
      : { kind: "failed", code: "noQuorum", message: "no quorum of acceptors answered" };
  }
  /** Count a reply that is not an error; say what it was. */
  protected abstract take(reply: Reply): Verdict;
}

export type PrepareOutcome =
  | { readonly kind: "pending" }
  | { readonly kind: "captured"; readonly adopted: ReadonlyMap<number, Accepted>; readonly chosen: ReadonlySet<number> }
  | { readonly kind: "preempted"; readonly by: Ballot }
  | { readonly kind: "trimmed"; readonly mark: number }
  | RoundFailure;

export class PrepareTally extends Tally {
  private promises = 0;
  private rejectedBy: Ballot | undefined;
  private trimMark: number | undefined;
  private readonly adopted = new Map<number, Accepted>();
  private readonly chosen = new Set<number>();
  constructor(electorate: Electorate, readonly ballot: Ballot) {
    super(electorate);
  }
  protected take(reply: Reply): Verdict {
    if (reply.kind === "promise") {
      if (!ballotEq(reply.ballot, this.ballot)) return STALE;
      this.promises++;
      for (const a of reply.accepted) {
        if (!a.accepted) continue;
        const prev = this.adopted.get(a.index);
        // The value of the highest accepted ballot (the planted bug takes the lowest).
        const beats = !prev || (planted("adoptLowestBallot") ? ballotLt(a.accepted.ballot, prev.ballot) : ballotLt(prev.ballot, a.accepted.ballot));
        if (beats && !planted("ignoreAdoptedValue")) this.adopted.set(a.index, a.accepted);
        if (a.committed) this.chosen.add(a.index);
      }
      return PROMISED;
    }
    if (reply.kind === "prepareRejected") {
      this.rejectedBy = this.rejectedBy ? maxBallot(this.rejectedBy, reply.promised) : reply.promised;
      return { kind: "rejected", promised: reply.promised };
    }
    if (reply.kind === "trimmed") {
      this.trimMark = Math.max(this.trimMark ?? 0, reply.mark);
      return { kind: "trimmed", mark: reply.mark };
    }
    return STALE;
  }
  /**
   * Captured once a quorum promised. Preempted once a rejection is in and either a quorum has
   * answered or no quorum of promises can come any more: the next attempt then goes above the
   * rejecting ballot, instead of waiting out the deadline for an acceptor that may be down (which
   * could at best capture below a ballot that is already out there). `deadline`: no more replies
   * will count; a round with a rejection is then preempted, one without fails.
   */
  outcome(deadline = false): PrepareOutcome {
    const { quorum } = this.electorate;
    if (this.trimMark !== undefined) return { kind: "trimmed", mark: this.trimMark };
    if (this.promises >= quorum) return { kind: "captured", adopted: this.adopted, chosen: this.chosen };
    const reachable = !deadline && canReach(this.promises, this.outstanding, quorum);
    if (planted("waitOutRejection")) {
      // The old way: wait for every acceptor, down or not; at the deadline, fail without the rejection.
      const waiting = canReach(this.promises, this.electorate.acceptors - this.answered, quorum);
      if (!deadline && waiting) return { kind: "pending" };
      return this.rejectedBy && !waiting ? { kind: "preempted", by: this.rejectedBy } : this.failure();
    }
    if (this.rejectedBy && (!reachable || this.answered >= quorum)) return { kind: "preempted", by: this.rejectedBy };
    return reachable ? { kind: "pending" } : this.failure();
  }
}

export type VoteOutcome =
  | { readonly kind: "ok" }
  | { readonly kind: "alreadyWritten"; readonly value: Uint8Array }
  | { readonly kind: "preempted"; readonly by: Ballot }
  | { readonly kind: "trimmed" }
  | RoundFailure;

interface VoteCount {
  votes: number;
  refusals: number;
  by: Ballot;
  chosen?: Uint8Array;
  trimmed: boolean;
}

export class AcceptTally extends Tally {
  private readonly counts = new Map<number, VoteCount>();
  constructor(electorate: Electorate, readonly ballot: Ballot, indexes: readonly number[]) {
    super(electorate);
    for (const i of indexes) this.counts.set(i, { votes: 0, refusals: 0, by: OWNER_BALLOT, trimmed: false });
  }
  override add(acceptor: number, reply: Reply): void {
    const fresh = !this.hasAnswered(acceptor);
    super.add(acceptor, reply);
    if (fresh && reply.kind === "error") for (const c of this.counts.values()) c.refusals++;
  }
  protected take(reply: Reply): Verdict {
    if (reply.kind !== "voted" || !ballotEq(reply.ballot, this.ballot)) {
      for (const c of this.counts.values()) c.refusals++;
      return STALE;
    }
    if (reply.refused.length === 0) {
      for (const c of this.counts.values()) c.votes++;
      return VOTED;
    }
    let highest = OWNER_BALLOT;
    const refused = new Map(reply.refused.map((r) => [r.index, r]));
    for (const [i, c] of this.counts) {
      const r = refused.get(i);
      if (!r) {
        c.votes++;
        continue;
      }
      c.refusals++;
      c.by = maxBallot(c.by, r.promised);
      highest = maxBallot(highest, r.promised);
      if (r.trimmed) c.trimmed = true;
      if (r.chosen) c.chosen = r.chosen;
    }
    return { kind: "rejected", promised: highest };
  }
  /** Per address: its outcome, or "pending" while more replies could change it. */
  outcome(index: number): VoteOutcome | { readonly kind: "pending" } {
    const c = this.counts.get(index);
    assert(c, `index ${index} is not in this round`);
    if (c.votes >= this.electorate.quorum) return { kind: "ok" };
    if (c.chosen) return { kind: "alreadyWritten", value: c.chosen };
    if (c.trimmed) return { kind: "trimmed" };
    if (canReach(c.votes, this.outstanding, this.electorate.quorum)) return { kind: "pending" };
    return ballotLt(OWNER_BALLOT, c.by) || c.refusals > this.errors.length ? { kind: "preempted", by: c.by } : this.failure();
  }
  decided(): boolean {
    for (const i of this.counts.keys()) if (this.outcome(i).kind === "pending") return false;
    return true;
  }
}

export type ReadOutcome =
  | { readonly kind: "written"; readonly value: Uint8Array }
  | { readonly kind: "unwritten" }
  | { readonly kind: "pending" }
  | { readonly kind: "trimmed" };

interface Seen {
  accepted: Accepted;
  committed: boolean;
}

export class ReadTally extends Tally {
  private readonly replies: Map<number, Seen>[] = [];
  private trimMark = 0;
  constructor(electorate: Electorate, readonly from: number, readonly to: number) {
    super(electorate);
  }
  protected take(reply: Reply): Verdict {
    if (reply.kind !== "states") return STALE;
    this.trimMark = Math.max(this.trimMark, reply.trimMark);
    const seen = new Map<number, Seen>();
    for (const a of reply.addresses) if (a.accepted) seen.set(a.index, { accepted: a.accepted, committed: a.committed });
    this.replies.push(seen);
    return REPORTED;
  }
  /** Classify one address; `final` asks for a verdict now (all replies that will come are in). */
  outcome(index: number, final = this.outstanding === 0): ReadOutcome | { readonly kind: "undecided" } {
    assert(index >= this.from && index < this.to, "index outside the read");
    if (index < this.trimMark) return { kind: "trimmed" };
    const { quorum } = this.electorate;
    let none = 0;
    const byBallot: { ballot: Ballot; value: Uint8Array; n: number }[] = [];
    for (const r of this.replies) {
      const s = r.get(index);
      if (!s) {
        none++;
        continue;
      }
      if (s.committed) return { kind: "written", value: s.accepted.value };
      const slot = byBallot.find((b) => ballotEq(b.ballot, s.accepted.ballot));
      if (slot) slot.n++;
      else byBallot.push({ ballot: s.accepted.ballot, value: s.accepted.value, n: 1 });
    }
    const best = byBallot.reduce((m, b) => Math.max(m, b.n), 0);
    const hit = byBallot.find((b) => b.n >= (planted("readWithoutQuorum") ? 1 : quorum));
    if (hit) return { kind: "written", value: hit.value };
    if (none >= quorum) return { kind: "unwritten" };
    if (this.replies.length < quorum) return { kind: "undecided" };
    const left = this.outstanding;
    if (!final && (canReach(best, left, quorum) || canReach(none, left, quorum))) return { kind: "undecided" };
    return { kind: "pending" };
  }
  /** True when a quorum answered and every reported address has a verdict (`final`: no more replies). */
  decided(final: boolean): boolean {
    if (this.replies.length < this.electorate.quorum) return false;
    for (const i of this.reportedIndexes()) if (this.outcome(i, final).kind === "undecided") return false;
    return true;
  }
  /** The acceptors that answered with states (a read needs a quorum of them). */
  get answers(): number {
    return this.replies.length;
  }
  /** Indexes any acceptor reported an accepted value for. */
  reportedIndexes(): number[] {
    const all = new Set<number>();
    for (const r of this.replies) for (const i of r.keys()) all.add(i);
    return [...all].sort((a, b) => a - b);
  }
  failed(): RoundFailure | undefined {
    return canReach(this.replies.length, this.outstanding, this.electorate.quorum) ? undefined : this.failure();
  }
}

export type AckOutcome = { readonly kind: "acked"; readonly mark: number } | RoundFailure;

/** Counts acknowledgements of trim and createSpace (idempotent, no ballots). */
export class AckTally extends Tally {
  private acks = 0;
  private mark = 0;
  protected take(reply: Reply): Verdict {
    if (reply.kind === "trimmed") this.mark = Math.max(this.mark, reply.mark);
    else if (reply.kind !== "spaceCreated") return STALE;
    this.acks++;
    return ACKNOWLEDGED;
  }
  /** Acked once a quorum acknowledged; failed once that cannot happen (or at the `deadline`). */
  outcome(deadline = false): AckOutcome | { readonly kind: "pending" } {
    const { quorum } = this.electorate;
    if (this.acks >= quorum) return { kind: "acked", mark: this.mark };
    if (!deadline && canReach(this.acks, this.outstanding, quorum)) return { kind: "pending" };
    return this.failure();
  }
}
