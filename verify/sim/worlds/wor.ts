/**
 * The register world (docs/ARCHITECTURE.md §3.1, §5): 3 acceptors and clients running register operations
 * (worlds/wor-workload.ts) through the real WOR client core, plus a watcher, under the kernel's
 * faults. Captures that start with a minority down and mixed promises at the rest are watched
 * (worlds/minority.ts): some must succeed.
 *
 * Checks. After every event: the acceptor step invariants (in the node), every committed flag
 * marks the chosen value, at most one value is ever chosen per address (from the acceptors'
 * durable votes: the ghost), every acknowledged write is chosen and durable at a quorum (again
 * after every sync and crash), every acknowledged trim is durable at a quorum, and every value an
 * operation or a watch reported is the chosen one (verify/spec/register-invariants.ts). After the
 * heal: a recovering read of every address and a check of every segment succeed. At the end: the
 * history is linearizable (verify/spec/address-space.ts).
 */
import type { AcceptorState } from "../../../paxos/acceptor.ts";
import type { Mutation } from "../../../paxos/messages.ts";
import { spaceSetup } from "../../../wor/core/space-meta.ts";
import type { Step } from "../../../wor/core/steps.ts";
import type { ClientFrame, ServerFrame } from "../../../wor/core/frames.ts";
import { CONFIGURATION_SPACE, type Configuration, copySourcesNeeded } from "../../../wor/core/configuration.ts";
import { probe } from "../../runtime/probe.ts";
import { checkAddressSpace, partitionByAddress } from "../../spec/address-space.ts";
import {
  type ChosenGhost,
  EMPTY_VOTES,
  type VoteLog,
  checkAcked,
  checkCommitted,
  checkReadValue,
  checkTrimAcked,
  observeChosen,
  recordVotes,
  recordVotesFromMutations,
} from "../../spec/register-invariants.ts";
import type { SimAcceptor } from "../kernel/acceptor.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { World, WorldDef } from "../kernel/world.ts";
import { MinorityWatch } from "./minority.ts";
import { type ChangeKind, Reconfiguration } from "./reconfiguration.ts";
import { type OwnerWriteStep, WOR_DEFAULTS, type WorOptions } from "./wor-options.ts";
import { type WorChecks, WorWorkload } from "./wor-workload.ts";

export const worWorld: WorldDef<WorOptions> = {
  layer: "wor",
  title: "the register layer (paxos + WOR): captures of ranges, writes, reads, owner writes, alloc/check, trims, watch",
  defaults: WOR_DEFAULTS,
  buggifySalt: 0x5bd1e995,
  setup: (o) => [
    ...["s", "own"].flatMap((s) => spaceSetup(s, { kind: "registers", segmentSize: o.segmentSize })),
    ...(o.reconfigure ? spaceSetup(CONFIGURATION_SPACE, { kind: "configurations", segmentSize: o.segmentSize }) : []),
  ],
  create: (kernel, o) => new WorWorld(kernel, o),
};

/** The register world while its acceptors change (worlds/reconfiguration.ts): acceptor 2 replaced
 *  by a spare, the spare added, or acceptor 2 removed, drawn per seed. */
export const reconfigWorld: WorldDef<WorOptions> = {
  ...worWorld,
  layer: "reconfig",
  title: "the register world while acceptor 2 is replaced, a fourth is added, or acceptor 2 is removed: the fence, the copy, a zombie, clients following",
  defaults: { ...WOR_DEFAULTS, spares: 1, reconfigure: "any" },
  buggifySalt: 0x2c1b3c6d,
};

