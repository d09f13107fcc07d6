/**
 * Rounds within the wire's limits (docs/ARCHITECTURE.md §3.1). An accept carries at most `LIMITS.entriesMax`
 * entries and `CLIENT_LIMITS.acceptBytesMax` value bytes (what an envelope holds): a capture that
 * finishes the values it found, or a seal that fills a segment, may have more, and sends them in
 * consecutive chunks. A prepare's or read's reply carries every value of its range: an acceptor
 * whose reply would not fit an envelope answers `tooLarge` with `REPLY_TOO_LARGE` in its message
 * instead (its stream writer, wor/node/reply-writer.ts), and the client asks again in halves.
 */
import { LIMITS } from "../../paxos/limits.ts";
import type { Entry } from "../../paxos/messages.ts";
import type { RoundFailure } from "../../paxos/proposer.ts";
import type { AccountedFailure } from "./rounds.ts";
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

/** What an acceptor's `tooLarge` reply says when the reply itself did not fit an envelope. */
export const REPLY_TOO_LARGE = "exceeds an envelope; ask for less";

/** A round that failed because some acceptor's reply did not fit an envelope: asking for a smaller
 *  range may succeed (a `tooLarge` for any other reason, e.g. too many range promises, would not). */
export function replyTooLarge(f: RoundFailure): boolean {
  const account = (f as Partial<AccountedFailure>).account;
  return !!account?.answered.some((a) => a.verdict.kind === "error" && a.verdict.code === "tooLarge" && a.verdict.message.endsWith(REPLY_TOO_LARGE));
}

/** [from, to) in two halves, for a range asked for again after a reply too large. */
export function halves(from: number, to: number): [readonly [number, number], readonly [number, number]] {
  const mid = from + Math.floor((to - from) / 2);
  return [
    [from, mid],
    [mid, to],
  ];
}
