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
    /** Acceptors that make a quorum (a majority of the cluster; `forgetAll` may change it). */
    private quorum: number,
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

  /**
   * The value acceptor `acceptor` said it accepted at `ballot` for `index`, if this tally holds
   * exactly one (a commit notice without its value names it so), else undefined.
   */
  acceptedBy(acceptor: number, index: number, ballot: Ballot): Uint8Array | undefined {
    let found: Uint8Array | undefined;
    for (const c of this.tallies.get(index) ?? []) {
      if (!c.acceptors.has(acceptor)) continue;
      if (planted("learnUntold")) return c.value;
      if (!ballotEq(c.ballot, ballot)) continue;
      if (found) return undefined;
      found = c.value;
    }
    return found;
  }

  /** Stop counting for `index` (it was learned some other way). */
  forget(index: number): void {
    this.tallies.delete(index);
  }

  /** Stop counting everything: the acceptors' slots changed (a reconfiguration), and what one said
   *  must not join a quorum with what its successor says; from now on `quorum` make one. */
  forgetAll(quorum = this.quorum): void {
    this.tallies.clear();
    this.quorum = quorum;
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

const WATCH_LEARNER_LIMITS = Object.freeze({
  /** Delivered indexes remembered (to drop repeats); past it the lower half is forgotten. */
  deliveredMax: 65_536,
});

/**
 * What one watch delivers of the pushes it hears from the acceptors, each index once: a value one
 * acceptor learned is chosen (its commit notice), or one a quorum accepted at one ballot. Used by
 * the client's feed (wor/node/watch-feed.ts) and the simulator's processes alike. Pushes are a
 * fast path, not the record: the delivered indexes it remembers are bounded (`deliveredMax`;
 * pushes below the forgotten ones are ignored), and what a watcher misses it reads.
 */
export class WatchLearner {
  private readonly delivered = new Set<number>();
  /** Every index below it counts as delivered (forgotten from `delivered`). */
  private floor: number;
  private readonly tally: QuorumLearner;

  constructor(
    from: number,
    quorum: number,
    private readonly deliveredMax: number = WATCH_LEARNER_LIMITS.deliveredMax,
  ) {
    this.floor = from;
    this.tally = new QuorumLearner(quorum);
  }

  /**
   * Acceptor `acceptor` learned the value it accepted at `ballot` is chosen at `index`: the value to
   * deliver, unless delivered already. Without `value` (that acceptor pushed it to this watch as
   * accepted before), it is the one that acceptor's accepted push named; if that push is not in the
   * tally (forgotten, or never heard), nothing is delivered and the watcher reads it, as it reads
   * every push it misses.
   */
  learned(acceptor: number, index: number, ballot: Ballot, value: Uint8Array | undefined): Uint8Array | undefined {
    if (this.seen(index)) return undefined;
    const chosen = value ?? this.tally.acceptedBy(acceptor, index, ballot);
    if (chosen) this.deliver(index);
    return chosen;
  }

  /** Acceptor `acceptor` accepted `value` at `ballot` (durably): the value to deliver once that makes a quorum. */
  accepted(acceptor: number, index: number, ballot: Ballot, value: Uint8Array): Uint8Array | undefined {
    if (this.seen(index)) return undefined;
    const chosen = this.tally.heard(acceptor, index, ballot, value);
    if (chosen) this.deliver(index);
    return chosen;
  }

  /** The client follows a new configuration (of `quorum`): accepts heard so far count no more
   *  (what it delivered stays delivered). */
  reconfigured(quorum?: number): void {
    this.tally.forgetAll(quorum);
  }

  private seen(index: number): boolean {
    return index < this.floor || this.delivered.has(index);
  }

  private deliver(index: number): void {
    this.tally.forget(index);
    this.delivered.add(index);
    if (this.delivered.size <= this.deliveredMax) return;
    const sorted = [...this.delivered].sort((a, b) => a - b);
    const keep = sorted.length >> 1;
    this.floor = sorted[sorted.length - keep]!;
    for (const i of sorted.slice(0, sorted.length - keep)) this.delivered.delete(i);
  }
}
