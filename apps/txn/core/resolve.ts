/**
 * Learning and forcing an outcome (docs/ARCHITECTURE.md §4.3). Anyone who knows a transaction's record
 * learns its outcome by reading its votes (`readVotes`, `decide`). Past the deadline anyone may
 * **resolve** it: capture the span of votes not yet chosen (fencing every owner write still in
 * flight, finishing any vote found) and write NO where nothing is. Afterwards every vote is chosen,
 * so the outcome is final; two recoverers, or a recoverer and the coordinator, cannot disagree: each
 * ends with the votes the registers chose.
 */
import { allocSpaceOf } from "../../../paxos/limits.ts";
import type { ReadResult } from "../../../wor/core/results.ts";
import { sleep } from "../../../wor/core/steps.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { probe } from "../../../verify/runtime/probe.ts";
import { type Outcome, decide } from "./outcome.ts";
import { NO_VOTE, type TxnRecord, type Vote, decodeAllocMeta, decodeVote, encodeVote, isBlockStart, voteAddress } from "./record.ts";
import { type TxnGen, type TxnResult, now, run, txnFail, txnOk } from "./steps.ts";

/** A transaction and where it lives. */
export interface TxnRef {
  readonly space: string;
  readonly segmentSize: number;
  readonly txn: number;
  readonly record: TxnRecord;
}

export interface RecoverConfig {
  /** Captures a recovery makes before it gives up (another recoverer keeps preempting it). */
  readonly preemptRetriesMax: number;
  readonly retryMs: number;
}

/** What a vote register holds now: a chosen vote, nothing, or an unchosen value somewhere. */
export type VoteRead = { readonly state: "chosen"; readonly vote: Vote } | { readonly state: "unwritten" | "pending" };

/** A vote register as a read found it; undefined when trimmed. */
export function voteRead(v: ReadResult): VoteRead | undefined {
  if (v._tag === "Trimmed") return undefined;
  return v._tag === "Written" ? { state: "chosen", vote: decodeVote(v.value) } : { state: v._tag === "Unwritten" ? "unwritten" : "pending" };
}

/** The chosen votes of `reads` (undefined where none is chosen yet). */
export const votesOf = (reads: readonly VoteRead[]): (Vote | undefined)[] => reads.map((r) => (r.state === "chosen" ? r.vote : undefined));

/** The votes as they stand (one read round, no capture). */
export function* readVotes(ref: TxnRef): TxnGen<TxnResult<VoteRead[]>> {
  const base = voteAddress(ref.segmentSize, ref.txn, 0);
  const n = ref.record.participants.length;
  const r = yield* run({ kind: "read", space: ref.space, from: base, to: base + n, recover: false });
  if (!r.ok) return r;
  const out: VoteRead[] = [];
  for (let i = 0; i < n; i++) {
    const v = voteRead(r.value.get(base + i)!);
    if (!v) return txnFail("unknownTxn", `transaction ${ref.txn} of ${ref.space} is trimmed`);
    out.push(v);
  }
  return txnOk(out);
}

