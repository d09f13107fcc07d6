/**
 * WOR operations as generators over rounds (DESIGN.md §3.1): each yields a `Round`, resumes with
 * its outcome, and returns an `OpResult`. Pure: the client core drives them.
 */
import { type Ballot, OWNER_BALLOT } from "../../paxos/ballot.ts";
import { bytesEqual } from "../../paxos/acceptor.ts";
import { allocSpaceOf } from "../../paxos/limits.ts";
import type { Entry, SpaceName } from "../../paxos/messages.ts";
import type { PrepareOutcome, ReadOutcome, RoundFailure } from "../../paxos/proposer.ts";
import type { AcceptOutcome, AckOutcome, ReadRoundOutcome, Round, RoundOutcome } from "./rounds.ts";
import { isFailure } from "./rounds.ts";
import type {
  AllocResult,
  Capture,
  CaptureResult,
  CheckResult,
  FailureCode,
  OpResult,
  ReadResult,
  WorFailure,
  WriteResult,
} from "./results.ts";

export type OpGen<T> = Generator<Round, OpResult<T>, RoundOutcome>;

/** What operations need from the client core: ballots, the cache, commits, and limits. */
export interface OpContext {
  nextBallot(): Ballot;
  learnBallot(b: Ballot): void;
  cached(space: SpaceName, index: number): Uint8Array | undefined;
  remember(space: SpaceName, index: number, value: Uint8Array): void;
  /** Tell the acceptors (fire and forget) that these addresses are chosen at `ballot`. */
  commit(space: SpaceName, ballot: Ballot, indexes: readonly number[]): void;
  forgetBelow(space: SpaceName, below: number): void;
  readonly segmentSize: number;
  readonly proposerId: number;
  readonly preemptRetriesMax: number;
}

export const ok = <T>(value: T): OpResult<T> => ({ ok: true, value });
export const fail = (code: FailureCode, message: string): OpResult<never> => ({ ok: false, failure: { code, message } });

function fromRound(f: RoundFailure & { account?: WorFailure["account"] }): WorFailure {
  const code = f.code === "noQuorum" ? "timeout" : f.code === "unreachable" ? "unavailable" : f.code;
  return { code, message: f.message, ...(f.account ? { account: f.account } : {}) };
}

/** The pause before retry `attempt` (1, 2, ...) of a preempted capture: none before the first (the
 *  ballot that preempted it is now known, and is usually an older, idle one), then growing and
 *  spread by proposer id so that two contenders stop colliding. */
const preemptBackoffMs = (ctx: OpContext, attempt: number): number => (attempt - 1) * (1 + (ctx.proposerId % 7));

/**
 * Phase 1 over [from, to), retried while preempted: each attempt's ballot is above every ballot
 * seen, so a capture that lost to an older, idle ballot succeeds on its second attempt. Bounded:
 * `preemptRetriesMax` attempts in all; when they run out the last `Preempted` is returned.
 */
export function* capture(ctx: OpContext, space: SpaceName, from: number, to: number): OpGen<CaptureResult> {
  let c = yield* captureOnce(ctx, space, from, to);
  for (let attempt = 1; attempt < ctx.preemptRetriesMax && c.ok && c.value._tag === "Preempted"; attempt++) {
    const ms = preemptBackoffMs(ctx, attempt);
    if (ms > 0) yield { kind: "sleep", ms };
    c = yield* captureOnce(ctx, space, from, to);
  }
  return c;
}

