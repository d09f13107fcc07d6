/**
 * Segment ownership (docs/ARCHITECTURE.md §3.4), the primitive every app that owns the next segments of a
 * space builds on (the log's sequencer; an SMR leader, a LogPlayer epoch, a transaction record):
 *  - **find the last** allocated segment and its metadata (segments are allocated in order: an
 *    exponential probe, then a binary search, O(log n) `check` rounds);
 *  - **claim** a segment: allocate it in the owner's name (its metadata, wor/core/segment-meta.ts,
 *    records the **sealed-below mark**) and range-capture it, so each later write is one round;
 *  - **seal** segments: make every slot of them hold a chosen value, so nothing an older owner
 *    issued can be chosen there later (capture under a higher ballot, finish what is there, fill
 *    the rest), in bounded chunks.
 * A new owner seals the **unsealed suffix**, from the last segment's mark through it, and claims
 * past it. Nothing here knows what the values mean: the fill value is a parameter, the values a
 * seal finds go to a callback, and the app's metadata fields to its codec.
 */
import { LIMITS } from "../../paxos/limits.ts";
import { chunkEntries } from "./chunks.ts";
import type { Capture, OpResult } from "./results.ts";
import type { ClaimMeta, SegmentMeta, SegmentMetaCodec } from "./segment-meta.ts";
import { type RegGen, run, sleep } from "./steps.ts";

export interface SegmentConfig {
  readonly space: string;
  readonly segmentSize: number;
  /** Pause before retrying a seal round that was preempted. */
  readonly retryMs: number;
  /** Preemptions tolerated by one seal chunk before it gives up (another owner keeps winning). */
  readonly preemptRetriesMax: number;
  /** Slots one seal round covers (one read, then at most one capture): bounds the values a round
   *  holds. Capped at `LIMITS.rangeMax`. */
  readonly sealChunkMax: number;
}

const ok = <T>(value: T): OpResult<T> => ({ ok: true, value });

/** Is segment `s` allocated (or trimmed, or being allocated)? With its metadata when readable. */
function* allocated(space: string, s: number): RegGen<OpResult<{ yes: boolean; meta?: Uint8Array }>> {
  const r = yield* run({ kind: "check", space, segment: s });
  if (!r.ok) return r;
  const v = r.value;
  return ok(v._tag === "Allocated" ? { yes: true, meta: v.meta } : { yes: v._tag !== "Unallocated" });
}

/** The highest allocated segment (-1: none) and its metadata bytes, when readable. Only multiples
 *  of `stride` are looked at (an app that allocates every `stride`-th segment in order). */
function* probe(space: string, stride: number): RegGen<OpResult<{ segment: number; meta?: Uint8Array }>> {
  const first = yield* allocated(space, 0);
  if (!first.ok) return first;
  if (!first.value.yes) return ok({ segment: -1 });
  let lo = 0;
  let loMeta = first.value.meta;
  let hi = 1;
  for (;;) {
    const r = yield* allocated(space, hi * stride);
    if (!r.ok) return r;
    if (!r.value.yes) break;
    lo = hi;
    loMeta = r.value.meta;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const r = yield* allocated(space, mid * stride);
    if (!r.ok) return r;
    if (r.value.yes) {
      lo = mid;
      loMeta = r.value.meta;
    } else hi = mid;
  }
  return ok({ segment: lo * stride, ...(loMeta ? { meta: loMeta } : {}) });
}

export interface LastSegment<A extends object = object> {
  /** The highest allocated segment, or -1 for a space with none. */
  readonly segment: number;
  /** What its metadata says (nothing when unknown: none, trimmed, unreadable). */
  readonly meta: SegmentMeta<A>;
}

const NO_META = new Uint8Array();

/** The highest allocated segment of `space` and its metadata; with a `stride`, the highest among the
 *  multiples of `stride` (segments allocated in order every `stride`, e.g. transaction blocks). */
export function* lastSegment<A extends object>(space: string, codec: SegmentMetaCodec<A>, stride = 1): RegGen<OpResult<LastSegment<A>>> {
  const r = yield* probe(space, stride);
  if (!r.ok) return r;
  return ok({ segment: r.value.segment, meta: codec.decode(r.value.meta ?? NO_META) });
}

/** The highest allocated segment of `space`, or -1 for a space with none. */
export function* lastAllocated(space: string): RegGen<OpResult<number>> {
  const r = yield* probe(space, 1);
  return r.ok ? ok(r.value.segment) : r;
}

/** The first segment a new owner must seal: the last segment's sealed-below mark, or `unmarked`
 *  when its metadata carries none (a space claimed before marks). */
export const unsealedFrom = (found: LastSegment, unmarked: number): number => found.meta.sealedBelow ?? unmarked;

/**
 * Seal segments `first` through `last`: afterwards every slot of them not below the trim mark holds
 * a chosen value. `visit` gets those values (what was there, and `fill` where nothing was), in slot
 * order, one chunk of at most `sealChunkMax` slots at a time. A chunk whose slots all read as
 * chosen is sealed already (a former owner or an earlier seal finished it) and costs one read
 * round; in any other chunk the span from its first to its last slot not yet chosen is captured
 * under a higher ballot (fencing every older capture there, finishing any value found) and its
 * empty slots get `fill`. Slots already chosen need no fencing: nothing else can be chosen there.
 */
