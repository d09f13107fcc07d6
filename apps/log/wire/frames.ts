/**
 * The sequencer session's frames as domain types (docs/ARCHITECTURE.md §4.1): grant requests from appenders,
 * grant replies from the sequencer, batched in envelopes on one bidirectional stream. The codec
 * (apps/log/wire/codec.ts) turns bytes into these after validation.
 */
import type { GrantRequest, LogResult } from "../core/steps.ts";
import type { Grant } from "../core/tokens.ts";
import { SEQUENCER_DEFAULTS } from "../core/sequencer.ts";
import type { CodecError } from "../../../proto/codec-kernel.ts";

/** Client → sequencer: tokens for `request.asks` in log `log`. `id` is unique per session. */
export interface GrantRequestFrame {
  readonly id: number;
  readonly kind: "grant";
  readonly log: string;
  readonly request: GrantRequest;
}

/** A request frame that failed validation keeps its id (when readable) so the server answers it alone. */
export type DecodedGrantRequestFrame = GrantRequestFrame | { readonly id: number; readonly kind: "invalid"; readonly error: CodecError };

/** Sequencer → client: the answer to request `id` (id 0: an envelope the server could not read). */
export interface GrantReplyFrame {
  readonly id: number;
  readonly result: LogResult<Grant>;
}

export interface SequencerStatus {
  readonly logs: readonly SequencerLogStatus[];
}

export const SEQUENCER_WIRE_LIMITS = Object.freeze({
  /** Tokens one request may ask for (and one grant may carry). */
  asksMax: SEQUENCER_DEFAULTS.asksMax,
  /** Stream tails one request may query. */
  streamQueriesMax: 256,
  /** Characters of a failure's message. */
  messageCharsMax: 4_096,
  /** Logs one status may list. */
  statusLogsMax: 65_536,
  /** Characters of a sequencer owner id a redirect names (as `worm log sequencer --owner`). */
  ownerCharsMax: 128,
});

/** One log's sequencer, as Status reports it. */
export interface SequencerLogStatus {
  readonly log: string;
  readonly phase: string;
  readonly next: number;
  readonly captured: number;
  readonly recoveries: number;
  readonly queued: number;
  readonly streams: number;
  /** Standing by: where the active sequencer serves. */
  readonly active?: string;
}
