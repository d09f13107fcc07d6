/** Admin (unary) calls as domain types: status and inspection. Not for protocol traffic. */
import type { RangePromise, ReportedAddress, SpaceName } from "../../paxos/messages.ts";

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
