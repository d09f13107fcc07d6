/**
 * Where the addresses of a space striped over acceptor groups live (docs/ARCHITECTURE.md §3.6),
 * pure: segment k of the space, and register k of its allocation space (segment k's allocation), are
 * on group `stripe[k mod n]`; its metadata is on the main group. A read of a range asks each group
 * holding some of it; a capture of a range is one capture per segment (`segmentRuns`).
 */
import { allocSpaceOf, metaSpaceOf, ownerOfSystemSpace } from "../../paxos/limits.ts";
import type { SpaceName } from "../../paxos/messages.ts";

/** A striped space: its groups in stripe order, and its segment size. */
export interface Stripe {
  readonly groups: readonly string[];
  readonly segmentSize: number;
}

/** Which part of a striped space `space` is: its data, its allocation registers, or its metadata. */
function partOf(space: SpaceName): "data" | "alloc" | "meta" {
  const owner = ownerOfSystemSpace(space);
  if (owner === undefined) return "data";
  return space === allocSpaceOf(owner) ? "alloc" : space === metaSpaceOf(owner) ? "meta" : "data";
}

/** The segment address `index` of `space` belongs to (its allocation register: that segment), or
 *  undefined for the metadata (on the main group). */
export function segmentOf(stripe: Stripe, space: SpaceName, index: number): number | undefined {
  const part = partOf(space);
  return part === "meta" ? undefined : part === "alloc" ? index : Math.floor(index / stripe.segmentSize);
}

/** The group address `index` of `space` lives on. */
export function groupAt(stripe: Stripe, space: SpaceName, index: number): string {
  const segment = segmentOf(stripe, space, index);
  return segment === undefined ? "main" : stripe.groups[segment % stripe.groups.length]!;
}

/** The groups holding some address of [from, to) of `space`, each with the range to ask it for (the
 *  addresses of that range it does not hold come back unwritten: `groupAt` says whose each is). */
export function spansOf(stripe: Stripe, space: SpaceName, from: number, to: number): Map<string, { readonly from: number; readonly to: number }> {
  const first = segmentOf(stripe, space, from);
  if (first === undefined || to <= from) return new Map([["main", { from, to }]]);
  const last = segmentOf(stripe, space, to - 1)!;
  const out = new Map<string, { from: number; to: number }>();
  for (let segment = first; segment <= last && segment < first + stripe.groups.length; segment++) out.set(stripe.groups[segment % stripe.groups.length]!, { from, to });
  return out;
}

/** [from, to) of `space` cut at segment boundaries (each allocation register alone). */
export function segmentRuns(stripe: Stripe, space: SpaceName, from: number, to: number): { readonly from: number; readonly to: number }[] {
  const runs: { from: number; to: number }[] = [];
  for (let at = from; at < to; ) {
    const segment = segmentOf(stripe, space, at);
    const end = segment === undefined ? to : partOf(space) === "alloc" ? at + 1 : Math.min(to, (segment + 1) * stripe.segmentSize);
    runs.push({ from: at, to: end });
    at = end;
  }
  return runs;
}
