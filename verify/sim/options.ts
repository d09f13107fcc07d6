/** The simulator's knobs: faults, sizes and phases of one run, and what a run reports. */

export interface Faults {
  readonly loss: number;
  readonly duplication: number;
  /** Extra random delay (ms) on top of the base latency: reorders messages. */
  readonly jitterMs: number;
  /** Chance per fault tick that an up acceptor crashes. */
  readonly crash: number;
  /** Chance per fault tick that a partition starts. */
  readonly partition: number;
}

export const ALL_FAULTS: Faults = { loss: 0.05, duplication: 0.03, jitterMs: 8, crash: 0.04, partition: 0.04 };
export const NO_FAULTS: Faults = { loss: 0, duplication: 0, jitterMs: 0, crash: 0, partition: 0 };

export interface WorldOptions {
  readonly seed: number;
  readonly faults: Faults;
  readonly acceptors: number;
  readonly clients: number;
  /** Addresses per space ("s" for captures and writes, "own" for owner writes). */
  readonly addresses: number;
  readonly opsPerClient: number;
  /** Virtual ms after which faults stop and the heal phase begins. */
  readonly faultMs: number;
  /** Virtual ms the heal phase may take before pending operations count as stuck. */
  readonly healMs: number;
  /** Keep the full event log (for replay and trace hashing); otherwise only its hash. */
  readonly keepLog: boolean;
}

export const WORLD_DEFAULTS: Omit<WorldOptions, "seed"> = {
  faults: ALL_FAULTS,
  acceptors: 3,
  clients: 3,
  addresses: 3,
  opsPerClient: 20,
  faultMs: 2_500,
  healMs: 20_000,
  keepLog: false,
};

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly events: number;
  readonly virtualMs: number;
  /** FNV-1a hash over the full event log: equal seeds must give equal hashes. */
  readonly traceHash: number;
  readonly log: readonly string[];
  readonly operations: number;
  readonly completed: Record<string, number>;
}
