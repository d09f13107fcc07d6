/**
 * What a request touches (docs/ARCHITECTURE.md §3.3): the address ranges of its space that `step`
 * (paxos/acceptor.ts) asserts are resident, so that the node loads them first. It mirrors `step`'s
 * guards: nothing below the trim mark (answered without touching anything), nothing for a request
 * `step` refuses before it looks at an address. A trim touches the block its mark falls in (the
 * storage rewrites that block's digest); a createSpace, nothing.
 */
import type { AcceptorState } from "../../paxos/acceptor.ts";
import { LIMITS, isIndex } from "../../paxos/limits.ts";
import type { AddressState, Reply, Request, SpaceName } from "../../paxos/messages.ts";
import { WIRE_LIMITS } from "../../proto/limits.ts";
import { REPLY_TOO_LARGE } from "../core/chunks.ts";

const READ_LIMITS = Object.freeze({
  /** Bytes of stored state (`storedBytes`) one frame other than a prepare or read may read; a
   *  prepare's or read's reply must fit an envelope, so they may read that much. */
  frameReadBytesMax: 64 << 20,
});

export interface Footprint {
  readonly space: SpaceName;
  /** Address ranges [from, to). */
  readonly ranges: readonly (readonly [number, number])[];
}

const validRange = (from: number, to: number): boolean => isIndex(from) && isIndex(to) && from < to && to - from <= LIMITS.rangeMax;

export function footprint(state: AcceptorState, request: Request): Footprint | undefined {
  if (request.kind === "createSpace") return undefined;
  const space = state.spaces.get(request.space);
  if (!space) return undefined;
  const mark = space.trimMark;
  const ranges: [number, number][] = [];
  switch (request.kind) {
    case "prepare":
      if (validRange(request.from, request.to) && request.from >= mark) ranges.push([request.from, request.to]);
      break;
    case "read": {
      const from = Math.max(request.from, mark);
      if (validRange(request.from, request.to) && from < request.to) ranges.push([from, request.to]);
      break;
    }
    case "accept":
      if (request.entries.length <= LIMITS.entriesMax) for (const e of request.entries) if (isIndex(e.index) && e.index >= mark) ranges.push([e.index, e.index + 1]);
      break;
    case "commit":
      if (request.indexes.length <= LIMITS.entriesMax) for (const i of request.indexes) if (isIndex(i) && i >= mark) ranges.push([i, i + 1]);
      break;
    case "trim":
      if (isIndex(request.below) && request.below > mark) ranges.push([request.below, request.below + 1]);
      break;
    case "install":
      for (const a of request.addresses) if (isIndex(a.index) && a.index >= mark) ranges.push([a.index, a.index + 1]);
      break;
  }
  return ranges.length > 0 ? { space: request.space, ranges } : undefined;
}

const tooLarge = (message: string): Reply => ({ kind: "error", code: "tooLarge", message });

/** How much stored state a frame may read, and what it is told beyond that. */
export function readBudget(request: Request): { readonly bytesMax: number; readonly refusal: Reply } {
  if (request.kind === "prepare" || request.kind === "read") {
    const bytesMax = WIRE_LIMITS.envelopeBytesMax;
    return { bytesMax, refusal: tooLarge(`reply of more than ${bytesMax} bytes ${REPLY_TOO_LARGE}`) };
  }
  const bytesMax = READ_LIMITS.frameReadBytesMax;
  return { bytesMax, refusal: tooLarge(`the addresses this ${request.kind} touches hold more than ${bytesMax} bytes at this acceptor; send fewer at once`) };
}

/** The states a step may replace (an accept's entries, a single-address prepare), before it runs: the cache weighs the change. */
export function priorStates(state: AcceptorState, request: Request): Map<number, AddressState | undefined> | undefined {
  const space = request.kind === "createSpace" ? undefined : state.spaces.get(request.space);
  if (!space) return undefined;
  if (request.kind === "accept") return new Map(request.entries.map((e) => [e.index, space.addresses.get(e.index)]));
  if (request.kind === "prepare" && request.to - request.from === 1) return new Map([[request.from, space.addresses.get(request.from)]]);
  return undefined;
}
