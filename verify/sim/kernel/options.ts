/** The kernel's knobs (every world's options extend them) and what one run reports. */

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

export interface KernelOptions {
  /** The one number a run is a function of. */
  readonly seed: number;
  readonly faults: Faults;
  readonly acceptors: number;
  /** Acceptors beyond `acceptors`, empty and joining, for a world that replaces one (docs/ARCHITECTURE.md §3.5). */
  readonly spares?: number;
  /** Virtual ms after which faults stop and the heal phase begins. */
  readonly faultMs: number;
  /** Virtual ms the heal phase (and the final operations) may take before what is pending counts as stuck. */
  readonly healMs: number;
  /** Keep the full event log (for replay); its hash is always computed. */
  readonly keepLog: boolean;
}

/** Milliseconds between fault ticks. */
export const FAULT_TICK_MS = 10;

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
  /** Operation outcomes ("write:Ok", "append:failed:timeout", ...), counted. */
  readonly completed: Record<string, number>;
}
