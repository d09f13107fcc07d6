/**
 * Reading one stream without scanning the log (docs/ARCHITECTURE.md §4.1, FuzzyLog/Boki): start at the
 * stream's tail (from the sequencer) and follow each entry's backpointer for that tag. Only where a
 * backpointer is unknown (a sequencer that took over and had not seen the stream) or lands on a fill
 * (the appender moved to another slot) does the reader scan back, and only until the stream's next
 * older entry.
 */
import { type LogEntry, PREV_NONE, PREV_UNKNOWN } from "./entry.ts";
import { type ReadConfig, type SettledRead, readSettled } from "./read.ts";
import { type LogGen, type LogResult, logOk, run } from "./steps.ts";

export interface StreamEntry {
  readonly slot: number;
  readonly entry: LogEntry;
}

/** Entries of stream `tag` at slots in [from, to), in log order. `to` defaults to the tail. */
export function* readStream(cfg: ReadConfig, tag: string, from: number, to?: number): LogGen<LogResult<StreamEntry[]>> {
  const g = yield* run({ kind: "tokens", log: cfg.log, request: { asks: [], streams: [tag] } });
  if (!g.ok) return g;
  const end = Math.min(to ?? g.value.tail, g.value.tail);
  let cursor = g.value.streamTails[0]!;
  let scanBelow = g.value.tail;
  const out: StreamEntry[] = [];
  for (;;) {
    if (cursor === PREV_NONE) break;
    if (cursor === PREV_UNKNOWN || cursor >= scanBelow) {
      const found = yield* scanBack(cfg, tag, from, scanBelow);
      if (!found.ok) return found;
      if (found.value === undefined) break;
      cursor = found.value;
    }
    if (cursor < from) break;
    const r = yield* readSettled(cfg, cursor, cursor + 1);
    if (!r.ok) return r;
    const s = r.value[0]!;
    if (s.kind === "trimmed") break;
    const link = s.kind === "entry" ? s.entry.streams.find((l) => l.tag === tag) : undefined;
    scanBelow = cursor;
    if (s.kind !== "entry" || !link) {
      cursor = PREV_UNKNOWN;
      continue;
    }
    if (cursor < end) out.push({ slot: cursor, entry: s.entry });
    cursor = link.prev;
  }
  return logOk(out.reverse());
}

/** The highest slot in [from, below) holding an entry of `tag`, reading back a chunk at a time. */
function* scanBack(cfg: ReadConfig, tag: string, from: number, below: number): LogGen<LogResult<number | undefined>> {
  for (let hi = below; hi > from; hi -= cfg.readChunkMax) {
    const lo = Math.max(from, hi - cfg.readChunkMax);
    const r = yield* readSettled(cfg, lo, hi);
    if (!r.ok) return r;
    for (let k = r.value.length - 1; k >= 0; k--) {
      const s: SettledRead = r.value[k]!;
      if (s.kind === "trimmed") return logOk(undefined);
      if (s.kind === "entry" && s.entry.streams.some((l) => l.tag === tag)) return logOk(s.slot);
    }
  }
  return logOk(undefined);
}
