/** The log simulator's knobs (worlds/log.ts): faults, sizes and phases of one run. */
import { ALL_FAULTS, type Faults, type KernelOptions, NO_FAULTS } from "../kernel/options.ts";

export interface LogFaults extends Faults {
  /** Chance per fault tick that the sequencer crashes (all its soft state lost). */
  readonly sequencerCrash: number;
  /** Chance per fault tick that a new sequencer takes over while the old one still runs a while. */
  readonly sequencerReplace: number;
  /** Chance that an appender crashes at a write of an append (before or after sending it). */
  readonly appenderCrash: number;
  /** Token asks and grants may be duplicated and reordered (not only lost). */
  readonly tokenDisorder: boolean;
}

export const LOG_ALL_FAULTS: LogFaults = { ...ALL_FAULTS, sequencerCrash: 0.01, sequencerReplace: 0.008, appenderCrash: 0.08, tokenDisorder: true };
export const LOG_NO_FAULTS: LogFaults = { ...NO_FAULTS, sequencerCrash: 0, sequencerReplace: 0, appenderCrash: 0, tokenDisorder: false };

export interface LogWorldOptions extends KernelOptions {
  readonly faults: LogFaults;
  readonly appenders: number;
  readonly readers: number;
  readonly appendsPerAppender: number;
  readonly readsPerReader: number;
  readonly segmentSize: number;
  /**
   * Appenders crash at writes (`faults.appenderCrash`) and a crashed or failed append is retried
   * with the same key by a fresh generator, through whichever sequencer runs then (exercising
   * Token.priors, the sealed-below marks and the key table a recovery rebuilds).
   */
  readonly keyRetries: boolean;
  /**
   * Each sequencer gives way to newer incarnations (`yieldsTo`, as a KV node does to the node of a
   * newer partition map): an old one that finds a newer one's segment last is deposed instead of
   * recovering over it. The newest must never be deposed.
   */
  readonly yieldToNewer: boolean;
  /** The sequencers' `aheadSegments` (0: claim the next segment when the last is used up; a fraction, when that much of it is left, as KV nodes do). */
  readonly aheadSegments: number;
}

export const LOG_WORLD_DEFAULTS: Omit<LogWorldOptions, "seed"> = {
  faults: LOG_ALL_FAULTS,
  acceptors: 3,
  appenders: 3,
  readers: 2,
  appendsPerAppender: 6,
  readsPerReader: 5,
  segmentSize: 8,
  keyRetries: true,
  yieldToNewer: false,
  aheadSegments: 1,
  faultMs: 1_500,
  healMs: 30_000,
  keepLog: false,
};

/** Stream tags appenders may put on entries. */
export const STREAM_TAGS = ["x", "y"] as const;