class WorWorld implements World, WorChecks {
  private readonly workload: WorWorkload;
  private readonly minority = new MinorityWatch();
  private readonly votes: VoteLog[];
  private ghost: ChosenGhost = new Map();
  private readonly ackedWrites = new Map<string, { readonly space: string; readonly index: number; readonly value: Uint8Array }>();
  /** The highest trim mark acknowledged per space. */
  private readonly trimmed = new Map<string, number>();
  /** A reconfiguration (layer reconfig): epoch 0's votes of each acceptor as they were when it took
   *  epoch 1, and whether epoch 1 serves (then acknowledged writes must be durable at epoch 1's). */
  private readonly reconfiguration: Reconfiguration | undefined;
  private readonly epoch0 = new Map<number, VoteLog>();
  private fenced = false;
  private active = false;

  constructor(
    private readonly k: Kernel,
    o: WorOptions,
  ) {
    this.workload = new WorWorkload(k, o, this, this.minority);
    if (o.reconfigure) {
      const at = Math.floor(o.faultMs * (0.1 + 0.4 * k.prng.float()));
      const kinds: readonly ChangeKind[] = ["replace", "add", "remove"];
      const change = o.reconfigure === "any" ? kinds[k.prng.int(kinds.length)]! : o.reconfigure;
      this.reconfiguration = new Reconfiguration(k, { change, victim: 2, spare: o.acceptors, at, segmentSize: o.segmentSize }, {
        fenced: (a) => {
          this.fenced = true;
          // Its durable state now, not the votes the world saw synced: the sync that made the node
          // quiet adopts the configuration before the world hears of that sync.
          this.epoch0.set(a, recordVotes(this.votes[a]!, k.acceptors[a]!.durableState));
        },
        activated: () => {
          this.active = true;
          this.checkDurable(false);
          // Half the clients restart with the new cluster file; the others follow when refused.
          for (const p of k.procs.all()) if (/^c\d*[02468]$/.test(p.name)) k.follow(p, this.reconfiguration!.next);
        },
      });
    }
    // The setup's votes (each space's metadata) count like any other durable vote.
    this.votes = k.acceptors.map((a) => recordVotes(EMPTY_VOTES, a.durableState));
    this.checkDurable(true);
  }

  get pending(): number {
    return this.workload.pending;
  }
  get operations(): number {
    return this.workload.history.operations().length;
  }
  begin(): void {
    this.workload.begin();
    this.reconfiguration?.begin();
  }
  final(): void {
    this.workload.final();
  }

  finish(): readonly string[] {
    if (this.workload.pending > 0) return [`${this.workload.pending} operations never finished`];
    if (this.reconfiguration && !this.reconfiguration.done) return ["the reconfiguration never finished"];
    const ops = this.workload.history.operations();
    const v = checkAddressSpace(ops, { stepsMax: 5_000_000 });
    if (v.ok) return [];
    const part = partitionByAddress(ops).find((p) => p.key === v.partition);
    const lines = (part?.ops ?? []).map((x) => `  op${x.id} c${x.client} [${x.call}, ${x.ret}] ${JSON.stringify(x.input)} → ${JSON.stringify(x.output) ?? "unknown"}`);
    return [`history is not linearizable at ${v.partition}: ${JSON.stringify(v.verdict)}\n${lines.join("\n")}`];
  }

  // ---- Hooks. ----
  replied(proc: SimProcess, _acceptor: number, frame: Extract<ServerFrame, { kind: "reply" }>): boolean {
    return this.reconfiguration?.replied(proc, frame) ?? false;
  }

  /** The owner write, this world's own step, is answered by the client core's `unsafeWrite`. */
  step(proc: SimProcess, id: number, step: Step): boolean {
    if (step.kind !== "ownerWrite") return false;
    const s = step as OwnerWriteStep;
    this.k.procs.coreOp(proc, { id, step }, proc.wor.unsafeWrite(s.space, s.entries, this.k.now));
    return true;
  }

  delivered(a: SimAcceptor, from: number, f: ClientFrame): void {
    if (f.kind === "request" && f.request.space === "s") {
      const q = f.request;
      if (q.kind === "prepare") this.minority.ballotArrived(from, q.from, q.to);
      if (q.kind === "accept") for (const e of q.entries) this.minority.ballotArrived(from, e.index, e.index + 1);
    }
    for (const v of checkCommitted(this.ghost, [a.volatileState])) this.k.check([`acceptor ${a.id}: ${v}`]);
  }

