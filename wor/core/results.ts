/**
 * What WOR operations return (docs/ARCHITECTURE.md §3.1). Protocol outcomes are discriminated unions;
 * operational failures are `WorFailure`s; programmer errors are assertions.
 */
import type { Ballot } from "../../paxos/ballot.ts";
import type { SpaceName } from "../../paxos/messages.ts";
import type { Answer } from "../../paxos/proposer.ts";
import type { SpaceMeta } from "./space-meta.ts";

/** A held range capture: phase 1 done at `ballot` for [from, to). Preemptible, not a lease. */
export interface Capture {
  readonly space: SpaceName;
  readonly from: number;
  readonly to: number;
  readonly ballot: Ballot;
  /** The client's configuration generation it was taken in (none: the first); a write under it after
   *  the client followed a newer configuration is preempted (docs/ARCHITECTURE.md §3.5). */
  readonly generation?: number;
  /** A capture of a striped space across segments (wor/node/striped.ts, docs/ARCHITECTURE.md §3.6):
   *  one capture per segment, each by its group's client; a write under it goes to each its part. */
  readonly parts?: readonly Capture[];
}

export type CaptureResult =
  /** Phase 1 succeeded. `written` holds the addresses of the range that already had a value: the
   *  capture finished each under its own ballot (never overwrote), so they are chosen. */
  | { readonly _tag: "Captured"; readonly capture: Capture; readonly written: ReadonlyMap<number, Uint8Array> }
  | { readonly _tag: "Preempted"; readonly by: Ballot }
  | { readonly _tag: "Trimmed"; readonly mark: number };

export type WriteResult =
  | { readonly _tag: "Ok" }
  /** The address holds a chosen value: equal bytes mean an earlier attempt of ours landed. */
  | { readonly _tag: "AlreadyWritten"; readonly value: Uint8Array }
  /** A higher capture got in. The outcome is UNKNOWN: a later capturer may adopt our value.
   *  Settle it by reading back (`read(..., { recover: true })`). */
  | { readonly _tag: "Preempted"; readonly by: Ballot; readonly outcome: "unknown" }
  /** Some acceptor holds a trim mark above the address. If the trim was still in flight, the value
   *  may have been chosen at the others first: treat the outcome as unknown, like Preempted. */
  | { readonly _tag: "Trimmed" };

export type ReadResult =
  | { readonly _tag: "Written"; readonly value: Uint8Array }
  /** A quorum reported nothing: nothing is chosen now. (A minority may still hold a value that a
   *  later capture finishes: never cache Unwritten.) */
  | { readonly _tag: "Unwritten" }
  /** A mixed picture: neither a quorum agreeing on a value nor a quorum holding nothing answered.
   *  Ask for `recover` to settle it. */
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Trimmed" };

export type AllocResult =
  | { readonly _tag: "Allocated"; readonly meta: Uint8Array }
  /** Another allocator won; here is its metadata. */
  | { readonly _tag: "AlreadyAllocated"; readonly meta: Uint8Array }
  | { readonly _tag: "Trimmed" };

export type CheckResult =
  | { readonly _tag: "Allocated"; readonly meta: Uint8Array }
  | { readonly _tag: "Unallocated" }
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Trimmed" };

export type CreateSpaceResult =
  | { readonly _tag: "Created"; readonly meta: SpaceMeta }
  /** The space was created before; `meta` is what its first creator chose (maybe another kind). */
  | { readonly _tag: "Exists"; readonly meta: SpaceMeta };

export type SpaceMetaResult =
  | { readonly _tag: "Typed"; readonly meta: SpaceMeta }
  /** The space exists but its metadata was never chosen: its creation did not finish. */
  | { readonly _tag: "Untyped" };

export type FailureCode =
  /** No quorum answered before the deadline. For writes the outcome is unknown. */
  | "timeout"
  /** The acceptors that could still have made a quorum are unreachable (their links are down):
   *  decided at once, not at the deadline. For writes the outcome is unknown, as for a timeout. */
  | "unavailable"
  | "unknownSpace"
  | "invalid"
  | "tooLarge"
  | "notReady"
  | "unauthenticated"
  /** Retries ran out while other proposers kept preempting (alloc). */
  | "contended"
  /** The space is of another kind than the operation needs, or its creation did not finish. */
  | "wrongKind"
  | "internal";

export interface WorFailure {
  readonly code: FailureCode;
  readonly message: string;
  /** For a round that failed: who answered what, who was unreachable and why. */
  readonly account?: RoundAccount;
}

/** The account of a failed round (wor/core/account.ts renders it). Acceptors are 0-based indexes. */
export interface RoundAccount {
  /** The round in the user's nouns: "prepare of demo[0, 1280)". */
  readonly round: string;
  readonly acceptors: number;
  readonly quorum: number;
  /** Every acceptor that answered, and what it said. */
  readonly answered: readonly Answer[];
  /** Acceptors whose link was down, and why. */
  readonly unreachable: readonly { readonly acceptor: number; readonly reason: string }[];
  /** Acceptors that neither answered nor were known down. */
  readonly silent: readonly number[];
  /** Set when the round ran out of time: how long it waited. */
  readonly timedOutAfterMs?: number;
}

export type OpResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: WorFailure };