function* captureOnce(ctx: OpContext, space: SpaceName, from: number, to: number): OpGen<CaptureResult> {
  const ballot = ctx.nextBallot();
  const p = (yield { kind: "prepare", space, from, to, ballot }) as PrepareOutcome;
  if (p.kind === "failed") return { ok: false, failure: fromRound(p) };
  if (p.kind === "preempted") {
    ctx.learnBallot(p.by);
    return ok({ _tag: "Preempted", by: p.by });
  }
  if (p.kind === "trimmed") return ok({ _tag: "Trimmed", mark: p.mark });
  if (p.kind === "pending") return fail("internal", "prepare resumed while pending");
  const held: Capture = { space, from, to, ballot };
  const written = new Map<number, Uint8Array>();
  if (p.adopted.size > 0) {
    // Finish every value found, under our ballot: never overwrite what may be chosen.
    const entries = [...p.adopted].map(([index, a]) => ({ index, value: a.value }));
    const done = yield* accept(ctx, held.space, ballot, entries);
    if (!done.ok) return done;
    for (const e of entries) {
      const r = done.value.get(e.index)!;
      if (r._tag === "Preempted") return ok({ _tag: "Preempted", by: r.by });
      if (r._tag === "Trimmed") return ok({ _tag: "Trimmed", mark: e.index + 1 });
      written.set(e.index, r._tag === "AlreadyWritten" ? r.value : e.value);
    }
  }
  return ok({ _tag: "Captured", capture: held, written });
}

function* accept(ctx: OpContext, space: SpaceName, ballot: Ballot, entries: readonly Entry[]): OpGen<Map<number, WriteResult>> {
  const o = (yield { kind: "accept", space, ballot, entries }) as AcceptOutcome;
  if (isFailure(o)) return { ok: false, failure: fromRound(o) };
  const results = new Map<number, WriteResult>();
  const chosen: number[] = [];
  for (const e of entries) {
    const v = o.get(e.index)!;
    if (v.kind === "ok") {
      chosen.push(e.index);
      ctx.remember(space, e.index, e.value);
      results.set(e.index, { _tag: "Ok" });
    } else if (v.kind === "alreadyWritten") {
      ctx.remember(space, e.index, v.value);
      results.set(e.index, { _tag: "AlreadyWritten", value: v.value });
    } else if (v.kind === "preempted") {
      ctx.learnBallot(v.by);
      results.set(e.index, { _tag: "Preempted", by: v.by, outcome: "unknown" });
    } else if (v.kind === "trimmed") {
      results.set(e.index, { _tag: "Trimmed" });
    } else {
      return { ok: false, failure: fromRound(v) };
    }
  }
  if (chosen.length > 0) ctx.commit(space, ballot, chosen);
  return ok(results);
}

/** Phase 2 under a held capture (one round trip). The client core checked the entries lie in it. */
export function* write(ctx: OpContext, held: Capture, entries: readonly Entry[]): OpGen<Map<number, WriteResult>> {
  return yield* accept(ctx, held.space, held.ballot, entries);
}

/** Phase 2 at the owner ballot, skipping phase 1: only for an address's single owner. */
export function* unsafeWrite(ctx: OpContext, space: SpaceName, entries: readonly Entry[]): OpGen<Map<number, WriteResult>> {
  return yield* accept(ctx, space, OWNER_BALLOT, entries);
}

