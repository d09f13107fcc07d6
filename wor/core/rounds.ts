/**
 * One round = one request to every acceptor and a tally of their replies (DESIGN.md §3.2).
 * Operations (wor/core/ops.ts) are generators that yield rounds and resume with their outcomes;
 * the client core (wor/core/client-core.ts) sends, resends and times them out.
 */
import type { Ballot } from "../../paxos/ballot.ts";
import type { Entry, Reply, Request, SpaceName } from "../../paxos/messages.ts";
import {
  AcceptTally,
  type Electorate,
  PrepareTally,
  type PrepareOutcome,
  ReadTally,
  type RoundFailure,
  type VoteOutcome,
} from "../../paxos/proposer.ts";

export type Round =
  | { readonly kind: "prepare"; readonly space: SpaceName; readonly from: number; readonly to: number; readonly ballot: Ballot }
  | { readonly kind: "accept"; readonly space: SpaceName; readonly ballot: Ballot; readonly entries: readonly Entry[] }
  | { readonly kind: "read"; readonly space: SpaceName; readonly from: number; readonly to: number }
  | { readonly kind: "trim"; readonly space: SpaceName; readonly below: number }
  | { readonly kind: "createSpace"; readonly space: SpaceName }
  /** No messages: resume after `ms` of (virtual) time. Used for backoff. */
  | { readonly kind: "sleep"; readonly ms: number };

export type AcceptOutcome = ReadonlyMap<number, VoteOutcome> | RoundFailure;
/** A read round's tally, final: classify each index with `outcome(i, true)`. */
export type ReadRoundOutcome = ReadTally | RoundFailure;
export type AckOutcome = { readonly kind: "acked"; readonly mark: number } | RoundFailure;

export type RoundOutcome = PrepareOutcome | AcceptOutcome | ReadRoundOutcome | AckOutcome | { readonly kind: "slept" };

export const isFailure = (o: unknown): o is RoundFailure =>
  typeof o === "object" && o !== null && (o as { kind?: unknown }).kind === "failed";

export function roundRequest(round: Exclude<Round, { kind: "sleep" }>): Request {
  switch (round.kind) {
    case "prepare":
      return { kind: "prepare", space: round.space, from: round.from, to: round.to, ballot: round.ballot };
    case "accept":
      return { kind: "accept", space: round.space, ballot: round.ballot, entries: round.entries };
    case "read":
      return { kind: "read", space: round.space, from: round.from, to: round.to };
    case "trim":
      return { kind: "trim", space: round.space, below: round.below };
    case "createSpace":
      return { kind: "createSpace", space: round.space };
  }
}

/** Counts acknowledgements of trim and createSpace (idempotent, no ballots). */
class AckTally {
  private acks = 0;
  private mark = 0;
  private readonly errors: { code: string; message: string }[] = [];
  private readonly answered = new Set<number>();
  constructor(private readonly electorate: Electorate) {}
  add(acceptor: number, reply: Reply): void {
    if (this.answered.has(acceptor)) return;
    this.answered.add(acceptor);
    if (reply.kind === "trimmed") {
      this.acks++;
      this.mark = Math.max(this.mark, reply.mark);
    } else if (reply.kind === "spaceCreated") this.acks++;
    else if (reply.kind === "error") this.errors.push(reply);
  }
  outcome(final: boolean): AckOutcome | undefined {
    const { acceptors, quorum } = this.electorate;
    if (this.acks >= quorum) return { kind: "acked", mark: this.mark };
    if (!final && this.acks + acceptors - this.answered.size >= quorum) return undefined;
    const e = this.errors[0];
    return { kind: "failed", code: (e?.code as RoundFailure["code"]) ?? "noQuorum", message: e?.message ?? "no quorum acknowledged" };
  }
}

/** The live tally of one round; `decide(final)` returns the outcome once it is known. */
export class RoundTally {
  private readonly tally: PrepareTally | AcceptTally | ReadTally | AckTally;
  constructor(
    readonly round: Exclude<Round, { kind: "sleep" }>,
    electorate: Electorate,
  ) {
    switch (round.kind) {
      case "prepare":
        this.tally = new PrepareTally(electorate, round.ballot);
        break;
      case "accept":
        this.tally = new AcceptTally(electorate, round.ballot, round.entries.map((e) => e.index));
        break;
      case "read":
        this.tally = new ReadTally(electorate, round.from, round.to);
        break;
      default:
        this.tally = new AckTally(electorate);
    }
  }

  add(acceptor: number, reply: Reply): void {
    this.tally.add(acceptor, reply);
  }

  /** The outcome, or undefined while replies could still change it. `final`: the deadline passed. */
  decide(final: boolean): RoundOutcome | undefined {
    const t = this.tally;
    if (t instanceof PrepareTally) {
      const o = t.outcome();
      if (o.kind !== "pending") return o;
      return final ? { kind: "failed", code: "noQuorum", message: "prepare: no quorum before the deadline" } : undefined;
    }
    if (t instanceof AcceptTally) {
      if (!t.decided() && !final) return undefined;
      const out = new Map<number, VoteOutcome>();
      for (const e of (this.round as Extract<Round, { kind: "accept" }>).entries) {
        const o = t.outcome(e.index);
        if (o.kind === "pending") return { kind: "failed", code: "noQuorum", message: "accept: no quorum before the deadline" };
        out.set(e.index, o);
      }
      return out;
    }
    if (t instanceof ReadTally) {
      const failed = t.failed();
      if (failed) return failed;
      if (t.decided(final)) return t;
      return final ? { kind: "failed", code: "noQuorum", message: "read: no quorum before the deadline" } : undefined;
    }
    return t.outcome(final);
  }
}
