/**
 * The player's only durable state (docs/ARCHITECTURE.md §4.4): its **epoch**, one write-once register
 * per epoch. Epoch e is the allocation register of segment e − 1 of the player group's space (kind
 * `logplayer`), so claiming one is the platform's segment ownership (wor/core/segments.ts): find the
 * last allocated segment, allocate the next in the player's name; the first allocator wins, a loser
 * tries the one after. A new player therefore always holds a higher epoch than every player before
 * it, and shards refuse the lower ones (zombie fencing, core/shard-core.ts).
 *
 * The metadata names the log, the shards in routing order and, optionally, where the player serves
 * its status. Routing depends on the shards and their order, so a player that names other shards
 * than the group's last epoch did is refused before it claims anything.
 */
import type { OpResult } from "../../../wor/core/results.ts";
import { type SegmentMeta, jsonSegmentMeta } from "../../../wor/core/segment-meta.ts";
import { lastSegment } from "../../../wor/core/segments.ts";
import { type RegGen, run } from "../../../wor/core/steps.ts";

export interface EpochFields {
  readonly log?: string;
  /** Shard addresses in routing order. */
  readonly shards?: readonly string[];
  /** Where the player answers status calls ("host:port"). */
  readonly status?: string;
}

const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === "string");

const EPOCH_META = jsonSegmentMeta<EpochFields>({
  ownerKey: "player",
  encode: (m) => ({ log: m.log, shards: m.shards, ...(m.status !== undefined ? { status: m.status } : {}) }),
  decode: (o) => ({
    ...(typeof o.log === "string" ? { log: o.log } : {}),
    ...(isStrings(o.shards) ? { shards: o.shards } : {}),
    ...(typeof o.status === "string" ? { status: o.status } : {}),
  }),
});

/** Allocations lost to other players in one claim before it gives up (contended). */
const CLAIM_RACES_MAX = 64;

/** Epoch e is held by the owner of segment e − 1. */
const epochOfSegment = (segment: number): number => segment + 1;

export interface EpochClaim {
  readonly epoch: number;
  /** What the epoch before said (none for the group's first player). */
  readonly previous?: SegmentMeta<EpochFields>;
}

/** Why a player naming `mine` may not take over from `theirs`, if it may not. */
function epochMismatch(theirs: SegmentMeta<EpochFields>, mine: EpochFields): string | undefined {
  if (theirs.log !== undefined && theirs.log !== mine.log) return `it plays log ${theirs.log}, not ${mine.log}`;
  const a = theirs.shards;
  const b = mine.shards ?? [];
  if (a !== undefined && (a.length !== b.length || a.some((x, i) => x !== b[i]))) return `it delivers to shards ${a.join(",")} (in this order), not ${b.join(",")}`;
  return undefined;
}

/** The group's current epoch (0: none claimed yet) and what its claim says: its player, log and shards (`worm inspect`). */
export function* currentEpoch(space: string): RegGen<OpResult<{ readonly epoch: number; readonly meta: SegmentMeta<EpochFields> }>> {
  const last = yield* lastSegment(space, EPOCH_META);
  if (!last.ok) return last;
  return { ok: true, value: { epoch: epochOfSegment(last.value.segment), meta: last.value.meta } };
}

/** Claim the next epoch of player group `space` for `player`. */
export function* claimEpoch(space: string, player: string, fields: EpochFields): RegGen<OpResult<EpochClaim>> {
  const last = yield* lastSegment(space, EPOCH_META);
  if (!last.ok) return last;
  const previous = last.value.segment >= 0 ? last.value.meta : undefined;
  const why = previous && epochMismatch(previous, fields);
  if (why) return { ok: false, failure: { code: "invalid", message: `player group ${space} refuses this player: ${why}` } };
  for (let s = last.value.segment + 1, races = 0; ; s++) {
    const a = yield* run({ kind: "alloc", space, segment: s, meta: EPOCH_META.encode({ ...fields, owner: player }) });
    if (!a.ok) return a;
    // Our own earlier attempt may have landed; otherwise another player took this epoch first.
    const ours = a.value._tag === "Allocated" || (a.value._tag === "AlreadyAllocated" && EPOCH_META.decode(a.value.meta).owner === player);
    if (ours) return { ok: true, value: { epoch: epochOfSegment(s), ...(previous ? { previous } : {}) } };
    if (++races > CLAIM_RACES_MAX) return { ok: false, failure: { code: "contended", message: `claiming an epoch of ${space}: ${races} taken by other players first` } };
  }
}
