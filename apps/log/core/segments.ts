/**
 * The log's side of segment ownership (wor/core/segments.ts does the work: find the last segment,
 * claim, seal): a log's segments are owned by its sequencer, and their allocation metadata carries,
 * beside the owner and the sealed-below mark, what the log needs to fail over:
 *  - `address`: where the owner serves (none: a sequencer embedded in an appender); a standby
 *    redirects clients there (./standby.ts);
 *  - `entriesFrom`, `entrySegments`: of the sealed segments from `entriesFrom` on, only those listed
 *    may hold anything but fills, so a new owner reads back only those (./recovery.ts).
 * The JSON layout is the one logs were written with before the platform took segments over:
 * `{"sequencer": owner, "address", "sealedBelow", "entriesFrom", "entrySegments"}` (additive: a
 * field missing means "not known", so metadata with the owner alone still reads).
 */
import { type SegmentMeta, isSegment, jsonSegmentMeta } from "../../../wor/core/segment-meta.ts";
import type { SegmentConfig } from "../../../wor/core/segments.ts";

export interface LogSegmentFields {
  readonly address?: string;
  readonly entriesFrom?: number;
  readonly entrySegments?: readonly number[];
}

/** A log segment's metadata: owner and mark (the platform's), and the log's fields. */
export type LogSegmentMeta = SegmentMeta<LogSegmentFields>;

/** Segments one metadata record may list. */
const ENTRY_SEGMENTS_MAX = 4_096;

export const LOG_SEGMENT_META = jsonSegmentMeta<LogSegmentFields>({
  ownerKey: "sequencer",
  encode: ({ address, entriesFrom, entrySegments }) => ({
    ...(address !== undefined ? { address } : {}),
    ...(entrySegments !== undefined && entriesFrom !== undefined && entrySegments.length <= ENTRY_SEGMENTS_MAX ? { entriesFrom, entrySegments } : {}),
  }),
  decode: ({ address, entriesFrom, entrySegments }) => {
    const listed = isSegment(entriesFrom) && Array.isArray(entrySegments) && entrySegments.length <= ENTRY_SEGMENTS_MAX && entrySegments.every(isSegment);
    return {
      ...(typeof address === "string" ? { address } : {}),
      ...(listed ? { entriesFrom, entrySegments: entrySegments as number[] } : {}),
    };
  },
});

/** The segment geometry and seal settings of a log (its space is the log's name). */
export interface LogSegmentConfig extends Omit<SegmentConfig, "space"> {
  readonly log: string;
}

export const segmentsOf = (cfg: LogSegmentConfig): SegmentConfig => ({
  space: cfg.log,
  segmentSize: cfg.segmentSize,
  retryMs: cfg.retryMs,
  preemptRetriesMax: cfg.preemptRetriesMax,
  sealChunkMax: cfg.sealChunkMax,
});
