/**
 * A participant (docs/ARCHITECTURE.md §4.3): a `Book` (what it votes on and applies: the bank's
 * account book, bank.ts; a KV partition's locks) behind the transaction protocol. Pure: the node
 * (apps/txn/node/participant-shell.ts, and its owner: accounts.ts) and the simulator run its
 * operations and make its decisions durable (`onDecided`: the decision, the part a commit applied,
 * and `scanFrom`).
 *
 *  - **prepare**: the book votes YES (holding what it needs) or NO (saying why), and we cast the
 *    vote at our address (vote.ts). A YES is in doubt until the outcome is known.
 *  - **learn** the outcome by the votes pushed to a watch (`pushed`), the coordinator's word
 *    (`notified`), or past the deadline by resolving (`resolveDoubt`, resolve.ts); then decide.
 *  - **restart** (`restart`): the vote registers are the only record of our votes, so a new life
 *    first fences and reads every block where an earlier one may have voted (from the persisted
 *    `scanFrom` through the last claimed block): one range capture per block, which finishes every
 *    vote in flight and stops every owner write still on its way, then a NO naming nobody into
 *    every vote address still empty (an owner write accepted at a minority the capture missed can
 *    never be chosen later). Every vote there is then chosen: among them, ours (they name us) are
 *    our votes, and each of their transactions is decided. Later prepares in those blocks get NO,
 *    written by capture: only blocks claimed after the restart see our owner writes, so no address
 *    ever gets two of ours.
 * `scanFrom` stays at or below every transaction we voted YES in and have not durably decided, and
 * below every segment we may still vote YES in (`floor`, which only rises): we vote NO below it.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { probe } from "../../../verify/runtime/probe.ts";
import { lastBlock } from "./blocks.ts";
import { type Outcome, decide } from "./outcome.ts";
import { NO_VOTE, TXN_LIMITS, type Vote, decodeAllocMeta, decodeVote, encodeVote, isBlockStart } from "./record.ts";
import { type RecoverConfig, type TxnRef, resolve } from "./resolve.ts";
import { type PrepareRequest, type TxnGen, type TxnResult, run, txnFail, txnOk } from "./steps.ts";
import { type VoteConfig, castVote } from "./vote.ts";

export interface ParticipantConfig extends VoteConfig, RecoverConfig {
  readonly name: string;
  /** Blocks behind the newest transaction seen below which we vote NO: bounds a restart's scan. */
  readonly slackBlocks: number;
}

interface Doubt {
  readonly ref: TxnRef;
  readonly index: number;
  /** The votes known so far; ours once chosen. */
  readonly votes: (Vote | undefined)[];
}

/** What a participant votes on and applies: a participant's state machine (the bank's AccountBook, a KV partition's locks). Pure. */
export interface Book<P> {
  /** Whether transaction `key` is decided here (a retry or a late message must not apply it twice). */
  isDecided(key: string): boolean;
  /** The part a payload holds, or undefined when it holds none (never throws). */
  decode(payload: Uint8Array): P | undefined;
  /** Vote on `part` (undefined: the payload held none) for transaction `key`: true is YES (it then holds what it needs until decided), a string is NO and says why. Asking again gives the same answer. Undefined: `key` is decided already. */
  prepare(key: string, part: P | undefined): true | string | undefined;
  /** `key` is decided: on commit, the part applied (the prepared one, or `part` read back from our YES when this life never prepared it); undefined when `key` was decided before. */
  decide(key: string, outcome: Outcome, part?: P): Decision<P> | undefined;
}

export type Decision<P> = { readonly outcome: "aborted" } | { readonly outcome: "committed"; readonly part: P };

/** A decision to make durable: the part applied on commit, and where a restart must scan from. */
export interface Decided<P> {
  readonly txn: number;
  readonly outcome: Outcome;
  readonly part?: P;
  readonly scanFrom: number;
}

const K = TXN_LIMITS.blockSegments;
const blockOf = (segment: number): number => segment - (segment % K);

export class ParticipantCore<P> {
  private readonly doubts = new Map<number, Doubt>();
  /** Segments from here on were claimed after this life began: nothing of an earlier life is there. */
  private ownFrom = Number.MAX_SAFE_INTEGER;
  /** The highest transaction a prepare named. */
  private newest = 0;
  /** While a restart scans: where it started (nothing before the scan ends is known above it). */
  private scanning: number | undefined;

  constructor(
    readonly cfg: ParticipantConfig,
    readonly book: Book<P>,
    private readonly onDecided: (d: Decided<P>) => void,
  ) {}