  synced(a: SimAcceptor, durable: readonly Mutation[]): void {
    const before = this.votes[a.id]!;
    this.votes[a.id] = recordVotesFromMutations(before, durable);
    this.checkDurable(this.votes[a.id] !== before);
  }

  crashed(): void {
    if (this.workload.trimsInFlight > 0) probe("wor.trim.acceptorCrashed");
    this.checkDurable(false);
  }

  restarted(a: SimAcceptor): void {
    // Trims under crashes: an acceptor back with a trim mark below one a quorum acknowledged.
    const mark = a.durableState.spaces.get("s")?.trimMark ?? 0;
    if (mark < (this.trimmed.get("s") ?? 0)) probe("wor.trim.restartedBehind");
  }

  linkUp(proc: SimProcess, acceptor: number): void {
    this.minority.reconnected(proc.endpoint, acceptor);
  }

  learned(proc: SimProcess, space: string, index: number, value: Uint8Array): void {
    this.workload.learned(proc, space, index, value);
  }

  // ---- WorChecks: what operations claimed, against the ghost. ----
  reported(space: string, index: number, value: Uint8Array, by = "read"): void {
    for (const v of checkReadValue(this.ghost, space, index, value)) this.k.check([v.replace(/^read/, by)]);
  }

  acked(space: string, index: number, value: Uint8Array): void {
    this.ackedWrites.set(`${space}[${index}]`, { space, index, value });
    this.k.check(checkAcked(this.ghost, this.durables(), this.holders(), space, index, value));
  }

  trimAcked(space: string, below: number): void {
    this.trimmed.set(space, Math.max(below, this.trimmed.get(space) ?? 0));
    this.k.check(checkTrimAcked(this.durables(), this.holders(), space, below));
  }

  /** The configuration that serves: epoch 1 once its spare is active (or, removing, once fenced). */
  private get serving(): Configuration | undefined {
    return this.active ? this.reconfiguration!.next : this.reconfiguration?.before;
  }

  /** The durable states of the configuration that serves. */
  private durables(): AcceptorState[] {
    const members = this.serving?.acceptors.map((m) => m.id) ?? Array.from({ length: this.k.options.acceptors }, (_, i) => i);
    return members.map((id) => this.k.acceptors[id]!.durableState);
  }

  /** How many of them must hold what was acknowledged: a quorum of epoch 0; of epoch 1 (a removal
   *  copies nothing), enough that every quorum meets one. */
  private holders(): number {
    return this.active ? copySourcesNeeded(this.reconfiguration!.next) : this.k.quorum;
  }

  /** After durable state changed (a sync or a crash): what is chosen (when `voted`: new durable
   *  votes), and acked writes still durable. */
  private checkDurable(voted: boolean): void {
    if (voted) {
      // Chosen: accepted at one ballot by a quorum of a configuration, counting each acceptor's votes
      // of that configuration's time (epoch 0's as they were when it took epoch 1).
      const n = this.k.options.acceptors;
      const eras: VoteLog[][] = [Array.from({ length: n }, (_, a) => this.epoch0.get(a) ?? this.votes[a]!)];
      const quorums = [this.k.quorum];
      if (this.fenced) {
        eras.push(this.reconfiguration!.next.acceptors.map((m) => this.votes[m.id]!));
        quorums.push(this.reconfiguration!.next.quorum);
      }
      for (const [e, logs] of eras.entries()) {
        const seen = observeChosen(this.ghost, logs, quorums[e]!);
        this.ghost = seen.ghost;
        this.k.check(seen.violations);
      }
    }
    const durable = this.durables();
    for (const a of this.ackedWrites.values()) this.k.check(checkAcked(this.ghost, durable, this.holders(), a.space, a.index, a.value));
  }
}
