/**
 * One round = one request to every acceptor and a tally of their replies (docs/ARCHITECTURE.md §3.2).
 * Operations (wor/core/ops.ts) are generators that yield rounds and resume with their outcomes;
 * the client core (wor/core/client-core.ts) sends, resends and times them out.
 */
import type { Ballot } from "../../paxos/ballot.ts";
import { metaSpaceOf, ownerOfSystemSpace } from "../../paxos/limits.ts";
import type { Entry, Reply, Request, SpaceName } from "../../paxos/messages.ts";
import { AcceptTally, type AckOutcome, AckTally, type Electorate, PrepareTally, type PrepareOutcome, ReadTally, type RoundFailure, type VoteOutcome } from "../../paxos/proposer.ts";
import { noQuorumMessage } from "./account.ts";
import type { RoundAccount } from "./results.ts";

export type { AckOutcome } from "../../paxos/proposer.ts";

/** A round that failed, with its account (who answered what, who was unreachable). */
export type AccountedFailure = RoundFailure & { readonly account: RoundAccount };

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

/** Addresses [from, to) of `space` in the user's nouns: system spaces are named after what they hold. */
function addresses(space: string, from: number, to: number): string {
  const owner = ownerOfSystemSpace(space);
  if (owner === undefined) return to - from === 1 ? `${space}[${from}]` : `${space}[${from}, ${to})`;
  if (space === metaSpaceOf(owner)) return `the metadata of ${owner}`;
  return to - from === 1 ? `the allocation of segment ${from} of ${owner}` : `the allocations of segments ${from}..${to - 1} of ${owner}`;
}

/** The round in the user's nouns, for failure messages. */
function describeRound(round: Exclude<Round, { kind: "sleep" }>): string {
  switch (round.kind) {
    case "prepare":
      return `prepare of ${addresses(round.space, round.from, round.to)}`;
    case "read":
      return `read of ${addresses(round.space, round.from, round.to)}`;
    case "accept": {
      const at = round.entries.map((e) => e.index);
      const lo = Math.min(...at);
      const hi = Math.max(...at);
      return at.length === 1 ? `accept of ${addresses(round.space, lo, lo + 1)}` : `accept of ${at.length} addresses of ${round.space} in [${lo}, ${hi}]`;
    }
    case "trim": {
      const owner = ownerOfSystemSpace(round.space);
      return owner === undefined ? `trim of ${round.space} below ${round.below}` : `trim of the allocations of ${owner} below segment ${round.below}`;
    }
    case "createSpace":
      return `creating space ${round.space}`;
  }
}

const NO_QUORUM: RoundFailure = { kind: "failed", code: "noQuorum", message: "no quorum of acceptors answered" };

/**
 * The live tally of one round; `decide(deadline)` returns the outcome once it is known. Acceptors
 * whose link is down (`setDown`) are not waited for; every failure carries the round's account.
 */
export class RoundTally {
  private readonly tally: PrepareTally | AcceptTally | ReadTally | AckTally;
  private readonly down = new Map<number, string>();
  constructor(
    readonly round: Exclude<Round, { kind: "sleep" }>,
    private readonly electorate: Electorate,
    /** How long the round may take, for the account of a round that ran out of time. */
    private readonly timeoutMs: number,
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

  /** `acceptor`'s link went down (`reason`) or came back (undefined). */
  setDown(acceptor: number, reason: string | undefined): void {
    if (reason === undefined) this.down.delete(acceptor);
    else this.down.set(acceptor, reason);
    this.tally.setDown(acceptor, reason !== undefined);
  }

  /** The highest promise an acceptor rejected this round with: later ballots go above it. */
  highestRejection(): Ballot | undefined {
    return this.tally.highestRejection();
  }

  /** The outcome, or undefined while replies could still change it. `deadline`: the round's time is up. */
  decide(deadline: boolean): RoundOutcome | undefined {
    const o = this.verdict(deadline);
    return o && isFailure(o) ? this.accounted(o, deadline) : o;
  }

  private verdict(deadline: boolean): RoundOutcome | undefined {
    const t = this.tally;
    if (t instanceof PrepareTally) {
      const o = t.outcome(deadline);
      return o.kind === "pending" ? undefined : o;
    }
    if (t instanceof AcceptTally) {
      if (!t.decided() && !deadline) return undefined;
      const out = new Map<number, VoteOutcome>();
      for (const e of (this.round as Extract<Round, { kind: "accept" }>).entries) {
        const o = t.outcome(e.index);
        if (o.kind === "pending") return NO_QUORUM;
        if (o.kind === "failed") return o;
        out.set(e.index, o);
      }
      return out;
    }
    if (t instanceof ReadTally) {
      const failed = t.failed();
      if (failed) return failed;
      if (t.decided(deadline)) return t;
      return deadline ? NO_QUORUM : undefined;
    }
    const o = t.outcome(deadline);
    return o.kind === "pending" ? undefined : o;
  }

  /** A failure with the round's account; a round short of a quorum says who answered what. */
  private accounted(f: RoundFailure, deadline: boolean): AccountedFailure {
    const answered = this.tally.answerList();
    const heard = new Set(answered.map((a) => a.acceptor));
    const unreachable = [...this.down].filter(([a]) => !heard.has(a)).sort(([a], [b]) => a - b).map(([acceptor, reason]) => ({ acceptor, reason }));
    const silent: number[] = [];
    for (let a = 0; a < this.electorate.acceptors; a++) if (!heard.has(a) && !this.down.has(a)) silent.push(a);
    const account: RoundAccount = {
      round: describeRound(this.round),
      acceptors: this.electorate.acceptors,
      quorum: this.electorate.quorum,
      answered,
      unreachable,
      silent,
      ...(deadline ? { timedOutAfterMs: this.timeoutMs } : {}),
    };
    if (f.code !== "noQuorum") return { ...f, account };
    const code = !deadline && unreachable.length > 0 ? "unreachable" : "noQuorum";
    return { kind: "failed", code, message: noQuorumMessage(account), account };
  }
}
