/**
 * Segment ownership (DESIGN.md §3.4, §4.1): the register work of whoever owns the next segments of
 * a space (the log's sequencer here; later an SMR leader or a LogPlayer epoch). Find the last
 * allocated segment and its metadata, seal a segment (make every slot of it hold a chosen value, so
 * nothing an older owner issued can be chosen there later), and claim a fresh segment (allocate it
 * in our name, recording how far behind it everything is sealed, and capture it, so each write is
 * one round). Nothing here knows what the values mean: the fill marker is a parameter and the
 * values a seal finds go to the caller.
 */
import { LIMITS } from "../../../paxos/limits.ts";
import type { Capture } from "../../../wor/core/results.ts";
import { type RegGen, type LogResult, logFail, logOk, run, sleep } from "./steps.ts";

export interface SegmentConfig {
  readonly log: string;
  readonly segmentSize: number;
  /** Pause before retrying a register operation that failed or was preempted. */
  readonly retryMs: number;
  /** Preemptions tolerated by one seal before it gives up (another owner keeps winning). */
  readonly preemptRetriesMax: number;
  /** Slots one seal round covers (a read, or a capture whose finishing accept carries every value
   *  it found there): at most `LIMITS.entriesMax`, the register layer's limit on one accept. */
  readonly sealChunkMax: number;
}

const SEAL_CHUNK_MAX = LIMITS.entriesMax;

/**
 * A segment's allocation metadata, written once by whoever claims it (JSON, additive: readers
 * ignore fields they do not know, and a field missing means "not known"):
 *  - `sequencer`: the owner, unique per incarnation;
 *  - `address`: where the owner serves (none: a sequencer embedded in an appender);
 *  - `sealedBelow`: every segment below this one was sealed when the owner claimed this segment;
 *  - `entriesFrom`, `entrySegments`: of the sealed segments from `entriesFrom` on, only those
 *    listed may hold anything but fills (so a new owner reads back only those).
 */
export interface SegmentMeta {
  readonly owner?: string;
  readonly address?: string;
  readonly sealedBelow?: number;
  readonly entriesFrom?: number;
  readonly entrySegments?: readonly number[];
}

/** Segments one metadata record may list. */
export const ENTRY_SEGMENTS_MAX = 4_096;

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export function encodeSegmentMeta(owner: string, m: Omit<SegmentMeta, "owner"> = {}): Uint8Array {
  const listed = m.entrySegments !== undefined && m.entriesFrom !== undefined && m.entrySegments.length <= ENTRY_SEGMENTS_MAX;
  return utf8.encode(
    JSON.stringify({
      sequencer: owner,
      ...(m.address !== undefined ? { address: m.address } : {}),
      ...(m.sealedBelow !== undefined ? { sealedBelow: m.sealedBelow } : {}),
      ...(listed ? { entriesFrom: m.entriesFrom, entrySegments: m.entrySegments } : {}),
    }),
  );
}

const isSegment = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

/** Bytes of an allocation register → what they say; fields that are absent or malformed are left out. */
export function decodeSegmentMeta(meta: Uint8Array): SegmentMeta {
  let v: unknown;
  try {
    v = JSON.parse(utf8d.decode(meta));
  } catch {
    return {};
  }
  if (typeof v !== "object" || v === null) return {};
  const { sequencer, address, sealedBelow, entriesFrom, entrySegments } = v as Record<string, unknown>;
  const listed = isSegment(entriesFrom) && Array.isArray(entrySegments) && entrySegments.length <= ENTRY_SEGMENTS_MAX && entrySegments.every(isSegment);
  return {
    ...(typeof sequencer === "string" ? { owner: sequencer } : {}),
    ...(typeof address === "string" ? { address } : {}),
    ...(isSegment(sealedBelow) ? { sealedBelow } : {}),
    ...(listed ? { entriesFrom, entrySegments: entrySegments as number[] } : {}),
  };
}

/** Is segment `s` allocated (or trimmed, or being allocated)? With its metadata when readable. */
function* allocated(cfg: Pick<SegmentConfig, "log">, s: number): RegGen<LogResult<{ yes: boolean; meta?: Uint8Array }>> {
  const r = yield* run({ kind: "check", space: cfg.log, segment: s });
  if (!r.ok) return r;
  const v = r.value;
  return logOk(v._tag === "Allocated" ? { yes: true, meta: v.meta } : { yes: v._tag !== "Unallocated" });
}

export interface LastSegment {
  /** The highest allocated segment, or -1 for a space with none. */
  readonly segment: number;
  /** Its metadata (empty when unknown: none, trimmed, or not ours). */
  readonly meta: SegmentMeta;
}

/** The highest allocated segment and its metadata. Segments are allocated in order, so an
 *  exponential probe then a binary search over `check` finds it in O(log n) rounds. */
export function* lastSegment(cfg: Pick<SegmentConfig, "log">): RegGen<LogResult<LastSegment>> {
  const first = yield* allocated(cfg, 0);
  if (!first.ok) return first;
  if (!first.value.yes) return logOk({ segment: -1, meta: {} });
  let lo = 0;
  let loMeta = first.value.meta;
  let hi = 1;
  for (;;) {
    const r = yield* allocated(cfg, hi);
    if (!r.ok) return r;
    if (!r.value.yes) break;
    lo = hi;
    loMeta = r.value.meta;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const r = yield* allocated(cfg, mid);
    if (!r.ok) return r;
    if (r.value.yes) {
      lo = mid;
      loMeta = r.value.meta;
    } else hi = mid;
  }
  return logOk({ segment: lo, meta: loMeta ? decodeSegmentMeta(loMeta) : {} });
}

