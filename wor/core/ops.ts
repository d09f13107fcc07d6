/**
 * WOR operations as generators over rounds (docs/ARCHITECTURE.md §3.1): each yields a `Round`, resumes with
 * its outcome, and returns an `OpResult`. Pure: the client core drives them.
 */
import { type Ballot, OWNER_BALLOT } from "../../paxos/ballot.ts";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { planted } from "../../verify/runtime/planted.ts";
import { allocSpaceOf, metaSpaceOf } from "../../paxos/limits.ts";
import type { Accepted, Entry, SpaceName } from "../../paxos/messages.ts";
import type { PrepareOutcome, ReadOutcome, ReadTally, RoundFailure } from "../../paxos/proposer.ts";
import { chunkEntries, halves, replyTooLarge } from "./chunks.ts";
import type { AcceptOutcome, AckOutcome, ReadRoundOutcome, Round, RoundOutcome } from "./rounds.ts";
import { isFailure } from "./rounds.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, CreateSpaceResult, FailureCode, OpResult, ReadResult, SpaceMetaResult, WorFailure, WriteResult } from "./results.ts";
import { type SpaceMeta, decodeSpaceMeta, encodeSpaceMeta } from "./space-meta.ts";

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
  /** Configurations the client followed so far (docs/ARCHITECTURE.md §3.5): a capture is good only in its own. */
  generation(): number;
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

/** Phase 1 over [from, to) at `ballot`. A reply too large for an envelope (a range holding many
 *  large values) makes it prepare each half again at the same ballot, recursively: where an
 *  acceptor holds the promise already, that is a no-op but for the reply. */
function* prepare(space: SpaceName, from: number, to: number, ballot: Ballot): Generator<Round, PrepareOutcome, RoundOutcome> {
  const p = (yield { kind: "prepare", space, from, to, ballot }) as PrepareOutcome;
  if (p.kind !== "failed" || to - from === 1 || !replyTooLarge(p)) return p;
  const adopted = new Map<number, Accepted>();
  const chosen = new Set<number>();
  for (const [lo, hi] of halves(from, to)) {
    const h = yield* prepare(space, lo, hi, ballot);
    if (h.kind !== "captured") return h;
    for (const [i, a] of h.adopted) adopted.set(i, a);
    for (const i of h.chosen) chosen.add(i);
  }
  return { kind: "captured", adopted, chosen };
}

