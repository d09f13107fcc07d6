/**
 * Reading the log (docs/ARCHITECTURE.md §4.1): slots by number or range, holes filled after a timeout, and the
 * tail found by scanning when no sequencer is asked. A reader never returns a value that is not
 * chosen (the register layer's guarantee), so every reader sees the same value at every slot.
 */
import { lastAllocated } from "../../../wor/core/segments.ts";
import { type RegGen, run, sleep } from "../../../wor/core/steps.ts";
import { FILL_BYTES, type LogEntry, decodeSlot } from "./entry.ts";
import { type LogResult, isTransient, logFail, logOk } from "./steps.ts";

export type SlotRead =
  | { readonly kind: "entry"; readonly slot: number; readonly entry: LogEntry }
  | { readonly kind: "fill"; readonly slot: number }
  /** Nothing chosen there yet (maybe an append in flight, maybe a hole). */
  | { readonly kind: "unwritten"; readonly slot: number }
  | { readonly kind: "trimmed"; readonly slot: number };

export type SettledRead = Exclude<SlotRead, { kind: "unwritten" }>;

export interface ReadConfig {
  readonly log: string;
  readonly segmentSize: number;
  /** A slot below the tail still unwritten after this long is a hole: capture it and fill it. */
  readonly holeTimeoutMs: number;
  /** How often a reader waiting on a slot looks again. */
  readonly pollMs: number;
  /** Slots one read round may cover. */
  readonly readChunkMax: number;
  readonly retryMs: number;
}

export const READ_DEFAULTS = { holeTimeoutMs: 1_000, pollMs: 20, readChunkMax: 1_024, retryMs: 20 } as const;

/** What a chosen value means at `slot`. */
export function slotRead(slot: number, bytes: Uint8Array): LogResult<SlotRead> {
  const v = decodeSlot(bytes);
  if ("_tag" in v) return logFail("corrupt", `slot ${slot} holds bytes that are not a log entry (${v.message})`);
  return logOk(v.kind === "fill" ? { kind: "fill", slot } : { kind: "entry", slot, entry: v.entry });
}

/** One read round over [from, to): what each slot holds now (a pending slot reads as unwritten). */
export function* readSlots(cfg: ReadConfig, from: number, to: number): RegGen<LogResult<SlotRead[]>> {
  const r = yield* run({ kind: "read", space: cfg.log, from, to, recover: false });
  if (!r.ok) return r;
  const out: SlotRead[] = [];
  for (let slot = from; slot < to; slot++) {
    const v = r.value.get(slot)!;
    if (v._tag === "Written") {
      const s = slotRead(slot, v.value);
      if (!s.ok) return s;
      out.push(s.value);
    } else out.push(v._tag === "Trimmed" ? { kind: "trimmed", slot } : { kind: "unwritten", slot });
  }
  return logOk(out);
}

/** Fill the hole at `slot`: capture it, and if it is still empty write a fill marker. Returns what
 *  the slot holds afterwards: the fill, or the value a slow appender got in first. */
export function* fill(cfg: ReadConfig, slot: number): RegGen<LogResult<SettledRead>> {
  for (;;) {
    const c = yield* run({ kind: "capture", space: cfg.log, from: slot, to: slot + 1 });
    if (!c.ok) return c;
    if (c.value._tag === "Trimmed") return logOk({ kind: "trimmed", slot });
    if (c.value._tag === "Preempted") {
      yield* sleep(cfg.retryMs);
      continue;
    }
    const found = c.value.written.get(slot);
    if (found) return settledRead(slot, found);
    const w = yield* run({ kind: "write", capture: c.value.capture, entries: [{ index: slot, value: FILL_BYTES }] });
    if (!w.ok) return w;
    const r = w.value.get(slot)!;
    if (r._tag === "Ok") return logOk({ kind: "fill", slot });
    if (r._tag === "AlreadyWritten") return settledRead(slot, r.value);
    if (r._tag === "Trimmed") return logOk({ kind: "trimmed", slot });
    yield* sleep(cfg.retryMs);
  }
}

function settledRead(slot: number, bytes: Uint8Array): LogResult<SettledRead> {
  const r = slotRead(slot, bytes);
  if (!r.ok) return r;
  return logOk(r.value as SettledRead);
}

/** Read [from, to), a range below the tail, waiting for slots in flight and filling the holes that
 *  stay empty past `holeTimeoutMs`. Every slot of the answer is settled for good. */
export function* readSettled(cfg: ReadConfig, from: number, to: number): RegGen<LogResult<SettledRead[]>> {
  const out: SettledRead[] = [];
  let at = from;
  let waited = 0;
  while (at < to) {
    const end = Math.min(to, at + cfg.readChunkMax);
    const r = yield* readSlots(cfg, at, end);
    if (!r.ok) {
      if (!isTransient(r.failure.code)) return r;
      yield* sleep(cfg.retryMs);
      continue;
    }
    let progressed = false;
    for (const s of r.value) {
      if (s.kind !== "unwritten") {
        if (s.slot !== at) break;
        out.push(s);
        at++;
        progressed = true;
        continue;
      }
      if (s.slot !== at) break;
      if (waited < cfg.holeTimeoutMs) break;
      const f = yield* fill(cfg, s.slot);
      if (!f.ok) return f;
      out.push(f.value);
      at++;
      progressed = true;
    }
    if (progressed) waited = 0;
    else if (at < to) {
      yield* sleep(cfg.pollMs);
      waited += cfg.pollMs;
    }
  }
  return logOk(out);
}

/** The tail as the registers show it, without a sequencer: one past the highest chosen slot of the
 *  allocated segments (a lower bound on the sequencer's tail: issued slots may still be in flight). */
export function* scanTail(cfg: ReadConfig): RegGen<LogResult<number>> {
  const last = yield* lastAllocated(cfg.log);
  if (!last.ok) return last;
  for (let seg = last.value; seg >= 0; seg--) {
    const segFrom = seg * cfg.segmentSize;
    for (let to = segFrom + cfg.segmentSize; to > segFrom; to -= cfg.readChunkMax) {
      const from = Math.max(segFrom, to - cfg.readChunkMax);
      const r = yield* readSlots(cfg, from, to);
      if (!r.ok) return r;
      for (let k = r.value.length - 1; k >= 0; k--) {
        const s = r.value[k]!;
        if (s.kind === "trimmed") return logOk(s.slot + 1);
        if (s.kind !== "unwritten") return logOk(s.slot + 1);
      }
    }
  }
  return logOk(0);
}
