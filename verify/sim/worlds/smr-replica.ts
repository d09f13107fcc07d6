/**
 * SMR replicas inside simulated processes (worlds/smr.ts): the real `ReplicaCore` plugged into a
 * process as its `StepSource`, and each replica's local checkpoint store, a simulated disk that
 * outlives the process (unless a crash wipes it). What the core asks of its driver (replies,
 * messages, a checkpoint to store, a snapshot to fetch, a watch) goes to the world.
 */
import { ReplicaCore } from "../../../apps/smr/core/replica.ts";
import { mapMachine } from "../../../apps/smr/core/map-machine.ts";
import { REPLICA_DEFAULTS, type ReplicaObserver, type ReplicaOutputs } from "../../../apps/smr/core/messages.ts";
import type { Step } from "../../../wor/core/steps.ts";
import type { Issued } from "../../../wor/core/tasks.ts";
import { buggify } from "../../runtime/buggify.ts";
import type { StepSource } from "../kernel/process.ts";
import type { SmrWorldOptions } from "./smr-options.ts";

export const SMR_NAME = "smr";

/** A checkpoint on a replica's simulated disk. */
export interface StoredCheckpoint {
  readonly position: number;
  readonly digest: string;
  readonly chunks: readonly Uint8Array[];
}

/** Checkpoints a replica keeps (a peer may be fetching the older one). */
export const KEPT_CHECKPOINTS = 2;

export class ReplicaService implements StepSource {
  readonly core: ReplicaCore;

  constructor(
    readonly name: string,
    readonly incarnation: string,
    o: SmrWorldOptions,
    /** The virtual time now. */
    private readonly clock: () => number,
    observer: ReplicaObserver,
    private readonly outputs: (out: ReplicaOutputs) => void,
  ) {
    const peers = Array.from({ length: o.replicas }, (_, i) => `r${i}`);
    this.core = new ReplicaCore(
      {
        ...REPLICA_DEFAULTS,
        smr: SMR_NAME,
        segmentSize: o.segmentSize,
        id: name,
        peers,
        incarnation,
        seed: (o.seed * 31 + incarnation.length * 7 + Number(incarnation.split(".")[1] ?? 0)) >>> 0,
        // An impatient replica (buggified, for its whole incarnation) takes over from live leaders
        // whenever it follows: wrongful takeovers, which must cost time, never safety.
        electionTimeoutMs: buggify("sim.smr.impatientReplica") ? 40 : 200,
        heartbeatMs: 50,
        requestTimeoutMs: 600,
        checkpointCommands: o.checkpointCommands,
        trailingSlots: 0,
        readChunkMax: 16,
        idleReadMs: 100,
        sequencer: { sealAfterMs: 150, sealChunkMax: 2 * o.segmentSize, retryMs: 20, askTimeoutMs: 1_000 },
      },
      mapMachine,
      clock(),
      observer,
    );
  }

  takeSteps(): Issued<Step>[] {
    const out = this.core.takeOutputs();
    this.outputs(out);
    return [...out.steps];
  }
  onResult(id: number, result: unknown): void {
    this.core.onResult(id, result, this.clock());
  }
  tick(now: number): void {
    this.core.tick(now);
  }
  nextWakeup(): number | undefined {
    return this.core.nextWakeup();
  }
}