function* captureOnce(ctx: OpContext, space: SpaceName, from: number, to: number): OpGen<CaptureResult> {
  const ballot = ctx.nextBallot();
  const p = yield* prepare(space, from, to, ballot);
  if (p.kind === "failed") return { ok: false, failure: fromRound(p) };
  if (p.kind === "preempted") {
    ctx.learnBallot(p.by);
    return ok({ _tag: "Preempted", by: p.by });
  }
  if (p.kind === "trimmed") return ok({ _tag: "Trimmed", mark: p.mark });
  if (p.kind === "pending") return fail("internal", "prepare resumed while pending");
  const generation = ctx.generation();
  const held: Capture = { space, from, to, ballot, ...(generation > 0 ? { generation } : {}) };
  const written = new Map<number, Uint8Array>();
  // A value some acceptor reported committed is chosen already: it is written, nothing to finish.
  for (const i of p.chosen) {
    const a = p.adopted.get(i);
    if (!a) continue;
    written.set(i, a.value);
    ctx.remember(space, i, a.value);
  }
  // Finish every other value found, under our ballot (never overwrite what may be chosen), in
  // accepts within the wire's limits.
  const found = [...p.adopted].filter(([index]) => !p.chosen.has(index)).map(([index, a]) => ({ index, value: a.value }));
  for (const entries of chunkEntries(found)) {
    // Phase 2 never crosses configurations (docs/ARCHITECTURE.md §3.5): followed one since the prepare, capture again.
    if (crossed(ctx, generation)) return ok({ _tag: "Preempted", by: ballot });
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

/** The client followed a new configuration since a capture taken in `generation`: its phase 2 must not run. */
function crossed(ctx: OpContext, generation: number): boolean {
  return generation !== ctx.generation() && !planted("phase2AcrossConfigurations");
}

/** Phase 2 under a held capture (one round trip). The client core checked the entries lie in it.
 *  A capture taken before the client followed a new configuration is preempted without a round. */
export function* write(ctx: OpContext, held: Capture, entries: readonly Entry[]): OpGen<Map<number, WriteResult>> {
  if (crossed(ctx, held.generation ?? 0)) return ok(new Map(entries.map((e) => [e.index, { _tag: "Preempted", by: held.ballot, outcome: "unknown" } as const])));
  return yield* accept(ctx, held.space, held.ballot, entries);
}

/** Phase 2 at the owner ballot, skipping phase 1: only for an address's single owner. */
export function* unsafeWrite(ctx: OpContext, space: SpaceName, entries: readonly Entry[]): OpGen<Map<number, WriteResult>> {
  return yield* accept(ctx, space, OWNER_BALLOT, entries);
}

/** One read round over [from, to): its tallies, in order, each covering a sub-range. One unless a
 *  reply was too large for an envelope: then each half is read again, recursively. */
function* readRound(space: SpaceName, from: number, to: number): Generator<Round, ReadTally[] | RoundFailure, RoundOutcome> {
  const o = (yield { kind: "read", space, from, to }) as ReadRoundOutcome;
  if (!isFailure(o)) return [o];
  if (to - from === 1 || !replyTooLarge(o)) return o;
  const out: ReadTally[] = [];
  for (const [lo, hi] of halves(from, to)) {
    const h = yield* readRound(space, lo, hi);
    if (isFailure(h)) return h;
    out.push(...h);
  }
  return out;
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
  const tallies = yield* readRound(space, from, to);
  if (isFailure(tallies)) return { ok: false, failure: fromRound(tallies) };
  const unsettled: number[] = [];
  let t = 0;
  for (let i = from; i < to; i++) {
    while (i >= tallies[t]!.to) t++;
    const r = tallies[t]!.outcome(i, true) as ReadOutcome;
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
  const m = yield* typedMeta(ctx, space);
  if (!m.ok) return m;
  const segments = Math.floor(below / m.value.segmentSize);
  if (segments > 0) {
    const a = (yield { kind: "trim", space: allocSpaceOf(space), below: segments }) as AckOutcome;
    if (a.kind === "failed") return { ok: false, failure: fromRound(a) };
  }
  const o = (yield { kind: "trim", space, below }) as AckOutcome;
  if (o.kind === "failed") return { ok: false, failure: fromRound(o) };
  ctx.forgetBelow(space, o.mark);
  return ok(o.mark);
}

/** Create a space (and its system spaces) at the acceptors, then choose its metadata: the first
 *  creator's metadata wins, and a later creator learns it (`Exists`, maybe with another kind). */
export function* createSpace(ctx: OpContext, space: SpaceName, meta: SpaceMeta): OpGen<CreateSpaceResult> {
  const o = (yield { kind: "createSpace", space }) as AckOutcome;
  if (o.kind === "failed") return { ok: false, failure: fromRound(o) };
  const w = yield* firstWins(ctx, metaSpaceOf(space), 0, encodeSpaceMeta(meta), `the metadata of ${space}`);
  if (!w.ok) return w;
  if (w.value._tag === "Won") return ok({ _tag: "Created", meta });
  if (w.value._tag === "Trimmed") return fail("internal", `the metadata register of ${space} was trimmed`);
  const found = decodeSpaceMeta(w.value.value);
  if (!found.ok) return fail("internal", `the metadata of ${space} is unreadable: ${found.message}`);
  return ok({ _tag: "Exists", meta: found.meta });
}

/** A space's metadata, read from its register (and cached: it never changes once written). */
export function* spaceMeta(ctx: OpContext, space: SpaceName): OpGen<SpaceMetaResult> {
  const r = yield* read(ctx, metaSpaceOf(space), 0, 1, true);
  if (!r.ok) return inUserNouns(space, r.failure);
  const v = r.value.get(0)!;
  if (v._tag !== "Written") return ok({ _tag: "Untyped" });
  const found = decodeSpaceMeta(v.value);
  if (!found.ok) return fail("internal", `the metadata of ${space} is unreadable: ${found.message}`);
  return ok({ _tag: "Typed", meta: found.meta });
}

/** The metadata of a space whose creation finished, or a failure saying why there is none. */
function* typedMeta(ctx: OpContext, space: SpaceName): OpGen<SpaceMeta> {
  const m = yield* spaceMeta(ctx, space);
  if (!m.ok) return m;
  if (m.value._tag === "Typed") return ok(m.value.meta);
  return fail("wrongKind", `space ${space} has no metadata: its creation did not finish (create it again)`);
}

/** A failure on a system space of `space`, told in terms of `space` (users never name system spaces). */
function inUserNouns(space: SpaceName, f: WorFailure): OpResult<never> {
  return f.code === "unknownSpace" ? fail("unknownSpace", `unknown space ${JSON.stringify(space)}`) : { ok: false, failure: f };
}

/** `Won`: this call wrote the value. `Found`: a value was there first (maybe equal to ours, e.g. an
 *  earlier attempt of the same caller that landed). */
type FirstWins = { readonly _tag: "Won" } | { readonly _tag: "Found"; readonly value: Uint8Array } | { readonly _tag: "Trimmed" };

/** Write-once by the first writer: capture the register and write `value` unless a value is there
 *  (then that one is finished and returned). Retries a bounded number of times when preempted. */
function* firstWins(ctx: OpContext, space: SpaceName, index: number, value: Uint8Array, what: string): OpGen<FirstWins> {
  for (let attempt = 0; attempt < ctx.preemptRetriesMax; attempt++) {
    if (attempt > 1) yield { kind: "sleep", ms: preemptBackoffMs(ctx, attempt) };
    const c = yield* captureOnce(ctx, space, index, index + 1);
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") return ok({ _tag: "Trimmed" });
    if (c.value._tag === "Preempted") continue;
    const found = c.value.written.get(index);
    if (found) return ok({ _tag: "Found", value: found });
    const w = yield* write(ctx, c.value.capture, [{ index, value }]);
    if (!w.ok) return w;
    const r = w.value.get(index)!;
    if (r._tag === "Ok") return ok({ _tag: "Won" });
    if (r._tag === "AlreadyWritten") return ok({ _tag: "Found", value: r.value });
    if (r._tag === "Trimmed") return ok({ _tag: "Trimmed" });
  }
  return fail("contended", `${what}: preempted ${ctx.preemptRetriesMax} times`);
}

/** Allocate a segment: a write-once of `meta` at the segment's allocation register; first wins. */
export function* alloc(ctx: OpContext, space: SpaceName, segment: number, meta: Uint8Array): OpGen<AllocResult> {
  const w = yield* firstWins(ctx, allocSpaceOf(space), segment, meta, `segment ${segment} of ${space}`);
  if (!w.ok) return w;
  if (w.value._tag === "Trimmed") return ok({ _tag: "Trimmed" });
  if (w.value._tag === "Won" || bytesEqual(w.value.value, meta)) return ok({ _tag: "Allocated", meta });
  return ok({ _tag: "AlreadyAllocated", meta: w.value.value });
}

/**
 * Segment `segment`'s allocation. `final`: the answer stays true (a register found unwritten is
 * captured too, so nothing in flight can be chosen there later). Not final: a quorum that accepted
 * nothing there is answer enough (nothing was chosen there before this check: a chosen value was
 * accepted by a quorum, which meets ours); only a register some acceptor accepted is recovered.
 */
export function* check(ctx: OpContext, space: SpaceName, segment: number, final = true): OpGen<CheckResult> {
  let r = yield* read(ctx, allocSpaceOf(space), segment, segment + 1, final);
  if (r.ok && !final && r.value.get(segment)!._tag === "Pending") r = yield* read(ctx, allocSpaceOf(space), segment, segment + 1, true);
  if (!r.ok) return inUserNouns(space, r.failure);
  const v = r.value.get(segment)!;
  if (v._tag === "Written") return ok({ _tag: "Allocated", meta: v.value });
  return ok(v._tag === "Unwritten" ? { _tag: "Unallocated" } : v);
}
