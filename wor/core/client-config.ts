/** The WOR client core's settings (wor/core/client-core.ts) and their defaults. */

export interface ClientCoreConfig {
  readonly acceptors: number;
  readonly quorum: number;
  /** Unique per client instance, > 0: the second half of every ballot this client makes. */
  readonly proposerId: number;
  readonly segmentSize: number;
  /** A round that has no verdict by then fails (timeout). */
  readonly roundTimeoutMs: number;
  /** Unanswered requests are sent again after this long (requests are idempotent). */
  readonly resendMs: number;
  readonly cacheEntriesMax: number;
  /** Attempts in all of a preempted capture (and of alloc), each above every ballot seen. */
  readonly preemptRetriesMax: number;
  /** Owner writes remembered, to refuse a second value at an address (single ownership). */
  readonly ownerWritesMax: number;
  /** Commit notices wait up to this long to ride with the next frames to the acceptors. */
  readonly commitLingerMs: number;
}

export const CLIENT_DEFAULTS = {
  roundTimeoutMs: 5_000,
  resendMs: 1_000,
  cacheEntriesMax: 100_000,
  preemptRetriesMax: 16,
  ownerWritesMax: 100_000,
  commitLingerMs: 5,
} as const;
