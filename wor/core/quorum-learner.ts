/**
 * The learner's rule (docs/ARCHITECTURE.md §3.2), pure: a value is chosen at an address once a
 * quorum of acceptors has accepted it at one ballot. A watch hears every acceptor's accepted values
 * as they become durable (`accepted` frames), so it learns a write at the moment its writer does,
 * without waiting for the writer's commit notice to reach an acceptor and come back.
 *
 * The tally is per (address, ballot, value): two values at one ballot (a misused owner write) are
 * counted apart, and an acceptor counts once however often it says so. Hearing a later, higher
 * ballot from an acceptor does not take back what it accepted before: "chosen" is about what a
 * quorum ever accepted at one ballot. Tallies are bounded (`tallyMax` addresses); the oldest are
 * forgotten first — a forgotten address is still learned from a commit notice or a read.
 */
import { type Ballot, ballotEq } from "../../paxos/ballot.ts";
import { planted } from "../../verify/runtime/planted.ts";
import { bytesEqual } from "../../verify/runtime/bytes.ts";

const LEARNER_LIMITS = Object.freeze({
  /** Addresses with a tally open at once; past it the oldest are forgotten. */
  tallyMax: 16_384,
});

interface Candidate {
  readonly ballot: Ballot;
  readonly value: Uint8Array;
  /** Acceptor ids that said they accepted it. */
  readonly acceptors: Set<number>;
}

export class QuorumLearner {
  /** Open tallies by address, oldest first (a Map keeps insertion order). */
  private readonly tallies = new Map<number, Candidate[]>();

  constructor(
    /** Acceptors that make a quorum (a majority of the cluster). */
    readonly quorum: number,
    private readonly tallyMax: number = LEARNER_LIMITS.tallyMax,
  ) {}

  /**
   * Acceptor `acceptor` accepted `value` at `ballot` for `index`: the value, if that makes a quorum
   * at one ballot (the tally for `index` is then closed: the caller delivers it and asks no more
   * about it), else undefined.
   */
  heard(acceptor: number, index: number, ballot: Ballot, value: Uint8Array): Uint8Array | undefined {
    let candidates = this.tallies.get(index);
    if (!candidates) {
      if (this.tallies.size >= this.tallyMax) this.forgetOldest();
      this.tallies.set(index, (candidates = []));
    }
    let c = candidates.find((x) => ballotEq(x.ballot, ballot) && bytesEqual(x.value, value));
    if (!c) candidates.push((c = { ballot, value, acceptors: new Set() }));
    c.acceptors.add(acceptor);
    const needed = planted("learnBelowQuorum") ? this.quorum - 1 : this.quorum;
    if (c.acceptors.size < needed) return undefined;
    this.tallies.delete(index);
    return c.value;
  }

  /** Stop counting for `index` (it was learned some other way). */
  forget(index: number): void {
    this.tallies.delete(index);
  }

  /** Addresses with a tally open. */
  get open(): number {
    return this.tallies.size;
  }

  private forgetOldest(): void {
    const oldest = this.tallies.keys().next();
    if (!oldest.done) this.tallies.delete(oldest.value);
  }
}
