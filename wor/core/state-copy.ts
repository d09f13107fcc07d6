/**
 * Copying acceptor state to a replacement (docs/ARCHITECTURE.md §3.5), pure. The copy is the
 * **join** of what the surviving acceptors hold, taken after a quorum of them was fenced: per
 * address the highest promise, the value accepted at the highest ballot (two acceptors never hold
 * different values at one ballot), committed if any of them saw it committed; per space every
 * range promise and the highest trim mark. Copied from enough survivors that every quorum of the
 * old configuration shares one with them (`copySourcesNeeded`), the join holds every value any
 * quorum chose and every promise any quorum made.
 *
 * The replacement takes it as `install` requests (served to a joining replacement's installer only),
 * which merge each address's state and the range promises into what it holds: the higher promise,
 * the value of the higher ballot, any commit, every row. Merging commutes, so the copy may arrive
 * in any order, twice, or over state the replacement already holds.
 */
import { ballotLt, formatBallot, maxBallot } from "../../paxos/ballot.ts";
import type { RangePromise, ReportedAddress, Request, SpaceName } from "../../paxos/messages.ts";

/** Per address, the join of what each source reported of it (sources report only addresses with state). */
export function joinReports(reports: readonly (readonly ReportedAddress[])[]): ReportedAddress[] {
  const joined = new Map<number, ReportedAddress>();
  for (const list of reports) {
    for (const r of list) {
      const j = joined.get(r.index);
      if (!j) {
        joined.set(r.index, r);
        continue;
      }
      const promised = maxBallot(r.promised, j.promised);
      const accepted = !j.accepted || (r.accepted && ballotLt(j.accepted.ballot, r.accepted.ballot)) ? (r.accepted ?? j.accepted) : j.accepted;
      joined.set(r.index, { index: r.index, promised, ...(accepted ? { accepted } : {}), committed: j.committed || r.committed });
    }
  }
  return [...joined.values()].sort((a, b) => a.index - b.index);
}

/** Every range promise any source holds, once each, ordered by start. */
export function joinRanges(reports: readonly (readonly RangePromise[])[]): RangePromise[] {
  const rows = new Map<string, RangePromise>();
  for (const list of reports) for (const r of list) rows.set(`${r.from}/${r.to}/${formatBallot(r.ballot)}`, r);
  return [...rows.values()].sort((a, b) => a.from - b.from || a.to - b.to);
}

/** Addresses per install request, at most; and about how many bytes of values. */
const INSTALL_LIMITS = Object.freeze({ addressesMax: 1_024, bytesMax: 1 << 20 });

/** Install requests carrying `joined`, in order, each within `INSTALL_LIMITS`. */
export function installRequests(space: SpaceName, joined: readonly ReportedAddress[]): Request[] {
  const out: Request[] = [];
  let batch: ReportedAddress[] = [];
  let bytes = 0;
  for (const a of joined) {
    const size = 64 + (a.accepted?.value.byteLength ?? 0);
    if (batch.length > 0 && (batch.length >= INSTALL_LIMITS.addressesMax || bytes + size > INSTALL_LIMITS.bytesMax)) {
      out.push({ kind: "install", space, addresses: batch, ranges: [] });
      batch = [];
      bytes = 0;
    }
    batch.push(a);
    bytes += size;
  }
  if (batch.length > 0) out.push({ kind: "install", space, addresses: batch, ranges: [] });
  return out;
}

/** The install request of a space's range promises (sent once its addresses are in). */
export const rangesRequest = (space: SpaceName, ranges: readonly RangePromise[]): Request => ({ kind: "install", space, addresses: [], ranges });
