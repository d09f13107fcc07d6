/**
 * Where an appender gets its tokens: a sequencer embedded in this process (single-writer mode,
 * apps/log/node/sequencer-node.ts) or a remote sequencer over gRPC. Grant failures are values.
 */
import type { GrantRequest, LogResult } from "../core/steps.ts";
import type { Grant } from "../core/tokens.ts";

export interface TokenSource {
  grant(log: string, request: GrantRequest): Promise<LogResult<Grant>>;
  close(): void | Promise<void>;
}
