/** Admin (unary) calls as domain types: status and inspection. Not for protocol traffic. */
import type { RangePromise, ReportedAddress, SpaceName } from "../../paxos/messages.ts";
import type { Configuration } from "../core/configuration.ts";

export interface SpaceSummary {
  readonly name: SpaceName;
  readonly trimMark: number;
  /** Addresses with state of their own (promised or accepted) at this acceptor. */
  readonly addresses: number;
  readonly ranges: number;
  /** Highest index with an accepted value, or -1. */
  readonly highestAccepted: number;
}

export interface AcceptorStatus {
  readonly acceptorId: number;
  readonly clusterId: string;
  readonly version: string;
  readonly spaces: readonly SpaceSummary[];
  /** The newest configuration it was told of (docs/ARCHITECTURE.md §3.5); none: the cluster file's, epoch 0. */
  readonly configuration?: Configuration;
  /** A replacement still being brought up to date. */
  readonly joining: boolean;
}

/** What a reconfiguration copies of a space, a page at a time: blocks holding durable state from a block on, the trim mark, every range promise. */
export interface BlocksReply {
  readonly blocks: readonly number[];
  /** Addresses per block in this acceptor's storage. */
  readonly blockSize: number;
  readonly trimMark: number;
  readonly ranges: readonly RangePromise[];
}

export interface BlocksRequest {
  readonly space: SpaceName;
  readonly fromBlock: number;
  readonly max: number;
}

export interface InspectRequest {
  readonly space: SpaceName;
  readonly from: number;
  readonly to: number;
}

export interface InspectReply {
  readonly trimMark: number;
  /** Every address in range with state of its own, with its effective promise. */
  readonly addresses: readonly ReportedAddress[];
  readonly ranges: readonly RangePromise[];
}

/** The Status call takes no arguments. */
export type StatusRequest = Readonly<Record<string, never>>;
