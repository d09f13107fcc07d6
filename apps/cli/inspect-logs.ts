/**
 * `worm inspect`'s view of shared logs (docs/ARCHITECTURE.md §4.1, §4.6): for every space of kind log, its last allocated segment, the tail found by scanning, the trim mark, and what the last
 * segments hold (from the one holding the tail's last slot to the last allocated one: a sequencer
 * claims segments ahead of its tail): entries, fills, unwritten slots below the tail (holes, or
 * appends in flight) and the stream tags seen there with their counts. Read through the log core,
 * driven like the node API.
 */
import type { AcceptorStatus } from "../../wor/wire/admin.ts";
import { READ_DEFAULTS, type ReadConfig, readSlots, scanTail } from "../log/core/read.ts";
import type { LogResult } from "../log/core/steps.ts";
import { lastAllocated } from "../../wor/core/segments.ts";
import type { SpaceMeta } from "../../wor/core/space-meta.ts";
import type { WorClient } from "../../wor/node/client.ts";
import { drive } from "../../wor/node/driver.ts";
import { printLine, table } from "./output.ts";

export interface LogView {
  readonly log: string;
  readonly trimMark: number;
  /** -1: none allocated (yet). */
  readonly lastSegment: number;
  readonly tail: number;
  /** What the last segments hold: [from, to) from the tail's segment (or the trim mark) to the last allocated one's end. */
  readonly lastSegmentSlots: { readonly from: number; readonly to: number; readonly entries: number; readonly fills: number; readonly holes: number; readonly unwrittenAboveTail: number };
  readonly streams: Readonly<Record<string, number>>;
}

/** Segments counted per log at most (the last allocated ones). */
const INSPECT_LOG_SEGMENTS_MAX = 4;

export type LogRow = { readonly log: string; readonly ok: true; readonly view: LogView } | { readonly log: string; readonly ok: false; readonly error: string };


const unwrap = <T>(r: LogResult<T>): T => {
  if (!r.ok) throw new Error(`${r.failure.code}: ${r.failure.message}`);
  return r.value;
};

async function inspectLog(client: WorClient, log: string, segmentSize: number, trimMark: number): Promise<LogView> {
  const cfg: ReadConfig = { ...READ_DEFAULTS, log, segmentSize };
  const lastSegment = unwrap(await drive(lastAllocated(log), client));
  const tail = unwrap(await drive(scanTail(cfg), client));
  const to = lastSegment < 0 ? 0 : (lastSegment + 1) * cfg.segmentSize;
  const tailSegment = Math.floor(Math.max(0, tail - 1) / cfg.segmentSize);
  const first = Math.max(tailSegment, lastSegment + 1 - INSPECT_LOG_SEGMENTS_MAX, 0);
  const from = Math.min(to, Math.max(trimMark, first * cfg.segmentSize));
  const counts = { from, to, entries: 0, fills: 0, holes: 0, unwrittenAboveTail: 0 };
  const streams: Record<string, number> = {};
  for (let at = from; at < to; at += cfg.readChunkMax) {
    for (const s of unwrap(await drive(readSlots(cfg, at, Math.min(to, at + cfg.readChunkMax)), client))) {
      if (s.kind === "entry") {
        counts.entries++;
        for (const l of s.entry.streams) streams[l.tag] = (streams[l.tag] ?? 0) + 1;
      } else if (s.kind === "fill") counts.fills++;
      else if (s.kind === "unwritten") {
        if (s.slot < tail) counts.holes++;
        else counts.unwrittenAboveTail++;
      }
    }
  }
  return { log, trimMark, lastSegment, tail, lastSegmentSlots: counts, streams };
}

/** One row per log (a space of kind log); a log whose slots are not log entries reports why. */
export async function inspectLogs(client: WorClient, live: readonly AcceptorStatus[], logs: ReadonlyMap<string, SpaceMeta>): Promise<LogRow[]> {
  const rows: LogRow[] = [];
  for (const [log, meta] of logs) {
    const trimMark = Math.max(0, ...live.flatMap((s) => s.spaces.filter((x) => x.name === log).map((x) => x.trimMark)));
    try {
      rows.push({ log, ok: true, view: await inspectLog(client, log, meta.segmentSize, trimMark) });
    } catch (e) {
      rows.push({ log, ok: false, error: (e as Error).message });
    }
  }
  return rows;
}

export function printLogs(rows: readonly LogRow[]): void {
  if (rows.length === 0) return;
  printLine("");
  printLine(
    table(
      ["LOG", "TRIM", "LAST SEGMENT", "TAIL", "COUNTED", "ENTRIES", "FILLS", "HOLES", "STREAMS"],
      rows.map((r) => {
        if (!r.ok) return [r.log, "", "", "", "", "", "", "", `not readable as a log: ${r.error}`];
        const v = r.view;
        const seg = v.lastSegment < 0 ? "-" : String(v.lastSegment);
        const counted = `[${v.lastSegmentSlots.from}, ${v.lastSegmentSlots.to})`;
        const streams = Object.entries(v.streams).map(([tag, n]) => `${tag}:${n}`).join(" ") || "-";
        return [v.log, String(v.trimMark), seg, String(v.tail), counted, String(v.lastSegmentSlots.entries), String(v.lastSegmentSlots.fills), String(v.lastSegmentSlots.holes), streams];
      }),
    ),
  );
  printLine("(entries, fills, holes and streams: in the COUNTED slots, the tail's segment to the last allocated; holes are unwritten slots below the tail: appends in flight, or holes a reader will fill)");
}
