/** The register world's knobs (worlds/wor.ts) and its one step of its own: an owner write. */
import type { Entry } from "../../../paxos/messages.ts";
import type { OpResult, WriteResult } from "../../../wor/core/results.ts";
import { type RegisterResults, type RegisterStep, type StepGen, stepRunner } from "../../../wor/core/steps.ts";
import { ALL_FAULTS, type KernelOptions } from "../kernel/options.ts";

export interface WorOptions extends KernelOptions {
  readonly clients: number;
  /** Processes watching every space. */
  readonly watchers: number;
  /** Addresses per space ("s" for captures and writes, "own" for owner writes). */
  readonly addresses: number;
  /** Widest range a capture or a read covers. */
  readonly rangeMax: number;
  /** Highest trim mark of "s" (above it, ranges are never trimmed). */
  readonly trimMax: number;
  /** Segments whose allocation the clients race for. */
  readonly segments: number;
  /** Addresses per segment of "s": a trim below k · segmentSize trims the first k allocations too. */
  readonly segmentSize: number;
  readonly opsPerClient: number;
  /** Change the acceptors during the run (worlds/reconfiguration.ts; the layer "reconfig"): replace
   *  acceptor 2 by a spare, add the spare, remove acceptor 2, or one of them drawn per seed. */
  readonly reconfigure?: "replace" | "add" | "remove" | "any";
}

export const WOR_DEFAULTS: Omit<WorOptions, "seed"> = {
  faults: ALL_FAULTS,
  acceptors: 3,
  clients: 3,
  watchers: 1,
  addresses: 4,
  rangeMax: 3,
  trimMax: 2,
  segments: 3,
  segmentSize: 2,
  opsPerClient: 20,
  faultMs: 2_500,
  healMs: 20_000,
  keepLog: false,
};

/** `unsafeWrite` is a client operation but not a register step (only an address's single owner
 *  may use it): this world's own step, answered by the client core. */
export interface OwnerWriteStep {
  readonly kind: "ownerWrite";
  readonly space: string;
  readonly entries: readonly Entry[];
}

type WorStep = RegisterStep | OwnerWriteStep;
type WorResults = RegisterResults & { ownerWrite: OpResult<Map<number, WriteResult>> };
export type WorGen<T> = StepGen<WorStep, T>;

/** Yield one step of this world and get its result. */
export const run = stepRunner<WorStep, WorResults>();
