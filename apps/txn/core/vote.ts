/**
 * A participant casts its vote (docs/ARCHITECTURE.md §4.3): one write of YES (with what it will apply)
 * or NO at its own address of the transaction's segment. It is the address's single owner, so the
 * write goes at the owner ballot: one round to the acceptors, no capture. The answer is the vote
 * **chosen** there, which may not be ours: a recoverer that captured the address first (the
 * deadline passed) wrote NO, and the owner write is refused (the acceptors accept the owner ballot
 * only where nothing was promised). Write-once settles the race: a late YES and a recoverer's NO
 * never both win.
 *
 * When the owner write's outcome is unknown (preempted, timed out) the vote is **settled**: capture
 * the address (fencing the owner write for good, finishing it if it landed anywhere) and write into
 * it if it is still empty: our vote, or a NO naming nobody once we saw a rival ballot (a recoverer,
 * or a restarted participant fencing the block, is at work: the coordinator then leaves the block). A
 * participant that may have owner-written this address in an earlier life (apps/txn/README.md,
 * "Restarts") never owner-writes it again: it casts by capture from the start.
 */
import { sleep } from "../../../wor/core/steps.ts";
import { NO_VOTE, type Vote, decodeVote, encodeVote, voteAddress } from "./record.ts";
import { type TxnGen, type TxnResult, run, txnFail, txnOk } from "./steps.ts";

export interface VoteConfig {
  readonly space: string;
  readonly segmentSize: number;
  /** Captures a settle makes before it gives up (rivals keep preempting it). */
  readonly preemptRetriesMax: number;
  /** Pause between two settle attempts. */
  readonly retryMs: number;
}

/** How a vote is written: at the owner ballot, or by capture (an address of an earlier life). */
export type VoteMode = "owner" | "capture";

/** Cast `vote` at participant `index`'s address of transaction `txn`: the vote chosen there. */
export function* castVote(cfg: VoteConfig, txn: number, index: number, vote: Vote, mode: VoteMode): TxnGen<TxnResult<Vote>> {
  const address = voteAddress(cfg.segmentSize, txn, index);
  let late = false;
  if (mode === "owner") {
    const w = yield* run({ kind: "ownerWrite", space: cfg.space, index: address, value: encodeVote(vote) });
    if (w.ok) {
      const r = w.value.get(address)!;
      if (r._tag === "Ok") return txnOk(vote);
      if (r._tag === "AlreadyWritten") return txnOk(decodeVote(r.value));
      if (r._tag === "Trimmed") return txnFail("unknownTxn", `transaction ${txn} of ${cfg.space} is trimmed`);
      late = true;
    }
  }
  return yield* settleVote(cfg, txn, address, late ? NO_VOTE : vote);
}

/** Capture the address: what is there is the vote; if nothing is, write `vote` (NO after a rival). */
function* settleVote(cfg: VoteConfig, txn: number, address: number, vote: Vote): TxnGen<TxnResult<Vote>> {
  let mine = vote;
  for (let attempt = 0; attempt < cfg.preemptRetriesMax; attempt++) {
    if (attempt > 0) yield* sleep(cfg.retryMs);
    const c = yield* run({ kind: "capture", space: cfg.space, from: address, to: address + 1 });
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") return txnFail("unknownTxn", `transaction ${txn} of ${cfg.space} is trimmed`);
    if (c.value._tag === "Preempted") {
      mine = NO_VOTE;
      continue;
    }
    const found = c.value.written.get(address);
    if (found) return txnOk(decodeVote(found));
    const w = yield* run({ kind: "write", capture: c.value.capture, entries: [{ index: address, value: encodeVote(mine) }] });
    if (!w.ok) return w;
    const r = w.value.get(address)!;
    if (r._tag === "Ok") return txnOk(mine);
    if (r._tag === "AlreadyWritten") return txnOk(decodeVote(r.value));
    if (r._tag === "Trimmed") return txnFail("unknownTxn", `transaction ${txn} of ${cfg.space} is trimmed`);
    mine = NO_VOTE;
  }
  return txnFail("contended", `settling vote ${address} of ${cfg.space}: preempted ${cfg.preemptRetriesMax} times`);
}
