/**
 * The coordinator (docs/ARCHITECTURE.md §4.3): a stateless library any process may run. Committing
 * transaction `txn` (a segment of a block the coordinator claimed, blocks.ts) is one parallel round:
 * the coordinator owner-writes the record (participants, deadline) into the segment's allocation
 * register while every participant, asked to prepare, owner-writes its vote; each answers with the
 * vote chosen at its address. The outcome follows from the votes (outcome.ts). A vote still unknown
 * (a participant that did not answer) is read back once and then watched; if the transaction is
 * still in doubt at the deadline, the coordinator resolves it like any recoverer (resolve.ts). Then it tells
 * the participants, who also learn it by watching the votes.
 *
 * Nothing here is the coordinator's own state: a second coordinator of the same transaction (or a
 * recoverer, or a participant resolving its own doubt) reads the same registers and reaches the
 * same outcome.
 */
import { allocSpaceOf } from "../../../paxos/limits.ts";
import { bytesEqual } from "../../../verify/runtime/bytes.ts";
import { probe } from "../../../verify/runtime/probe.ts";
import type { OpResult, WriteResult } from "../../../wor/core/results.ts";
import { type Outcome, decide } from "./outcome.ts";
import { type TxnRecord, type Vote, decodeVote, encodeRecord, voteAddress } from "./record.ts";
import { type RecoverConfig, type TxnRef, readVotes, resolve, votesOf } from "./resolve.ts";
import { type TxnGen, type TxnResult, type TxnStep, now, parallel, run, txnFail, txnOk } from "./steps.ts";

export interface CoordinatorConfig extends RecoverConfig {
  readonly space: string;
  readonly segmentSize: number;
}

/** A transaction to commit: its number, its record, and each participant's payload (in order). */
export interface TxnStart {
  readonly txn: number;
  readonly record: TxnRecord;
  readonly payloads: readonly Uint8Array[];
}

/** A chosen NO: who cast it (nobody: a recoverer, or a fenced block) and why, if it says. */
export interface Refusal {
  readonly participant?: string;
  readonly reason?: string;
}

export interface Committed {
  readonly outcome: Outcome;
  /** A vote is a NO naming nobody: forced by a recoverer, or by a participant that restarted and
   *  fenced the block. Either way this block is a poor place for the next transaction. */
  readonly fenced: boolean;
  /** The chosen NO votes known when the commit returned (the prepares' answers, and the votes
   *  learned waiting or resolving): none when committed. */
  readonly refusals: readonly Refusal[];
}

const refusalsOf = (votes: readonly (Vote | undefined)[]): Refusal[] =>
  votes.flatMap((v) =>
    v?.kind === "no" ? [{ ...(v.participant === undefined ? {} : { participant: v.participant }), ...(v.reason === undefined ? {} : { reason: v.reason }) }] : [],
  );

/** Commit `t`: its outcome, once decided (every vote chosen, or one chosen NO), and the NOs known. */
export function* commitTxn(cfg: CoordinatorConfig, t: TxnStart): TxnGen<TxnResult<Committed>> {
  const record = encodeRecord(t.record);
  const { participants } = t.record;
  const steps: TxnStep[] = [
    { kind: "ownerWrite", space: allocSpaceOf(cfg.space), index: t.txn, value: record },
    ...participants.map((participant, index) => ({
      kind: "prepare" as const,
      participant,
      request: { space: cfg.space, txn: t.txn, index, record, payload: t.payloads[index]! },
    })),
  ];
  const results = yield* parallel(steps);
  const allocated = yield* settleRecord(cfg, t.txn, record, results[0] as OpResult<Map<number, WriteResult>>);
  if (!allocated.ok) return allocated;
  const votes = results.slice(1).map((r) => ((r as TxnResult<Vote>).ok ? (r as { value: Vote }).value : undefined));
  let outcome = decide(votes);
  let known: readonly (Vote | undefined)[] = votes;
  if (!outcome) {
    const ref: TxnRef = { space: cfg.space, segmentSize: cfg.segmentSize, txn: t.txn, record: t.record };
    const r = yield* awaitOutcome(cfg, ref);
    if (!r.ok) return r;
    outcome = r.value.outcome;
    known = votes.map((v, i) => r.value.votes[i] ?? v);
  }
  const decided = outcome;
  yield* parallel(participants.map((participant) => ({ kind: "notify" as const, participant, space: cfg.space, txn: t.txn, outcome: decided })));
  return txnOk({ outcome: decided, fenced: votes.some((v) => v?.kind === "no" && v.participant === undefined), refusals: refusalsOf(known) });
}

/**
 * The record is chosen once the owner write is. An owner write with an unknown outcome (a reader
 * captured the register meanwhile, a timeout) is finished by allocating: capture, adopt what is
 * there or write the record. Only this transaction's record can ever be there (the block is ours).
 */
function* settleRecord(cfg: CoordinatorConfig, txn: number, record: Uint8Array, written: OpResult<Map<number, WriteResult>>): TxnGen<TxnResult<void>> {
  const w = written.ok ? written.value.get(txn)! : undefined;
  if (w && (w._tag === "Ok" || (w._tag === "AlreadyWritten" && bytesEqual(w.value, record)))) return txnOk(undefined);
  probe("txn.coordinator.recordSettled");
  const a = yield* run({ kind: "alloc", space: cfg.space, segment: txn, meta: record });
  if (!a.ok) return a;
  if (a.value._tag === "Allocated") return txnOk(undefined);
  if (a.value._tag === "Trimmed") return txnFail("unknownTxn", `transaction ${txn} of ${cfg.space} is trimmed`);
  return txnFail("corrupt", `segment ${txn} of ${cfg.space} holds another record: is another coordinator using this block?`);
}

/**
 * Votes a participant did not report: read them back once, then watch them (the acceptors push each
 * vote as it is chosen, and a new watch first the votes chosen already) for the votes still unknown
 * until the outcome follows or the deadline passes; then resolve. A vote chosen between the read and
 * the watch is pushed by the watch's catch-up; one whose commit reached no acceptor (its writer
 * died between accept and commit) is found by resolving. Returns the outcome and the votes known.
 */
function* awaitOutcome(cfg: CoordinatorConfig, ref: TxnRef): TxnGen<TxnResult<{ outcome: Outcome; votes: readonly (Vote | undefined)[] }>> {
  const r = yield* readVotes(ref);
  if (!r.ok) return r;
  const votes = votesOf(r.value);
  const base = voteAddress(ref.segmentSize, ref.txn, 0);
  for (;;) {
    const outcome = decide(votes);
    if (outcome) return txnOk({ outcome, votes });
    if ((yield* now()) >= ref.record.deadline) break;
    const known = votes.flatMap((v, i) => (v ? [base + i] : []));
    const pushed = yield* run({ kind: "awaitChosen", space: ref.space, from: base, to: base + votes.length, known, until: ref.record.deadline } as const);
    for (const [index, value] of pushed) votes[index - base] = decodeVote(value);
  }
  probe("txn.coordinator.resolvedAtDeadline");
  const res = yield* resolve(ref, cfg, true);
  if (!res.ok) return res;
  const outcome = res.value.outcome;
  return outcome ? txnOk({ outcome, votes: votesOf(res.value.votes) }) : txnFail("internal", `transaction ${ref.txn} of ${ref.space}: recovery left a vote undecided`);
}
