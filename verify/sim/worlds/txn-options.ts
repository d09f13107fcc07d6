/** The transaction world's knobs (worlds/txn.ts): faults, sizes and timings of one run. */
import { ALL_FAULTS, type Faults, type KernelOptions } from "../kernel/options.ts";

export interface TxnFaults extends Faults {
  /** Chance per fault tick that a live participant crashes (its memory lost; its store kept). */
  readonly participantCrash: number;
  /** Chance per step of a participant (a vote, a capture, a read) that it crashes there, before or after sending. */
  readonly participantStepCrash: number;
  /** Chance per step of a coordinator that it crashes there, before or after sending. */
  readonly coordinatorStepCrash: number;
}

export const TXN_ALL_FAULTS: TxnFaults = { ...ALL_FAULTS, participantCrash: 0.01, participantStepCrash: 0.01, coordinatorStepCrash: 0.02 };

export interface TxnWorldOptions extends KernelOptions {
  readonly faults: TxnFaults;
  readonly participants: number;
  readonly accountsPerParticipant: number;
  /** Opening balance of every account. */
  readonly balance: number;
  readonly coordinators: number;
  readonly txnsPerCoordinator: number;
  /** Processes resolving transactions past their deadline. */
  readonly recoverers: number;
  /** Addresses per segment of the transaction space (at least `participants`). */
  readonly segmentSize: number;
  /** A transaction's deadline, after its start. */
  readonly txnTimeoutMs: number;
  /** A prepare unanswered this long leaves the vote unknown to the coordinator. */
  readonly prepareTimeoutMs: number;
  /** A participant's grace past a deadline, and its catch-up read after entering doubt. */
  readonly graceMs: number;
  readonly catchUpMs: number;
}

export const TXN_WORLD_DEFAULTS: Omit<TxnWorldOptions, "seed"> = {
  faults: TXN_ALL_FAULTS,
  acceptors: 3,
  participants: 3,
  accountsPerParticipant: 3,
  balance: 100,
  coordinators: 2,
  txnsPerCoordinator: 8,
  recoverers: 2,
  segmentSize: 4,
  txnTimeoutMs: 150,
  prepareTimeoutMs: 80,
  graceMs: 30,
  catchUpMs: 40,
  faultMs: 1_600,
  healMs: 20_000,
  keepLog: false,
};

/** The transaction space of the world. */
export const TXN_SPACE = "bank";
