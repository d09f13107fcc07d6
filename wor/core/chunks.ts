/**
 * Accepts within the wire's limits: one accept carries at most `LIMITS.entriesMax` entries and
 * `CLIENT_LIMITS.acceptBytesMax` value bytes (what an envelope holds). A capture finishing the values
 * it found, or a seal filling a segment, may have more: they go in consecutive chunks.
 */
import { LIMITS } from "../../paxos/limits.ts";
import type { Entry } from "../../paxos/messages.ts";
import { CLIENT_LIMITS } from "./validate.ts";

/** `entries` in order, cut into accepts within the limits (none for no entries). */
export function chunkEntries<E extends Entry>(entries: readonly E[]): E[][] {
  const out: E[][] = [];
  let chunk: E[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (chunk.length > 0 && (chunk.length === LIMITS.entriesMax || bytes + e.value.byteLength > CLIENT_LIMITS.acceptBytesMax)) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(e);
    bytes += e.value.byteLength;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}
