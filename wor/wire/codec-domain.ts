/**
 * The acceptor gateway's converters for the messages every direction uses (ballots, space names,
 * ranges, reported addresses, range promises): freshly decoded ts-proto objects in, validated
 * domain values (paxos/messages.ts) out; a violation throws a `CodecError` (proto/codec-kernel.ts).
 * The log's gateway reuses `ballot` and `space`.
 */
import { type Ballot, isValidBallot } from "../../paxos/ballot.ts";
import { LIMITS, isSpaceName } from "../../paxos/limits.ts";
import type { Accepted, RangePromise, ReportedAddress } from "../../paxos/messages.ts";
import { copyValue, count, reject } from "../../proto/codec-kernel.ts";
import type * as pb from "../../proto/gen/wormspace/v1/acceptor.ts";

/** A register value copied out of the decode buffer, at most LIMITS.valueBytesMax bytes. */
export const copyRegisterValue = (bytes: Uint8Array, what: string): Uint8Array => copyValue(bytes, LIMITS.valueBytesMax, what);


export function space(name: string, what: string): string {
  if (!isSpaceName(name)) reject("invalid", `${what}: invalid space name ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

/** uint64 fields are ≥ 0 and exact (ts-proto checked); this guards the range arithmetic. */
export function range(from: number, to: number, what: string): void {
  if (from >= to) reject("invalid", `${what}: empty range [${from}, ${to})`);
  if (to - from > LIMITS.rangeMax) reject("tooLarge", `${what}: range of ${to - from} addresses exceeds ${LIMITS.rangeMax}`);
}

/** A decoded ballot is a fresh object of the domain's shape; validate and keep it. */
export function ballot(b: pb.Ballot | undefined, what: string): Ballot {
  if (b === undefined) reject("invalid", `${what}: missing ballot`);
  if (!isValidBallot(b)) reject("invalid", `${what}: invalid ballot ${b.round}.${b.proposer}`);
  return b;
}


function accepted(a: pb.Accepted): Accepted {
  return { ballot: ballot(a.ballot, "accepted"), value: copyRegisterValue(a.value, "accepted value") };
}

export function reportedAddresses(list: readonly pb.ReportedAddress[], max: number, what: string): ReportedAddress[] {
  count(list.length, max, what);
  const out: ReportedAddress[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    const promised = ballot(a.promised, what);
    out[i] =
      a.accepted === undefined
        ? { index: a.index, promised, committed: a.committed }
        : { index: a.index, promised, accepted: accepted(a.accepted), committed: a.committed };
  }
  return out;
}

export function rangePromises(list: readonly pb.RangePromise[], what: string): RangePromise[] {
  count(list.length, LIMITS.rangeRowsMax, what);
  const out: RangePromise[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (r.from >= r.to) reject("invalid", `${what}: empty range promise [${r.from}, ${r.to})`);
    out[i] = { from: r.from, to: r.to, ballot: ballot(r.ballot, what) };
  }
  return out;
}