/** The highest allocated segment, or -1 for a space with none. */
export function* lastAllocated(cfg: Pick<SegmentConfig, "log">): RegGen<LogResult<number>> {
  const r = yield* lastSegment(cfg);
  return r.ok ? logOk(r.value.segment) : r;
}

/**
 * Seal segments `first` through `last`: afterwards every slot of them not below the trim mark holds
 * a chosen value. `visit` gets those values (what was there, and `fill` where nothing was), in slot
 * order, one chunk of at most `sealChunkMax` slots at a time. A chunk whose slots all read as
 * chosen is sealed already (a former owner or an earlier seal finished it) and costs one read
 * round; in any other chunk the span from its first to its last slot not yet chosen is captured
 * under a higher ballot (fencing every older capture there, finishing any value found) and its
 * empty slots get `fill`. Slots already chosen need no fencing: nothing else can be chosen there.
 */
export function* seal(cfg: SegmentConfig, first: number, last: number, fill: Uint8Array, visit: (slot: number, value: Uint8Array) => void): RegGen<LogResult<void>> {
  const end = (last + 1) * cfg.segmentSize;
  const chunk = Math.max(1, Math.min(cfg.sealChunkMax, SEAL_CHUNK_MAX));
  for (let from = first * cfg.segmentSize; from < end; from += chunk) {
    const r = yield* sealChunk(cfg, from, Math.min(end, from + chunk), fill);
    if (!r.ok) return r;
    for (const [slot, v] of [...r.value].sort(([a], [b]) => a - b)) visit(slot, v);
  }
  return logOk(undefined);
}

/** Seal [from, to) (at most `SEAL_CHUNK_MAX` slots): the chosen value of each slot not trimmed.
 *  Only the span from the first to the last slot not yet chosen is captured. */
function* sealChunk(cfg: SegmentConfig, chunkFrom: number, chunkTo: number, fill: Uint8Array): RegGen<LogResult<Map<number, Uint8Array>>> {
  const r = yield* run({ kind: "read", space: cfg.log, from: chunkFrom, to: chunkTo, recover: false });
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
  if (from >= to) return logOk(values);
  for (const i of values.keys()) if (i >= from && i < to) values.delete(i);
  for (let attempt = 0; ; attempt++) {
    if (attempt > cfg.preemptRetriesMax) return logFail("contended", `sealing slots [${from}, ${to}) of ${cfg.log}: preempted ${attempt} times`);
    const c = yield* run({ kind: "capture", space: cfg.log, from, to });
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") {
      if (c.value.mark >= to) return logOk(values);
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
    if (done.value) return logOk(new Map([...values, ...found]));
    yield* sleep(cfg.retryMs);
  }
}

/** Write `fill` at every slot of the capture not in `values`; record what each slot holds.
 *  `false` when preempted (the caller captures again). */
function* fillEmpty(capture: Capture, values: Map<number, Uint8Array>, fill: Uint8Array): RegGen<LogResult<boolean>> {
  const empty: number[] = [];
  for (let i = capture.from; i < capture.to; i++) if (!values.has(i)) empty.push(i);
  for (let k = 0; k < empty.length; k += LIMITS.entriesMax) {
    const chunk = empty.slice(k, k + LIMITS.entriesMax);
    const w = yield* run({ kind: "write", capture, entries: chunk.map((index) => ({ index, value: fill })) });
    if (!w.ok) return w;
    for (const i of chunk) {
      const r = w.value.get(i)!;
      if (r._tag === "Ok") values.set(i, fill);
      else if (r._tag === "AlreadyWritten") values.set(i, r.value);
      else if (r._tag === "Preempted") return logOk(false);
      // Trimmed: the slot is gone below a trim mark; nothing can be chosen there any more.
    }
  }
  return logOk(true);
}

export type ClaimResult = { readonly kind: "claimed"; readonly capture: Capture } | { readonly kind: "rival"; readonly why: string };

/** Allocate segment `s` in `owner`'s name (recording `meta`: where the owner serves, how far below
 *  it everything is sealed) and capture it. `rival` when another owner got there. */
export function* claim(cfg: SegmentConfig, owner: string, s: number, meta: Omit<SegmentMeta, "owner">): RegGen<LogResult<ClaimResult>> {
  const a = yield* run({ kind: "alloc", space: cfg.log, segment: s, meta: encodeSegmentMeta(owner, meta) });
  if (!a.ok) return a;
  if (a.value._tag === "Trimmed") return logOk({ kind: "rival", why: `segment ${s} is trimmed` });
  if (a.value._tag === "AlreadyAllocated") {
    // Our own earlier attempt may have landed (with the same owner, maybe an older mark).
    const other = decodeSegmentMeta(a.value.meta).owner;
    if (other !== owner) return logOk({ kind: "rival", why: `segment ${s} belongs to sequencer ${other ?? "?"}` });
  }
  const c = yield* run({ kind: "capture", space: cfg.log, from: s * cfg.segmentSize, to: (s + 1) * cfg.segmentSize });
  if (!c.ok) return c;
  if (c.value._tag !== "Captured") return logOk({ kind: "rival", why: `capturing segment ${s}: ${c.value._tag}` });
  if (c.value.written.size > 0) return logOk({ kind: "rival", why: `segment ${s} already holds ${c.value.written.size} values` });
  return logOk({ kind: "claimed", capture: c.value.capture });
}
