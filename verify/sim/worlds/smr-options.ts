/** The SMR simulator's knobs (worlds/smr.ts): faults, sizes and phases of one run. */
import { ALL_FAULTS, type Faults, type KernelOptions, NO_FAULTS } from "../kernel/options.ts";

export interface SmrFaults extends Faults {
  /** Chance per fault tick that a replica crashes (the leader half the time); it restarts from
   *  its local checkpoints a while later. */
  readonly replicaCrash: number;
  /** Chance that a crashed replica also lost its data (it rejoins from a peer's checkpoint). */
  readonly replicaWipe: number;
  /** Chance per fault tick that the leader is cut off from the other replicas and every acceptor,
   *  but not from the clients, for longer than an election: a deposed leader that still hears
   *  reads (what read-index is for). */
  readonly leaderIsolation: number;
}

const SMR_ALL_FAULTS: SmrFaults = { ...ALL_FAULTS, replicaCrash: 0.006, replicaWipe: 0.3, leaderIsolation: 0.01 };
export const SMR_NO_FAULTS: SmrFaults = { ...NO_FAULTS, replicaCrash: 0, replicaWipe: 0, leaderIsolation: 0 };

export interface SmrWorldOptions extends KernelOptions {
  readonly faults: SmrFaults;
  readonly replicas: number;
  readonly clients: number;
  readonly opsPerClient: number;
  /** Keys the clients use (few: operations on one key contend). */
  readonly keys: number;
  readonly segmentSize: number;
  /** Commands between checkpoints (small: checkpoints, trims and catch-ups happen in every run). */
  readonly checkpointCommands: number;
}

export const SMR_WORLD_DEFAULTS: Omit<SmrWorldOptions, "seed"> = {
  faults: SMR_ALL_FAULTS,
  acceptors: 3,
  replicas: 3,
  clients: 4,
  opsPerClient: 6,
  keys: 3,
  segmentSize: 8,
  checkpointCommands: 4,
  faultMs: 1_500,
  healMs: 30_000,
  keepLog: false,
};