export function* seal(cfg: SegmentConfig, first: number, last: number, fill: Uint8Array, visit: (slot: number, value: Uint8Array) => void): RegGen<OpResult<void>> {
  const end = (last + 1) * cfg.segmentSize;
  const chunk = Math.max(1, Math.min(cfg.sealChunkMax, LIMITS.rangeMax));
  for (let from = first * cfg.segmentSize; from < end; from += chunk) {
    const r = yield* sealChunk(cfg, from, Math.min(end, from + chunk), fill);
    if (!r.ok) return r;
    for (const [slot, v] of [...r.value].sort(([a], [b]) => a - b)) visit(slot, v);
  }
  return ok(undefined);
}

/** Seal [chunkFrom, chunkTo): the chosen value of each slot not trimmed. Only the span from the
 *  first to the last slot not yet chosen is captured. */
function* sealChunk(cfg: SegmentConfig, chunkFrom: number, chunkTo: number, fill: Uint8Array): RegGen<OpResult<Map<number, Uint8Array>>> {
  const r = yield* run({ kind: "read", space: cfg.space, from: chunkFrom, to: chunkTo, recover: false });
  if (!r.ok) return r;
  const values = new Map<number, Uint8Array>();
  let from = chunkTo;
  let to = chunkFrom;
  for (const [i, v] of r.value) {
    if (v._tag === "Written") values.set(i, v.value);
    else if (v._tag !== "Trimmed") {
      from = Math.min(from, i);
      to = Math.max(to, i + 1);
    }
  }
  if (from >= to) return ok(values);
  for (const i of values.keys()) if (i >= from && i < to) values.delete(i);
  for (let attempt = 0; ; attempt++) {
    if (attempt > cfg.preemptRetriesMax) return { ok: false, failure: { code: "contended", message: `sealing slots [${from}, ${to}) of ${cfg.space}: preempted ${attempt} times` } };
    const c = yield* run({ kind: "capture", space: cfg.space, from, to });
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") {
      if (c.value.mark >= to) return ok(values);
      from = Math.max(from, c.value.mark);
      continue;
    }
    if (c.value._tag === "Preempted") {
      yield* sleep(cfg.retryMs);
      continue;
    }
    const found = new Map(c.value.written);
    const done = yield* fillEmpty(c.value.capture, found, fill);
    if (!done.ok) return done;
    if (done.value) return ok(new Map([...values, ...found]));
    yield* sleep(cfg.retryMs);
  }
}

/** Write `fill` at every slot of the capture not in `values` (in writes within an accept's
 *  limits); record what each slot holds. `false` when preempted (the caller captures again). */
function* fillEmpty(capture: Capture, values: Map<number, Uint8Array>, fill: Uint8Array): RegGen<OpResult<boolean>> {
  const empty = [];
  for (let i = capture.from; i < capture.to; i++) if (!values.has(i)) empty.push({ index: i, value: fill });
  for (const entries of chunkEntries(empty)) {
    const w = yield* run({ kind: "write", capture, entries });
    if (!w.ok) return w;
    for (const { index } of entries) {
      const r = w.value.get(index)!;
      if (r._tag === "Ok") values.set(index, fill);
      else if (r._tag === "AlreadyWritten") values.set(index, r.value);
      else if (r._tag === "Preempted") return ok(false);
      // Trimmed: the slot is gone below a trim mark; nothing can be chosen there any more.
    }
  }
  return ok(true);
}

export type ClaimResult = { readonly kind: "claimed"; readonly capture: Capture } | { readonly kind: "rival"; readonly why: string };

/** Allocate segment `s` in `meta.owner`'s name (recording `meta`: the sealed-below mark and the
 *  app's fields) and capture it. `rival` when another owner got there, or the segment is in use. */
export function* claim<A extends object>(cfg: Pick<SegmentConfig, "space" | "segmentSize">, codec: SegmentMetaCodec<A>, s: number, meta: ClaimMeta<A>): RegGen<OpResult<ClaimResult>> {
  const a = yield* run({ kind: "alloc", space: cfg.space, segment: s, meta: codec.encode(meta) });
  if (!a.ok) return a;
  if (a.value._tag === "Trimmed") return ok({ kind: "rival", why: `segment ${s} is trimmed` });
  if (a.value._tag === "AlreadyAllocated") {
    // Our own earlier attempt may have landed (with the same owner, maybe an older mark).
    const other = codec.decode(a.value.meta).owner;
    if (other !== meta.owner) return ok({ kind: "rival", why: `segment ${s} belongs to ${other ?? "an unknown owner"}` });
  }
  const c = yield* run({ kind: "capture", space: cfg.space, from: s * cfg.segmentSize, to: (s + 1) * cfg.segmentSize });
  if (!c.ok) return c;
  if (c.value._tag !== "Captured") return ok({ kind: "rival", why: `capturing segment ${s}: ${c.value._tag}` });
  if (c.value.written.size > 0) return ok({ kind: "rival", why: `segment ${s} already holds ${c.value.written.size} values` });
  return ok({ kind: "claimed", capture: c.value.capture });
}
