/**
 * A sequencer's recovery (docs/ARCHITECTURE.md §4.1): what a new sequencer must do before it issues a token,
 * so that a key retried through it is never stored twice.
 *
 * 1. Find the last allocated segment L and read its allocation metadata: `sealedBelow` says every
 *    segment below it was sealed when L was claimed (each sequencer seals behind itself and records
 *    the mark in every segment it claims), and `entrySegments` which sealed segments hold entries.
 * 2. Seal the unsealed suffix [mark, L] (the only place an older sequencer's token, or an
 *    appender's half-written attempt, could still be chosen later) and, for the key table, the
 *    dedupe window before it: the last `dedupeSegments` segments that hold entries (fill-only
 *    segments hold no keys: they are skipped and do not count). A chunk already sealed costs one
 *    read round; only the span of a chunk not yet chosen is captured.
 * 3. Learn from what they hold: every key chosen there (the key table, starting at the first
 *    recovered slot), each stream's last slot, and which segments hold entries.
 *
 * Afterwards nothing below segment L + 1 can change, so a retried key is either at a slot the key
 * table knows or was appended before the window (the documented limit, apps/log/README.md).
 * Metadata without a mark (a log written before marks existed) counts as sealed below the window.
 */
import { type LastSegment, lastSegment, seal, unsealedFrom } from "../../../wor/core/segments.ts";
import type { RegGen } from "../../../wor/core/steps.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { FILL_BYTES, decodeSlot, keyString } from "./entry.ts";
import { KeyTable } from "./key-table.ts";
import { LOG_SEGMENT_META, type LogSegmentConfig, type LogSegmentFields, type LogSegmentMeta, segmentsOf } from "./segments.ts";
import { type LogResult, logOk } from "./steps.ts";

export interface RecoveryConfig extends LogSegmentConfig {
  /** The dedupe window: a new sequencer learns the keys of this many segments holding entries
   *  behind its first one (fill-only segments do not count). */
  readonly dedupeSegments: number;
  /** Idempotency keys remembered. */
  readonly keysMax: number;
}

export interface Recovered {
  /** The last allocated segment: it and everything below it are sealed now. */
  readonly last: number;
  /** The first segment recovered (sealed or read back). */
  readonly from: number;
  /** Every key chosen in the recovered segments, at its slot. */
  readonly keys: KeyTable;
  /** Each stream tag's last slot in the recovered segments. */
  readonly streams: ReadonlyMap<string, number>;
  /** The recovered segments that hold an entry, ascending (the others hold fills only). */
  readonly entrySegments: readonly number[];
}

/** Recover the log; `known`: its last segment, when the caller already found it. */
export function* recoverSegments(cfg: RecoveryConfig, known?: LastSegment<LogSegmentFields>): RegGen<LogResult<Recovered>> {
  let found = known;
  if (!found) {
    const r = yield* lastSegment(cfg.log, LOG_SEGMENT_META);
    if (!r.ok) return r;
    found = r.value;
  }
  const last = found.segment;
  const meta = found.meta;
  const listed = new Set(meta.entrySegments);
  // Planted bug: the recovery before sealed-below marks (only the last two segments).
  const from = planted("recoverOnlyLastSegments") ? Math.max(0, last - 1) : firstToRecover(cfg.dedupeSegments, last, meta);
  const mark = unsealedFrom(found, from);
  const keys = new KeyTable(cfg.keysMax, from * cfg.segmentSize);
  const streams = new Map<string, number>();
  const entrySegments = new Set<number>();
  const learn = (slot: number, bytes: Uint8Array): void => {
    const v = decodeSlot(bytes);
    if ("_tag" in v || v.kind === "fill") return;
    for (const l of v.entry.streams) streams.set(l.tag, slot);
    keys.note(keyString(v.entry.key), slot);
    entrySegments.add(Math.floor(slot / cfg.segmentSize));
  };
  // Sealed segments the metadata lists as fills only need no reading back.
  const wanted = (s: number): boolean => s >= mark || meta.entriesFrom === undefined || s < meta.entriesFrom || listed.has(s);
  for (let s = from; s <= last; s++) {
    if (!wanted(s)) continue;
    let end = s;
    while (end < last && wanted(end + 1)) end++;
    const r = yield* seal(segmentsOf(cfg), s, end, FILL_BYTES, learn);
    if (!r.ok) return r;
    s = end;
  }
  return logOk({ last, from, keys, streams, entrySegments: [...entrySegments].sort((a, b) => a - b) });
}

/**
 * The first segment to recover: the unsealed suffix [mark, last], and before it the dedupe window,
 * `window` segments that hold entries (the suffix counts whole; segments the metadata lists as
 * fills only are free, so a sparse log's window reaches far back). Without a mark or a list (a log
 * written before them), the last `window` segments.
 */
export function firstToRecover(window: number, last: number, meta: LogSegmentMeta): number {
  const plain = Math.max(0, last + 1 - window);
  const mark = meta.sealedBelow;
  if (mark === undefined) return plain;
  if (meta.entriesFrom === undefined || meta.entrySegments === undefined || meta.entriesFrom > mark) return Math.min(mark, plain);
  const listed = meta.entrySegments.filter((s) => s >= meta.entriesFrom! && s < mark).sort((a, b) => a - b);
  const room = window - (last + 1 - mark);
  if (room <= 0) return mark;
  return room >= listed.length ? meta.entriesFrom : listed[listed.length - room]!;
}