  /** The transactions we hold a YES in (or are casting one in), with their deadlines. */
  get inDoubt(): ReadonlyMap<number, { readonly deadline: number }> {
    return new Map([...this.doubts].map(([txn, d]) => [txn, { deadline: d.ref.record.deadline }]));
  }

  /** Below this segment we vote NO (only rises). */
  private get floor(): number {
    return Math.max(this.ownFrom, blockOf(this.newest) - this.cfg.slackBlocks * K);
  }

  /** Where a restart must scan from. */
  get scanFrom(): number {
    return Math.min(this.scanning ?? this.floor, ...this.doubts.keys());
  }

  private key(txn: number): string {
    return `${this.cfg.space}:${txn}`;
  }

  /** Vote on `req`: the vote chosen at our address (a failure: unknown; we stay in doubt). */
  *prepare(req: PrepareRequest): TxnGen<TxnResult<Vote>> {
    assert(this.ownFrom !== Number.MAX_SAFE_INTEGER, "a participant prepared before its restart scan");
    const meta = decodeAllocMeta(req.record);
    if (req.space !== this.cfg.space) return txnFail("invalid", `${this.cfg.name} serves ${this.cfg.space}, not ${req.space}`);
    if (meta.kind !== "txn" || meta.record.participants[req.index] !== this.cfg.name) return txnFail("invalid", `transaction ${req.txn}: participant ${req.index} is not ${this.cfg.name}`);
    const known = this.doubts.get(req.txn)?.votes[req.index];
    if (known) return txnOk(known);
    if (this.book.isDecided(this.key(req.txn))) return txnFail("invalid", `transaction ${req.txn} of ${req.space} is decided already`);
    this.newest = Math.max(this.newest, req.txn);
    // A prepare again while our YES is being cast casts the same way (the same bytes, the same mode).
    const fresh = this.doubts.has(req.txn) || req.txn >= this.floor;
    const answer = fresh ? this.book.prepare(this.key(req.txn), this.book.decode(req.payload)) : undefined;
    const yes = answer === true;
    const ref: TxnRef = { space: req.space, segmentSize: this.cfg.segmentSize, txn: req.txn, record: meta.record };
    // A NO below the floor names nobody, like a recoverer's: the coordinator learns its block is fenced.
    const mine: Vote = yes
      ? { kind: "yes", participant: this.cfg.name, record: req.record, payload: req.payload }
      : fresh
        ? { kind: "no", participant: this.cfg.name, ...(typeof answer === "string" ? { reason: answer } : {}) }
        : NO_VOTE;
    if (yes && !this.doubts.has(req.txn)) this.doubts.set(req.txn, { ref, index: req.index, votes: meta.record.participants.map(() => undefined) });
    const c = yield* castVote(this.cfg, req.txn, req.index, mine, fresh ? "owner" : "capture");
    if (!c.ok) return c;
    if (!fresh && c.value.kind === "yes" && c.value.participant === this.cfg.name) {
      // Below the floor and in no doubt, our YES is one cast before and decided (a book may forget
      // decisions below the scan start): a late duplicate prepare, answered with the vote chosen.
      probe("txn.participant.decidedYesFoundAgain");
      return c;
    }
    assert(yes || c.value.kind === "no" || c.value.participant !== this.cfg.name, () => `transaction ${req.txn}: found a YES of ours we did not cast`);
    if (yes && c.value.kind === "no") probe("txn.participant.lateYesRefused");
    if (yes) this.learn(req.txn, req.index, c.value);
    else this.decide(req.txn, "aborted");
    return c;
  }

  /** A value chosen at `index` of the space, pushed to our watch. */
  pushed(index: number, value: Uint8Array): void {
    const txn = Math.floor(index / this.cfg.segmentSize);
    const d = this.doubts.get(txn);
    const i = index - txn * this.cfg.segmentSize;
    if (!d || i >= d.votes.length) return;
    this.learn(txn, i, decodeVote(value));
    if (!this.doubts.has(txn)) probe("txn.participant.learnedByWatch");
  }

  /** Whoever decided `txn` told us its outcome. */
  notified(txn: number, outcome: Outcome): void {
    if (this.doubts.has(txn)) this.decide(txn, outcome);
  }

  /** Past its deadline: resolve `txn` (capturing the votes still missing). */
  *resolveDoubt(txn: number): TxnGen<TxnResult<Outcome | undefined>> {
    const d = this.doubts.get(txn);
    if (!d) return txnOk(undefined);
    const r = yield* resolve(d.ref, this.cfg, false);
    if (!r.ok) return r;
    if (r.value.outcome && this.doubts.has(txn)) this.decide(txn, r.value.outcome);
    return txnOk(r.value.outcome);
  }

