/** What the WOR client core (client-core.ts) gives its shell: frames to send and completed
 *  operations; and what the shell tells it of a link that failed. */
import type { ClientFrame } from "./frames.ts";
import type { OpResult } from "./results.ts";

/** The connection attempt a link failure ended: when it began, whether it had been established,
 *  and whether the link had reached its acceptor on an earlier attempt. */
export interface LinkAttempt {
  readonly startedAt: number;
  readonly established: boolean;
  readonly reachedBefore: boolean;
}

export interface Send {
  readonly to: number;
  readonly frame: ClientFrame;
}
export interface Completion {
  readonly op: number;
  readonly result: OpResult<unknown>;
}
export interface Outputs {
  readonly sends: Send[];
  readonly completions: Completion[];
}
