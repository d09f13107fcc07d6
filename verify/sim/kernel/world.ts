/**
 * What a world is (docs/ARCHITECTURE.md §3.4, §5): one layer's workload, faults and checks, run by the kernel
 * (kernel.ts), which owns everything else: the event queue, virtual time, the network, the acceptors
 * over their simulated disks, the shared faults, the processes and the trace. A world is one file
 * (plus its workload) under verify/sim/worlds/ exporting a `WorldDef`, and one line in
 * verify/sim/layers.ts; the kernel never changes for it (verify/README.md, "how to add a world").
 */
import type { Mutation, Request } from "../../../paxos/messages.ts";
import type { Step } from "../../../wor/core/steps.ts";
import type { ClientFrame, ServerFrame } from "../../../wor/core/frames.ts";
import type { SimAcceptor } from "./acceptor.ts";
import type { Kernel } from "./kernel.ts";
import type { KernelOptions } from "./options.ts";
import type { SimProcess } from "./process.ts";

/** One run's world. Hooks are called inside kernel events; a violation is reported with `kernel.check`. */
export interface World {
  /** Spawn the processes and schedule the workload's first operations. */
  begin(): void;
  /** Operations started and not finished: the heal phase must bring this to 0. */
  readonly pending: number;
  /** Operations in the history (reported). */
  readonly operations: number;
  /** The heal phase converged (nothing pending, nothing scheduled): start the final operations
   *  (e.g. a recovering read of everything). */
  final(): void;
  /** The run ended without a violation: the end checks (the final operations finished, the
   *  history is linearizable against the layer's spec). Returns violations. */
  finish(): readonly string[];

  /** A step of `proc` (an app's own step, or a register step the world intercepts, e.g. to crash
   *  the process at a write): returns true if the world took it. The kernel answers the rest. */
  step?(proc: SimProcess, id: number, step: Step): boolean;
  /** A step's result, just before `proc` resumes with it. */
  answered?(proc: SimProcess, step: Step, result: unknown): void;
  /** A reply from `acceptor` to `proc` that is not its client core's (a reconfiguration's installer): returns true if the world took it. */
  replied?(proc: SimProcess, acceptor: number, frame: Extract<ServerFrame, { kind: "reply" }>): boolean;
  /** A value pushed to a watch of `proc`, as an acceptor learned it is chosen. */
  learned?(proc: SimProcess, space: string, index: number, value: Uint8Array): void;
  /** A frame from endpoint `from` reached `acceptor`, which handled it. */
  delivered?(acceptor: SimAcceptor, from: number, frame: ClientFrame): void;
  /** `acceptor`'s disk made `durable` durable (the ghost's votes). */
  synced?(acceptor: SimAcceptor, durable: readonly Mutation[]): void;
  /** `acceptor` crashed (its unsynced writes are lost). */
  crashed?(acceptor: SimAcceptor): void;
  /** `acceptor` restarted from what its disk synced. */
  restarted?(acceptor: SimAcceptor): void;
  /** `proc`'s link to `acceptor` came back (a restart, a mended partition). */
  linkUp?(proc: SimProcess, acceptor: number): void;
  /** The link a partition cuts (two endpoint names); default: a random process and acceptor. */
  link?(): readonly [string, string] | undefined;
  /** The world's own faults, at every fault tick (after the kernel's). */
  faults?(): void;
  /** Faults stopped: the heal phase begins (the kernel restarts acceptors and mends links). */
  healed?(): void;
}

/** A layer's simulation: its options, the acceptors' initial state, and how to build its world. */
export interface WorldDef<O extends KernelOptions> {
  /** `worm check sim --layer <layer>`. */
  readonly layer: string;
  /** One line for the CLI's help. */
  readonly title: string;
  readonly defaults: Omit<O, "seed">;
  /** Mixed into the seed of the buggify PRNG, so that layers fire their sites differently. */
  readonly buggifySalt: number;
  /** Requests every acceptor applies before the run (the spaces it holds), outside the protocol. */
  setup(options: O): readonly Request[];
  create(kernel: Kernel, options: O): World;
}
