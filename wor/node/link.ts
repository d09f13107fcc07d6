/**
 * The client's port to one acceptor: a long-lived session that carries batched frames both ways
 * (docs/ARCHITECTURE.md §3.3, §7.8). Implementations: gRPC (grpc-link.ts) and in-memory (memory-transport.ts).
 */
import type { Configuration } from "../core/configuration.ts";
import type { ClientFrame, ServerFrame } from "../core/frames.ts";

export interface LinkEvents {
  onFrames(frames: readonly ServerFrame[]): void;
  /** The session is (re)established: anything unanswered should be sent again. */
  onUp(): void;
  onDown(reason: string): void;
}

export interface AcceptorLink {
  /** Queue frames; they go out batched, honouring the stream's backpressure. Never throws. */
  send(frames: readonly ClientFrame[]): void;
  close(): void;
}

export interface Transport {
  connect(acceptor: number, events: LinkEvents): AcceptorLink;
  /** Be told when the transport follows a new configuration (docs/ARCHITECTURE.md §3.5), before its
   *  links come back under it: replies and pushes heard before must not join a quorum after. The
   *  listener opens links for slots the configuration added and closes those it dropped. */
  onReconfigured?(listener: (c: Configuration) => void): void;
}

/** Reconnect delays: short, growing, capped (docs/ARCHITECTURE.md §3.3). */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(1_000, 25 * 2 ** Math.min(attempt, 6));
}
