/**
 * Transactions as they stand (docs/ARCHITECTURE.md §4.3): for `worm txn status | list`, `worm inspect`,
 * and a participant's restart (which looks for the transactions it is part of). Reads only: one
 * read of the allocation registers of a span of segments, one of their votes.
 */
import { allocSpaceOf } from "../../../paxos/limits.ts";
import { type Outcome, decide } from "./outcome.ts";
import { type TxnRecord, decodeAllocMeta, isBlockStart, voteAddress } from "./record.ts";
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

/** Every transaction allocated in segments [from, to) of `space`, with its votes (trimmed ones are skipped). */
export function* scanTxns(space: string, segmentSize: number, from: number, to: number): TxnGen<TxnResult<TxnStatus[]>> {
  const a = yield* run({ kind: "read", space: allocSpaceOf(space), from, to, recover: false });
  if (!a.ok) return a;
  const refs: TxnRef[] = [];
  for (let s = from; s < to; s++) {
    const v = a.value.get(s)!;
    if (isBlockStart(s) || v._tag !== "Written") continue;
    const meta = decodeAllocMeta(v.value);
    if (meta.kind === "txn") refs.push({ space, segmentSize, txn: s, record: meta.record });
  }
  if (refs.length === 0) return txnOk([]);
  const lo = voteAddress(segmentSize, refs[0]!.txn, 0);
  const hi = voteAddress(segmentSize, refs[refs.length - 1]!.txn, segmentSize);
  const r = yield* run({ kind: "read", space, from: lo, to: hi, recover: false });
  if (!r.ok) return r;
  const out: TxnStatus[] = [];
  for (const ref of refs) {
    const votes = ref.record.participants.map((_, i) => voteRead(r.value.get(voteAddress(segmentSize, ref.txn, i))!));
    if (votes.every((v) => v !== undefined)) out.push(statusOf(ref, votes));
  }
  return txnOk(out);
}
