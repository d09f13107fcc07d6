/**
 * Argument checks of the client's entry points (docs/ARCHITECTURE.md §3.1: bad input is a tagged error, never
 * a crash). Every operation is checked before any round trip: a failure is `invalid`, or
 * `tooLarge` naming the limit. Inputs are `unknown`: anything may arrive from JavaScript, so a
 * check never throws (and renders what it got with `show`, which cannot throw either).
 *
 * A capture made by another client is accepted when well formed: the shared log's sequencer hands
 * its captures to appenders by design (apps/log tokens). Its ballot must still be a real one.
 */
import { isOwnerBallot, isValidBallot } from "../../paxos/ballot.ts";
import { isSpaceName, isUserSpaceName, LIMITS, NAME_GRAMMAR } from "../../paxos/limits.ts";
import type { Entry } from "../../paxos/messages.ts";
import type { Capture, WorFailure } from "./results.ts";
import { WIRE_LIMITS } from "../../proto/limits.ts";

export const CLIENT_LIMITS = Object.freeze({
  /** The highest address: reading or capturing it needs the range [a, a + 1), whose end is an index. */
  addressMax: LIMITS.indexMax - 1,
  /** Value bytes one accept round may carry: an envelope's limit less room for its framing. */
  acceptBytesMax: WIRE_LIMITS.envelopeBytesMax - (1 << 20),
});

export type Check = WorFailure | undefined;

const invalid = (message: string): WorFailure => ({ code: "invalid", message });
const tooLarge = (message: string): WorFailure => ({ code: "tooLarge", message });

/** A caller's argument in a message; never throws, whatever it is. */
export function show(x: unknown): string {
  if (typeof x === "number" || typeof x === "boolean") return String(x);
  if (typeof x === "bigint") return `${x}n`;
  if (typeof x === "string") return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x);
  if (x === null || x === undefined) return String(x);
  if (x instanceof Uint8Array) return `${x.byteLength} bytes`;
  return Array.isArray(x) ? "an array" : `a ${typeof x}`;
}

const isInteger = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

export function checkSpace(space: unknown): Check {
  if (typeof space === "string" && isSpaceName(space)) return undefined;
  return invalid(`invalid space name ${show(space)}: ${NAME_GRAMMAR}`);
}

/** A space a user may create (not a hidden allocation space). */
export const checkNewSpace = (space: unknown): Check => (typeof space === "string" && isUserSpaceName(space) ? undefined : checkSpace(space) ?? invalid(`cannot create ${show(space)}: not a user space name`));

/** An address (or a segment number: `what` names it). */
export function checkAddress(x: unknown, what = "address"): Check {
  if (!isInteger(x)) return invalid(`invalid ${what} ${show(x)}: an integer in 0..${CLIENT_LIMITS.addressMax}`);
  if (x > CLIENT_LIMITS.addressMax) return invalid(`${what} ${x} is above the highest address ${CLIENT_LIMITS.addressMax}`);
  return undefined;
}

/** A mark (a trim mark, a watch start): an index, 0..LIMITS.indexMax. */
export function checkMark(x: unknown, what: string): Check {
  return isInteger(x) ? undefined : invalid(`invalid ${what} ${show(x)}: an integer in 0..${LIMITS.indexMax}`);
}

/** [from, to): non-empty, at most LIMITS.rangeMax addresses. */
export function checkRange(from: unknown, to: unknown): Check {
  const bad = checkAddress(from);
  if (bad) return bad;
  if (!isInteger(to) || to > LIMITS.indexMax) return invalid(`invalid range end ${show(to)}: an integer in 1..${LIMITS.indexMax}`);
  const start = from as number;
  if (to <= start) return invalid(`empty range [${start}, ${to}): the end must be above the start`);
  if (to - start > LIMITS.rangeMax) return tooLarge(`range [${start}, ${to}) covers ${to - start} addresses; the limit is ${LIMITS.rangeMax} (LIMITS.rangeMax)`);
  return undefined;
}

export function checkValue(v: unknown, what = "value"): Check {
  if (!(v instanceof Uint8Array)) return invalid(`${what} must be a Uint8Array (got ${show(v)})`);
  if (v.byteLength > LIMITS.valueBytesMax) return tooLarge(`${what} of ${v.byteLength} bytes exceeds the limit of ${LIMITS.valueBytesMax} bytes (LIMITS.valueBytesMax)`);
  return undefined;
}

export const checkFlag = (x: unknown, what: string): Check => (typeof x === "boolean" ? undefined : invalid(`${what} must be true or false (got ${show(x)})`));

/** A capture as `captureRange` returned it: a space, a range and a real (non-owner) ballot. */
export function checkCapture(held: unknown): Check {
  if (typeof held !== "object" || held === null) return invalid(`not a capture: ${show(held)}`);
  const { space, from, to, ballot } = held as Partial<Capture>;
  const bad = checkSpace(space) ?? checkRange(from, to);
  if (bad) return invalid(`malformed capture: ${bad.message}`);
  if (typeof ballot !== "object" || ballot === null || !isValidBallot(ballot) || isOwnerBallot(ballot)) return invalid("malformed capture: its ballot is not one a capture makes");
  return undefined;
}

/** Entries to write: 1..LIMITS.entriesMax distinct addresses, inside `within` when given. */
export function checkEntries(entries: unknown, within?: { readonly from: number; readonly to: number }): Check {
  if (!Array.isArray(entries)) return invalid(`entries must be an array of { index, value } (got ${show(entries)})`);
  if (entries.length === 0) return invalid("nothing to write: no entries");
  if (entries.length > LIMITS.entriesMax) return tooLarge(`${entries.length} entries exceed the limit of ${LIMITS.entriesMax} per write (LIMITS.entriesMax)`);
  const seen = new Set<number>();
  let bytes = 0;
  for (const e of entries as unknown[]) {
    if (typeof e !== "object" || e === null) return invalid(`not an entry: ${show(e)} (an entry is { index, value })`);
    const { index, value } = e as Partial<Entry>;
    const bad = checkAddress(index) ?? checkValue(value, `the value at ${index}`);
    if (bad) return bad;
    const at = index as number;
    if (within && (at < within.from || at >= within.to)) return invalid(`address ${at} is outside the capture [${within.from}, ${within.to})`);
    if (seen.has(at)) return invalid(`address ${at} appears twice in one write`);
    seen.add(at);
    bytes += (value as Uint8Array).byteLength;
  }
  if (bytes > CLIENT_LIMITS.acceptBytesMax) return tooLarge(`one write of ${bytes} value bytes exceeds the limit of ${CLIENT_LIMITS.acceptBytesMax} (what one envelope, WIRE_LIMITS.envelopeBytesMax, carries)`);
  return undefined;
}
