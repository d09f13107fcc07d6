/**
 * The sequencer's register work on segments (DESIGN.md §4.1): find the last allocated segment,
 * seal a segment (capture it and fill every slot that holds nothing, so nothing an older sequencer
 * issued can be chosen there later), and claim a fresh segment (allocate it in our name and capture
 * it, so each token is one write round).
 */
import { LIMITS } from "../../../paxos/limits.ts";
import type { Capture } from "../../../wor/core/results.ts";
import { FILL_BYTES } from "./entry.ts";
import { type RegGen, type LogResult, logFail, logOk, run, sleep } from "./steps.ts";

export interface SegmentConfig {
  readonly log: string;
  readonly segmentSize: number;
  /** Pause before retrying a register operation that failed or was preempted. */
  readonly retryMs: number;
  /** Preemptions tolerated by one seal before it gives up (another sequencer keeps winning). */
  readonly preemptRetriesMax: number;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/** The allocation metadata a sequencer writes: who owns the segment's tokens, and where that
 *  sequencer serves (none when it is embedded in an appender). */
export const ownerMeta = (owner: string, address?: string): Uint8Array => utf8.encode(JSON.stringify(address === undefined ? { sequencer: owner } : { sequencer: owner, address }));
function metaField(meta: Uint8Array, field: "sequencer" | "address"): string | undefined {
  try {
    const v = JSON.parse(utf8d.decode(meta)) as unknown;
    const x = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[field] : undefined;
    return typeof x === "string" ? x : undefined;
  } catch {
    return undefined;
  }
}
export const metaOwner = (meta: Uint8Array): string | undefined => metaField(meta, "sequencer");
export const metaAddress = (meta: Uint8Array): string | undefined => metaField(meta, "address");

/** Is segment `s` allocated (or trimmed, or being allocated)? */
function* allocated(cfg: SegmentConfig, s: number): RegGen<LogResult<boolean>> {
  const r = yield* run({ kind: "check", space: cfg.log, segment: s });
  if (!r.ok) return r;
  return logOk(r.value._tag !== "Unallocated");
}

/** The highest allocated segment, or -1 for a log with none. Segments are allocated in order, so
 *  an exponential probe then a binary search over `check` finds it in O(log n) rounds. */
export function* lastAllocated(cfg: SegmentConfig): RegGen<LogResult<number>> {
  const first = yield* allocated(cfg, 0);
  if (!first.ok || !first.value) return first.ok ? logOk(-1) : first;
  let lo = 0;
  let hi = 1;
  for (;;) {
    const r = yield* allocated(cfg, hi);
    if (!r.ok) return r;
    if (!r.value) break;
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const r = yield* allocated(cfg, mid);
    if (!r.ok) return r;
    if (r.value) lo = mid;
    else hi = mid;
  }
  return logOk(lo);
}

/** Seal segment `s`: afterwards every slot of it not below the trim mark holds a chosen value.
 *  Returns those values (entries and fills), in slot order. */
export function* seal(cfg: SegmentConfig, s: number): RegGen<LogResult<Map<number, Uint8Array>>> {
  const end = (s + 1) * cfg.segmentSize;
  let from = s * cfg.segmentSize;
  for (let attempt = 0; ; attempt++) {
    if (attempt > cfg.preemptRetriesMax) return logFail("contended", `sealing segment ${s} of ${cfg.log}: preempted ${attempt} times`);
    const c = yield* run({ kind: "capture", space: cfg.log, from, to: end });
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") {
      if (c.value.mark >= end) return logOk(new Map());
      from = Math.max(from, c.value.mark);
      continue;
    }
    if (c.value._tag === "Preempted") {
      yield* sleep(cfg.retryMs);
      continue;
    }
    const values = new Map(c.value.written);
    const done = yield* fillEmpty(c.value.capture, values);
    if (!done.ok) return done;
    if (done.value) return logOk(new Map([...values].sort(([a], [b]) => a - b)));
    yield* sleep(cfg.retryMs);
  }
}

/** Write fills at every slot of the capture not in `values`; record what each slot holds.
 *  `false` when preempted (the caller captures again). */
function* fillEmpty(capture: Capture, values: Map<number, Uint8Array>): RegGen<LogResult<boolean>> {
  const empty: number[] = [];
  for (let i = capture.from; i < capture.to; i++) if (!values.has(i)) empty.push(i);
  for (let k = 0; k < empty.length; k += LIMITS.entriesMax) {
    const chunk = empty.slice(k, k + LIMITS.entriesMax);
    const w = yield* run({ kind: "write", capture, entries: chunk.map((index) => ({ index, value: FILL_BYTES })) });
    if (!w.ok) return w;
    for (const i of chunk) {
      const r = w.value.get(i)!;
      if (r._tag === "Ok") values.set(i, FILL_BYTES);
      else if (r._tag === "AlreadyWritten") values.set(i, r.value);
      else if (r._tag === "Preempted") return logOk(false);
      // Trimmed: the slot is gone below a trim mark; nothing can be chosen there any more.
    }
  }
  return logOk(true);
}

export type ClaimResult = { readonly kind: "claimed"; readonly capture: Capture } | { readonly kind: "rival"; readonly why: string };

/** Allocate segment `s` in `owner`'s name (serving at `address`) and capture it. `rival` when
 *  another sequencer got there. */
export function* claim(cfg: SegmentConfig, owner: string, s: number, address?: string): RegGen<LogResult<ClaimResult>> {
  const a = yield* run({ kind: "alloc", space: cfg.log, segment: s, meta: ownerMeta(owner, address) });
  if (!a.ok) return a;
  if (a.value._tag === "Trimmed") return logOk({ kind: "rival", why: `segment ${s} is trimmed` });
  if (a.value._tag === "AlreadyAllocated" && metaOwner(a.value.meta) !== owner) {
    return logOk({ kind: "rival", why: `segment ${s} belongs to sequencer ${metaOwner(a.value.meta) ?? "?"}` });
  }
  const c = yield* run({ kind: "capture", space: cfg.log, from: s * cfg.segmentSize, to: (s + 1) * cfg.segmentSize });
  if (!c.ok) return c;
  if (c.value._tag !== "Captured") return logOk({ kind: "rival", why: `capturing segment ${s}: ${c.value._tag}` });
  if (c.value.written.size > 0) return logOk({ kind: "rival", why: `segment ${s} already holds ${c.value.written.size} values` });
  return logOk({ kind: "claimed", capture: c.value.capture });
}
