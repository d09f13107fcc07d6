/**
 * What a replica is told and tells (docs/ARCHITECTURE.md §4.2): clients' requests and their replies,
 * the messages between replicas, and a replica's settings. Transport is the shell's: gRPC between
 * processes (apps/smr/node), the simulator's network in tests; messages may be lost, duplicated or
 * reordered, and nothing here depends on them arriving.
 */
import type { Step } from "../../../wor/core/steps.ts";
import type { Issued } from "../../../wor/core/tasks.ts";
import type { SequencerConfig } from "../../log/core/sequencer.ts";
import type { CheckpointRecord, Proposal } from "./records.ts";
import type { StateLimits } from "./state.ts";

/** `timeout`: the outcome is unknown (propose again with the same key: it is applied once);
 *  `unavailable`: nothing was done (no leader known, leadership changed first): retry, maybe elsewhere;
 *  `expired`: the key is below what its client acknowledged; `invalid`, `tooLarge`: bad input. */
export type SmrFailureCode = "timeout" | "unavailable" | "expired" | "invalid" | "tooLarge";

/** A command's first result or a query's answer, with the position it reflects (every slot below it
 *  applied); or a failure. */
export type SmrReply = { readonly ok: true; readonly value: Uint8Array; readonly position: number } | { readonly ok: false; readonly code: SmrFailureCode; readonly message: string };

export const smrFail = (code: SmrFailureCode, message: string): SmrReply => ({ ok: false, code, message });

export type PeerMessage =
  /** From the leader, every `heartbeatMs`: who leads (newer leaders claim later segments), its
   *  tail, and the slot of the latest checkpoint record it applied (-1: none). */
  | { readonly kind: "heartbeat"; readonly owner: string; readonly segment: number; readonly tail: number; readonly checkpoints: number }
  /** A proposal forwarded to the leader; answered by `reply` once applied. */
  | { readonly kind: "propose"; readonly id: string; readonly proposal: Proposal }
  /** A follower's checkpoint record, for the leader to append (no answer). */
  | { readonly kind: "publish"; readonly record: CheckpointRecord }
  /** A follower's linearizable read asks the leader for a read index; `reply` carries it as `position`. */
  | { readonly kind: "readIndex"; readonly id: string }
  | { readonly kind: "reply"; readonly id: string; readonly reply: SmrReply };

export interface ReplicaConfig extends StateLimits {
  /** The SMR's space (kind smr). */
  readonly smr: string;
  readonly segmentSize: number;
  /** This replica's address: peers and clients reach it there, and it names its checkpoints' holder. */
  readonly id: string;
  /** Every replica's address, this one's included: heartbeats go to the others; a majority of
   *  them holding checkpoints at or above a position lets the log be trimmed below it. */
  readonly peers: readonly string[];
  /** Unique per start of this replica: its leadership terms' owner ids. */
  readonly incarnation: string;
  /** Seeds the election timeouts' jitter. */
  readonly seed: number;
  /** A follower that hears nothing from a leader for this long (plus up to as much again, at
   *  random) takes over. */
  readonly electionTimeoutMs: number;
  readonly heartbeatMs: number;
  /** A client request not answered by then fails (`timeout` for proposals: outcome unknown). */
  readonly requestTimeoutMs: number;
  readonly batchCommandsMax: number;
  readonly batchBytesMax: number;
  /** Batch writes in flight at once (pipelining). */
  readonly writesInFlightMax: number;
  /** Slots kept below the checkpoint position a majority holds when trimming (for brief laggards). */
  readonly trailingSlots: number;
  readonly readChunkMax: number;
  /** A slot missing while later ones are known is read after this long. */
  readonly pollMs: number;
  /** With nothing known missing, the log is read anyway this often (lost pushes). */
  readonly idleReadMs: number;
  readonly retryMs: number;
  /** Slots held ahead of the next one to apply. */
  readonly knownMax: number;
  /** The embedded sequencer's settings (apps/log/core/sequencer.ts). */
  readonly sequencer: Partial<SequencerConfig>;
}

export const REPLICA_DEFAULTS = {
  electionTimeoutMs: 1_000,
  heartbeatMs: 100,
  requestTimeoutMs: 5_000,
  batchCommandsMax: 1_024,
  batchBytesMax: 256 << 10,
  writesInFlightMax: 8,
  checkpointCommands: 100_000,
  checkpointBytes: 64 << 20,
  trailingSlots: 1_024,
  readChunkMax: 1_024,
  pollMs: 20,
  idleReadMs: 250,
  retryMs: 20,
  knownMax: 65_536,
  sessionsMax: 65_536,
  resultsPerClientMax: 1_024,
  sequencer: {},
} as const;

export interface ReplicaOutputs {
  readonly steps: readonly Issued<Step>[];
  readonly replies: readonly { readonly req: number; readonly reply: SmrReply }[];
  readonly sends: readonly { readonly to: string; readonly msg: PeerMessage }[];
  /** Store this snapshot of `position` locally, then call `checkpointed`. */
  readonly checkpoint?: { readonly position: number; readonly chunks: Iterable<Uint8Array> };
  /** Fetch the snapshot of `position` from replica `from`, feeding install `id` (`installChunk`,
   *  then `installEnd`, or `installFailed`). */
  readonly fetch?: { readonly id: number; readonly from: string; readonly position: number; readonly digest: string };
  /** Watch the log from this slot on, pushing what is learned to `learned` (replaces any watch). */
  readonly watch?: number;
}

/** What a replica did, for the checks beside the core (./invariants.ts). */
export interface ReplicaObserver {
  /** The value of `slot` was applied (in slot order; an install jumps). */
  applied?(slot: number, value: Uint8Array): void;
  /** Command `key` was applied to the machine (a retry answered from the session table is not). */
  executed?(key: string, slot: number): void;
  /** A snapshot of `position` with `digest` was installed. */
  installed?(position: number, digest: string): void;
}

export interface ReplicaStatus {
  readonly role: "follower" | "candidate" | "leader";
  readonly leader?: string;
  readonly applied: number;
  readonly tail?: number;
  readonly term: number;
  /** The latest checkpoint this replica stored. */
  readonly checkpoint?: number;
  /** The latest checkpoint position of each holder, from the records applied. */
  readonly checkpoints: Readonly<Record<string, number>>;
  readonly catchingUp: boolean;
  readonly clients: number;
}
