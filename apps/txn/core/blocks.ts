/**
 * Where transaction numbers come from (docs/ARCHITECTURE.md §4.3). A transaction's segment must be
 * its own before any participant votes in it: two transactions in one segment would have two owners
 * owner-writing one vote address. Allocating each segment first would put a second write round on
 * the commit path, so a coordinator **claims a block** of `TXN_LIMITS.blockSegments` segments once
 * (first allocator wins on the block's first segment, found past the last claimed block by the
 * platform's probe, wor/core/segments.ts), and then starts one transaction in each of the block's
 * other segments. It is their allocations' single owner, so it writes each transaction's record
 * with the owner write, in the same round as the votes.
 */
import { lastSegment } from "../../../wor/core/segments.ts";
import { run } from "../../../wor/core/steps.ts";
import { BLOCK_CODEC, TXN_LIMITS } from "./record.ts";
import { type TxnGen, type TxnResult, txnFail, txnOk } from "./steps.ts";

/** Segments [first, end) of a claimed block: one transaction each. */
export interface Block {
  readonly first: number;
  readonly end: number;
}

const K = TXN_LIMITS.blockSegments;

/** The first segment of the last claimed block of `space` (-1: none yet). */
export function* lastBlock(space: string): TxnGen<TxnResult<number>> {
  const r = yield* lastSegment(space, BLOCK_CODEC, K);
  return r.ok ? txnOk(r.value.segment) : r;
}

/** Claim the next free block of `space` in `owner`'s name (owners are unique per coordinator). */
export function* claimBlock(space: string, owner: string, attemptsMax: number): TxnGen<TxnResult<Block>> {
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const last = yield* lastBlock(space);
    if (!last.ok) return last;
    const start = last.value < 0 ? 0 : last.value + K;
    const a = yield* run({ kind: "alloc", space, segment: start, meta: BLOCK_CODEC.encode({ owner }) });
    if (!a.ok) return a;
    if (a.value._tag === "Allocated") return txnOk({ first: start + 1, end: start + K });
    // Another coordinator claimed it (or it is trimmed): look again past it.
  }
  return txnFail("contended", `claiming a block of ${space}: other coordinators claimed ${attemptsMax} blocks first`);
}

/** A coordinator's transaction numbers: the blocks it claimed, used once each, in order. */
export class TxnIds {
  private readonly blocks: Block[] = [];
  private next = 0;

  /** Numbers left in the blocks claimed so far. */
  get left(): number {
    return this.blocks.reduce((n, b) => n + b.end - Math.max(b.first, this.next), 0);
  }

  add(block: Block): void {
    this.blocks.push(block);
  }

  /** Use no more numbers of the block holding `txn` (it was fenced). */
  abandon(txn: number): void {
    const b = this.blocks[0];
    if (b && b.first <= txn && txn < b.end) this.next = b.end;
  }

  /** The next unused number, or undefined: claim a block first. */
  take(): number | undefined {
    while (this.blocks.length > 0) {
      const b = this.blocks[0]!;
      this.next = Math.max(this.next, b.first);
      if (this.next < b.end) return this.next++;
      this.blocks.shift();
    }
    return undefined;
  }
}