/** Capture every vote not chosen in `seen` and write NO where nothing is: every vote, chosen. */
function* recoverVotes(ref: TxnRef, cfg: RecoverConfig, seen: readonly VoteRead[]): TxnGen<TxnResult<Vote[]>> {
  const base = voteAddress(ref.segmentSize, ref.txn, 0);
  const votes = votesOf(seen);
  const open = votes.flatMap((v, i) => (v ? [] : [i]));
  if (open.length === 0) return txnOk(votes as Vote[]);
  const lo = open[0]!;
  const hi = open[open.length - 1]! + 1;
  for (let attempt = 0; attempt < cfg.preemptRetriesMax; attempt++) {
    if (attempt > 0) yield* sleep(cfg.retryMs);
    const c = yield* run({ kind: "capture", space: ref.space, from: base + lo, to: base + hi });
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") return txnFail("unknownTxn", `transaction ${ref.txn} of ${ref.space} is trimmed`);
    if (c.value._tag === "Preempted") continue;
    const entries = [];
    for (const i of open) {
      const found = c.value.written.get(base + i);
      // PLANTED BUG: a late YES the capture found is written over (and counted) as NO.
      if (found && !planted("recoverOverwritesYes")) votes[i] = decodeVote(found);
      else entries.push({ index: base + i, value: encodeVote(NO_VOTE) });
    }
    if (entries.length > 0) {
      const w = yield* run({ kind: "write", capture: c.value.capture, entries });
      if (!w.ok) return w;
      let preempted = false;
      for (const e of entries) {
        const r = w.value.get(e.index)!;
        const i = e.index - base;
        if (r._tag === "Ok" || planted("recoverOverwritesYes")) votes[i] = NO_VOTE;
        else if (r._tag === "AlreadyWritten") votes[i] = decodeVote(r.value);
        else if (r._tag === "Trimmed") return txnFail("unknownTxn", `transaction ${ref.txn} of ${ref.space} is trimmed`);
        else preempted = true;
      }
      if (preempted) continue;
    }
    return txnOk(votes as Vote[]);
  }
  return txnFail("contended", `recovering transaction ${ref.txn} of ${ref.space}: preempted ${cfg.preemptRetriesMax} times`);
}

export interface Resolution {
  /** Undefined: in doubt (not yet decided, and neither past its deadline nor forced). */
  readonly outcome: Outcome | undefined;
  readonly votes: readonly VoteRead[];
  /** True when this call captured votes to decide. */
  readonly recovered: boolean;
}

/** Learn the outcome; past the deadline (or `force`d), decide it by recovering the missing votes. */
export function* resolve(ref: TxnRef, cfg: RecoverConfig, force: boolean): TxnGen<TxnResult<Resolution>> {
  const r = yield* readVotes(ref);
  if (!r.ok) return r;
  const outcome = decide(votesOf(r.value));
  if (outcome) return txnOk({ outcome, votes: r.value, recovered: false });
  if (!force && (yield* now()) < ref.record.deadline) return txnOk({ outcome: undefined, votes: r.value, recovered: false });
  const v = yield* recoverVotes(ref, cfg, r.value);
  if (!v.ok) return v;
  probe(`txn.recovered.${decide(v.value)}`);
  const votes: VoteRead[] = v.value.map((vote) => ({ state: "chosen", vote }));
  return txnOk({ outcome: decide(v.value), votes, recovered: true });
}

/**
 * The record of transaction `txn` of `space`: from its allocation register, or (while that is not
 * chosen: the coordinator died before its record landed) from a YES vote, which carries it. `settle`
 * recovers an allocation in flight (a capture: only for those about to act on the transaction).
 */
export function* findTxn(space: string, segmentSize: number, txn: number, settle: boolean): TxnGen<TxnResult<TxnRef>> {
  if (isBlockStart(txn)) return txnFail("unknownTxn", `${txn} is a block claim of ${space}, not a transaction`);
  const r = yield* run({ kind: "read", space: allocSpaceOf(space), from: txn, to: txn + 1, recover: settle });
  if (!r.ok) return r;
  const v = r.value.get(txn)!;
  if (v._tag === "Trimmed") return txnFail("unknownTxn", `transaction ${txn} of ${space} is trimmed`);
  const found = (record: TxnRecord): TxnResult<TxnRef> => txnOk({ space, segmentSize, txn, record });
  if (v._tag === "Written") {
    const meta = decodeAllocMeta(v.value);
    if (meta.kind === "txn") return found(meta.record);
    return txnFail(meta.kind === "block" ? "unknownTxn" : "corrupt", `segment ${txn} of ${space} holds no transaction record`);
  }
  const votes = yield* run({ kind: "read", space, from: voteAddress(segmentSize, txn, 0), to: voteAddress(segmentSize, txn, segmentSize), recover: false });
  if (!votes.ok) return votes;
  for (const w of votes.value.values()) {
    const vote = w._tag === "Written" ? decodeVote(w.value) : undefined;
    const meta = vote?.kind === "yes" ? decodeAllocMeta(vote.record) : undefined;
    if (meta?.kind === "txn") return found(meta.record);
  }
  return txnFail("unknownTxn", `no transaction ${txn} in ${space}`);
}
