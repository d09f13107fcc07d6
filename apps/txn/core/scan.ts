/**
 * Transactions as they stand (docs/ARCHITECTURE.md §4.3): for `worm txn status | list`, `worm inspect`,
 * and a participant's restart (which looks for the transactions it is part of). Reads only: one
 * read of the allocation registers of a span of segments, one of their votes.
 */
import { allocSpaceOf } from "../../../paxos/limits.ts";
import { type Outcome, decide } from "./outcome.ts";
import type { ReadResult } from "../../../wor/core/results.ts";
import { type AllocMeta, type TxnRecord, decodeAllocMeta, decodeVote, isBlockStart, voteAddress } from "./record.ts";
import { type TxnRef, type VoteRead, readVotes, voteRead } from "./resolve.ts";
import { type TxnGen, type TxnResult, run, txnOk } from "./steps.ts";

export interface TxnStatus {
  readonly txn: number;
  readonly record: TxnRecord;
  /** Per participant, in the record's order. */
  readonly votes: readonly VoteRead[];
  /** Undefined: in doubt. */
  readonly outcome: Outcome | undefined;
  /** The participants holding a YES while the outcome is unknown: they wait (in doubt). */
  readonly inDoubt: readonly string[];
}

export function statusOf(ref: TxnRef, votes: readonly VoteRead[]): TxnStatus {
  const outcome = decide(votes.map((v) => (v.state === "chosen" ? v.vote : undefined)));
  const inDoubt = outcome ? [] : ref.record.participants.filter((_, i) => votes[i]!.state === "chosen");
  return { txn: ref.txn, record: ref.record, votes, outcome, inDoubt };
}

/** One transaction's status (its record must be known: resolve.ts `findTxn`). */
export function* txnStatus(ref: TxnRef): TxnGen<TxnResult<TxnStatus>> {
  const r = yield* readVotes(ref);
  return r.ok ? txnOk(statusOf(ref, r.value)) : r;
}

/**
 * Every transaction in segments [from, to) of `space`, with its votes (trimmed ones are skipped): its
 * record from its allocation register or, while that is not chosen (its coordinator died before the
 * record landed), from a YES vote, which carries it.
 */
export function* scanTxns(space: string, segmentSize: number, from: number, to: number): TxnGen<TxnResult<TxnStatus[]>> {
  const a = yield* run({ kind: "read", space: allocSpaceOf(space), from, to, recover: false });
  if (!a.ok) return a;
  const r = yield* run({ kind: "read", space, from: voteAddress(segmentSize, from, 0), to: voteAddress(segmentSize, to, 0), recover: false });
  if (!r.ok) return r;
  const out: TxnStatus[] = [];
  for (let s = from; s < to; s++) {
    const v = a.value.get(s)!;
    if (isBlockStart(s) || v._tag === "Trimmed") continue;
    const record = v._tag === "Written" ? decodeAllocMeta(v.value) : recordInVotes(r.value, segmentSize, s);
    if (record?.kind !== "txn") continue;
    const ref: TxnRef = { space, segmentSize, txn: s, record: record.record };
    const votes = ref.record.participants.map((_, i) => voteRead(r.value.get(voteAddress(segmentSize, s, i))!));
    if (votes.every((x) => x !== undefined)) out.push(statusOf(ref, votes));
  }
  return txnOk(out);
}

/** The record a YES vote of segment `txn` carries, if any. */
function recordInVotes(votes: ReadonlyMap<number, ReadResult>, segmentSize: number, txn: number): AllocMeta | undefined {
  for (let i = 0; i < segmentSize; i++) {
    const w = votes.get(voteAddress(segmentSize, txn, i));
    const vote = w?._tag === "Written" ? decodeVote(w.value) : undefined;
    if (vote?.kind === "yes") return decodeAllocMeta(vote.record);
  }
  return undefined;
}