export function* read(ctx: OpContext, space: SpaceName, from: number, to: number, recover: boolean): OpGen<Map<number, ReadResult>> {
  const out = new Map<number, ReadResult>();
  let missing = false;
  for (let i = from; i < to && !missing; i++) {
    const v = ctx.cached(space, i);
    if (v) out.set(i, { _tag: "Written", value: v });
    else missing = true;
  }
  if (!missing) return ok(out);
  const o = (yield { kind: "read", space, from, to }) as ReadRoundOutcome;
  if (isFailure(o)) return { ok: false, failure: fromRound(o) };
  const unsettled: number[] = [];
  for (let i = from; i < to; i++) {
    const r = o.outcome(i, true) as ReadOutcome;
    if (r.kind === "written") {
      ctx.remember(space, i, r.value);
      out.set(i, { _tag: "Written", value: r.value });
    } else if (r.kind === "trimmed") out.set(i, { _tag: "Trimmed" });
    else {
      out.set(i, r.kind === "unwritten" ? { _tag: "Unwritten" } : { _tag: "Pending" });
      unsettled.push(i);
    }
  }
  if (recover && unsettled.length > 0) {
    // Recovery: one capture over the unsettled span fences every older ballot and finishes any
    // value it finds; afterwards the answer is final either way.
    const lo = unsettled[0]!;
    const hi = unsettled[unsettled.length - 1]! + 1;
    const c = yield* capture(ctx, space, lo, hi);
    if (!c.ok) return c;
    const r = c.value;
    if (r._tag === "Preempted") return fail("contended", `recovery of [${lo}, ${hi}) in ${space}: preempted ${ctx.preemptRetriesMax} times`);
    if (r._tag === "Captured") {
      for (const i of unsettled) {
        const v = r.written.get(i);
        out.set(i, v ? { _tag: "Written", value: v } : { _tag: "Unwritten" });
      }
    } else if (r._tag === "Trimmed") for (const i of unsettled) if (i < r.mark) out.set(i, { _tag: "Trimmed" });
  }
  return ok(out);
}

export function* trim(ctx: OpContext, space: SpaceName, below: number): OpGen<number> {
  const segments = Math.floor(below / ctx.segmentSize);
  if (segments > 0) {
    const a = (yield { kind: "trim", space: allocSpaceOf(space), below: segments }) as AckOutcome;
    if (a.kind === "failed") return { ok: false, failure: fromRound(a) };
  }
  const o = (yield { kind: "trim", space, below }) as AckOutcome;
  if (o.kind === "failed") return { ok: false, failure: fromRound(o) };
  ctx.forgetBelow(space, o.mark);
  return ok(o.mark);
}

export function* createSpace(_ctx: OpContext, space: SpaceName): OpGen<void> {
  const o = (yield { kind: "createSpace", space }) as AckOutcome;
  return o.kind === "failed" ? { ok: false, failure: fromRound(o) } : ok(undefined);
}

/** Allocate a segment: a write-once of `meta` at the segment's allocation register; first wins. */
export function* alloc(ctx: OpContext, space: SpaceName, segment: number, meta: Uint8Array): OpGen<AllocResult> {
  const reg = allocSpaceOf(space);
  const decide = (v: Uint8Array): AllocResult =>
    bytesEqual(v, meta) ? { _tag: "Allocated", meta: v } : { _tag: "AlreadyAllocated", meta: v };
  for (let attempt = 0; attempt < ctx.preemptRetriesMax; attempt++) {
    if (attempt > 1) yield { kind: "sleep", ms: preemptBackoffMs(ctx, attempt) };
    const c = yield* captureOnce(ctx, reg, segment, segment + 1);
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") return ok({ _tag: "Trimmed" });
    if (c.value._tag === "Preempted") continue;
    const found = c.value.written.get(segment);
    if (found) return ok(decide(found));
    const w = yield* write(ctx, c.value.capture, [{ index: segment, value: meta }]);
    if (!w.ok) return w;
    const r = w.value.get(segment)!;
    if (r._tag === "Ok") return ok({ _tag: "Allocated", meta });
    if (r._tag === "AlreadyWritten") return ok(decide(r.value));
    if (r._tag === "Trimmed") return ok({ _tag: "Trimmed" });
  }
  return fail("contended", `segment ${segment} of ${space}: preempted ${ctx.preemptRetriesMax} times`);
}

export function* check(ctx: OpContext, space: SpaceName, segment: number): OpGen<CheckResult> {
  const r = yield* read(ctx, allocSpaceOf(space), segment, segment + 1, true);
  if (!r.ok) return r;
  const v = r.value.get(segment)!;
  if (v._tag === "Written") return ok({ _tag: "Allocated", meta: v.value });
  return ok(v._tag === "Unwritten" ? { _tag: "Unallocated" } : v);
}
