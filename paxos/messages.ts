/**
 * The acceptor protocol as domain types (docs/ARCHITECTURE.md §3.2). These are what the codecs produce after
 * validation and what the pure cores consume; the wire forms live in proto/.
 */
import type { Ballot } from "./ballot.ts";

export type SpaceName = string;

/** A value some ballot carried to an acceptor. */
export interface Accepted {
  readonly ballot: Ballot;
  readonly value: Uint8Array;
}

/** What one acceptor knows of one address. */
export interface AddressState {
  readonly promised: Ballot;
  readonly accepted?: Accepted;
  /** The acceptor learned that `accepted` is chosen. */
  readonly committed: boolean;
}

/** One range capture's promise: every address in [from, to) is promised `ballot`. */
export interface RangePromise {
  readonly from: number;
  readonly to: number;
  readonly ballot: Ballot;
}

export interface Entry {
  readonly index: number;
  readonly value: Uint8Array;
}

export type Request =
  | { readonly kind: "prepare"; readonly space: SpaceName; readonly from: number; readonly to: number; readonly ballot: Ballot }
  | { readonly kind: "accept"; readonly space: SpaceName; readonly ballot: Ballot; readonly entries: readonly Entry[] }
  | { readonly kind: "commit"; readonly space: SpaceName; readonly ballot: Ballot; readonly indexes: readonly number[] }
  | { readonly kind: "read"; readonly space: SpaceName; readonly from: number; readonly to: number }
  | { readonly kind: "trim"; readonly space: SpaceName; readonly below: number }
  | { readonly kind: "createSpace"; readonly space: SpaceName }
  /** A replacement's installer: merge these states and range promises in (docs/ARCHITECTURE.md §3.5). */
  | { readonly kind: "install"; readonly space: SpaceName; readonly addresses: readonly ReportedAddress[]; readonly ranges: readonly RangePromise[] };

/** One address an acceptor reports: in a promise, a read, or a refused accept. */
export interface ReportedAddress {
  readonly index: number;
  readonly promised: Ballot;
  readonly accepted?: Accepted;
  readonly committed: boolean;
}

export interface Refusal {
  readonly index: number;
  /** The effective promise that blocked the accept (or the trim mark's owner ballot when trimmed). */
  readonly promised: Ballot;
  readonly trimmed: boolean;
  /** Set when the acceptor knows the address is chosen: the value that won. */
  readonly chosen?: Uint8Array;
}

export type ErrorCode = "unknownSpace" | "invalid" | "tooLarge" | "notReady" | "unauthenticated" | "internal";

export type Reply =
  | { readonly kind: "promise"; readonly ballot: Ballot; readonly accepted: readonly ReportedAddress[] }
  | { readonly kind: "prepareRejected"; readonly promised: Ballot }
  | { readonly kind: "voted"; readonly ballot: Ballot; readonly refused: readonly Refusal[] }
  | { readonly kind: "committed" }
  | {
      readonly kind: "states";
      readonly trimMark: number;
      readonly addresses: readonly ReportedAddress[];
      readonly ranges: readonly RangePromise[];
    }
  | { readonly kind: "trimmed"; readonly mark: number }
  | { readonly kind: "spaceCreated" }
  | { readonly kind: "installed" }
  | { readonly kind: "error"; readonly code: ErrorCode; readonly message: string };

/** Durable writes a step asks for; the node applies them in one synced batch before releasing replies. */
export type Mutation =
  | { readonly kind: "space"; readonly space: SpaceName }
  | { readonly kind: "address"; readonly space: SpaceName; readonly index: number; readonly state: AddressState }
  | { readonly kind: "ranges"; readonly space: SpaceName; readonly ranges: readonly RangePromise[] }
  | { readonly kind: "trim"; readonly space: SpaceName; readonly mark: number };

/** A value an acceptor accepted at a ballot (Paxos's phase 2b message, to the learners); watchers are
 *  told after it is durable, and one that hears it from a quorum at one ballot knows it chosen. */
export interface AcceptedNotice {
  readonly space: SpaceName;
  readonly index: number;
  readonly ballot: Ballot;
  readonly value: Uint8Array;
}

/** A value learned as chosen (an acceptor saw its commit of the value it accepted at `ballot`);
 *  watchers are told after it is durable. */
export interface Learned {
  readonly space: SpaceName;
  readonly index: number;
  readonly ballot: Ballot;
  readonly value: Uint8Array;
}
