/**
 * Proposer round logic, pure (DESIGN.md §3.2): tallies that take acceptor replies one at a time and
 * say when a round is decided. Phase 1 (`PrepareTally`) adopts the highest accepted value per
 * address; phase 2 (`AcceptTally`) counts votes per address; `ReadTally` classifies what a quorum
 * reports as written, unwritten or pending.
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

export type RoundFailure = { readonly kind: "failed"; readonly code: ErrorCode | "noQuorum"; readonly message: string };

abstract class Tally {
  protected readonly answered = new Set<number>();
  protected readonly errors: { code: ErrorCode; message: string }[] = [];
  constructor(protected readonly electorate: Electorate) {}

  /** Record one acceptor's reply; a repeated reply from the same acceptor is ignored. */
  add(acceptor: number, reply: Reply): void {
    assert(acceptor >= 0 && acceptor < this.electorate.acceptors, "reply from an acceptor outside the electorate");
    if (this.answered.has(acceptor)) return;
    this.answered.add(acceptor);
    if (reply.kind === "error") this.errors.push({ code: reply.code, message: reply.message });
    else this.take(reply);
  }
  protected get outstanding(): number {
    return this.electorate.acceptors - this.answered.size;
  }
  protected failure(): RoundFailure {
    const first = this.errors[0];
    return first
      ? { kind: "failed", code: first.code, message: first.message }
      : { kind: "failed", code: "noQuorum", message: "no quorum of acceptors answered" };
  }
  protected abstract take(reply: Reply): void;
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
  protected take(reply: Reply): void {
    if (reply.kind === "promise") {
      if (!ballotEq(reply.ballot, this.ballot)) return;
      this.promises++;
      for (const a of reply.accepted) {
        if (!a.accepted) continue;
        const prev = this.adopted.get(a.index);
        if ((!prev || ballotLt(prev.ballot, a.accepted.ballot)) && !planted("ignoreAdoptedValue")) this.adopted.set(a.index, a.accepted);
        if (a.committed) this.chosen.add(a.index);
      }
    } else if (reply.kind === "prepareRejected") {
      this.rejectedBy = this.rejectedBy ? maxBallot(this.rejectedBy, reply.promised) : reply.promised;
    } else if (reply.kind === "trimmed") {
      this.trimMark = Math.max(this.trimMark ?? 0, reply.mark);
    }
  }
  outcome(): PrepareOutcome {
    const { quorum } = this.electorate;
    if (this.trimMark !== undefined) return { kind: "trimmed", mark: this.trimMark };
    if (this.promises >= quorum) return { kind: "captured", adopted: this.adopted, chosen: this.chosen };
    if (canReach(this.promises, this.outstanding, quorum)) return { kind: "pending" };
    return this.rejectedBy ? { kind: "preempted", by: this.rejectedBy } : this.failure();
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
    const fresh = !this.answered.has(acceptor);
    super.add(acceptor, reply);
    if (fresh && reply.kind === "error") for (const c of this.counts.values()) c.refusals++;
  }
  protected take(reply: Reply): void {
    if (reply.kind !== "voted" || !ballotEq(reply.ballot, this.ballot)) {
      for (const c of this.counts.values()) c.refusals++;
      return;
    }
    const refused = new Map(reply.refused.map((r) => [r.index, r]));
    for (const [i, c] of this.counts) {
      const r = refused.get(i);
      if (!r) {
        c.votes++;
        continue;
      }
      c.refusals++;
      c.by = maxBallot(c.by, r.promised);
      if (r.trimmed) c.trimmed = true;
      if (r.chosen) c.chosen = r.chosen;
    }
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
  protected take(reply: Reply): void {
    if (reply.kind !== "states") return;
    this.trimMark = Math.max(this.trimMark, reply.trimMark);
    const seen = new Map<number, Seen>();
    for (const a of reply.addresses) if (a.accepted) seen.set(a.index, { accepted: a.accepted, committed: a.committed });
    this.replies.push(seen);
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