  private learn(txn: number, index: number, vote: Vote): void {
    const d = this.doubts.get(txn);
    if (!d) return; // decided meanwhile (a push, the coordinator's word)
    d.votes[index] = vote;
    const outcome = decide(d.votes);
    if (outcome) this.decide(txn, outcome);
  }

  private decide(txn: number, outcome: Outcome, part?: P): void {
    this.doubts.delete(txn);
    const d = this.book.decide(this.key(txn), outcome, part);
    if (d) this.onDecided(d.outcome === "committed" ? { txn, outcome, part: d.part, scanFrom: this.scanFrom } : { txn, outcome, scanFrom: this.scanFrom });
  }

  /**
   * A new life's first operation: find our votes in every block from `scanFrom` (persisted) through
   * the last claimed one, fencing each block as we go; decide what is decided, hold the rest in doubt.
   */
  *restart(scanFrom: number): TxnGen<TxnResult<void>> {
    this.scanning = Math.min(scanFrom, this.scanning ?? scanFrom);
    const last = yield* lastBlock(this.cfg.space);
    if (!last.ok) return last;
    const S = this.cfg.segmentSize;
    for (let block = blockOf(scanFrom); block <= last.value; block += K) {
      const found = yield* this.fence(block);
      if (!found.ok) return found;
      for (const [address, bytes] of found.value) {
        const vote = decodeVote(bytes);
        if (vote.participant !== this.cfg.name) continue;
        const txn = Math.floor(address / S);
        if (this.book.isDecided(this.key(txn))) continue;
        if (vote.kind === "no") {
          this.decide(txn, "aborted");
          continue;
        }
        const meta = decodeAllocMeta(vote.record);
        const part = this.book.decode(vote.payload);
        assert(meta.kind === "txn" && part !== undefined, () => `our YES in transaction ${txn} does not hold a record and a part`);
        const votes = meta.record.participants.map((_, i) => {
          const v = found.value.get(txn * S + i);
          return v ? decodeVote(v) : undefined;
        });
        // After the fence every vote of the block is chosen (or trimmed: the transaction is gone).
        const outcome = decide(votes);
        if (!outcome) continue;
        probe("txn.participant.restartDecided");
        this.decide(txn, outcome, part);
      }
    }
    this.ownFrom = last.value < 0 ? 0 : last.value + K;
    this.newest = Math.max(this.newest, this.ownFrom);
    this.scanning = undefined;
    return txnOk(undefined);
  }

  /**
   * Fence block `block`: capture its span (retrying preemptions) and write a NO naming nobody into
   * every vote address still empty. Every value there is then chosen and nothing else can land: a
   * capture whose quorum missed an owner write of an earlier life, accepted at a minority, would
   * otherwise leave it for a later capture to adopt (and a YES of ours chosen after the restart
   * looked for it). Returns every value chosen there.
   */
  private *fence(block: number): TxnGen<TxnResult<ReadonlyMap<number, Uint8Array>>> {
    const S = this.cfg.segmentSize;
    const votesPerSegment = Math.min(S, TXN_LIMITS.participantsMax);
    let from = block * S;
    const to = (block + K) * S;
    for (let attempt = 0; attempt < this.cfg.preemptRetriesMax; attempt++) {
      const c = yield* run({ kind: "capture", space: this.cfg.space, from, to });
      if (!c.ok) return c;
      if (c.value._tag === "Trimmed") {
        if (c.value.mark >= to) return txnOk(new Map());
        from = Math.max(from, c.value.mark);
        continue;
      }
      if (c.value._tag !== "Captured") continue;
      const found = new Map(c.value.written);
      const entries: { index: number; value: Uint8Array }[] = [];
      for (let segment = Math.floor(from / S); segment < block + K; segment++) {
        if (isBlockStart(segment)) continue;
        for (let i = 0; i < votesPerSegment; i++) {
          const address = segment * S + i;
          if (address >= from && !found.has(address)) entries.push({ index: address, value: encodeVote(NO_VOTE) });
        }
      }
      if (entries.length === 0) return txnOk(found);
      const w = yield* run({ kind: "write", capture: c.value.capture, entries });
      if (!w.ok) return w;
      let settled = true;
      for (const [address, r] of w.value) {
        if (r._tag === "Ok") found.set(address, encodeVote(NO_VOTE));
        else if (r._tag === "AlreadyWritten") found.set(address, r.value);
        else if (r._tag !== "Trimmed") settled = false;
      }
      if (settled) return txnOk(found);
    }
    return txnFail("contended", `fencing block ${block} of ${this.cfg.space}: preempted ${this.cfg.preemptRetriesMax} times`);
  }
}
