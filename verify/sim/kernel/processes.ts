/**
 * The kernel's process table (kernel.ts): spawning and killing processes (process.ts), running their
 * app generators, answering their steps (register steps through wor/core/step-ops.ts, the one map
 * every driver uses; sleeps and timeouts on virtual time; the app's own steps by the world), timing
 * their client cores, and their watches.
 */
import { CLIENT_DEFAULTS, type ClientCoreConfig, WorClientCore } from "../../../wor/core/client-core.ts";
import { type RegisterOpStep, startRegisterOp } from "../../../wor/core/step-ops.ts";
import { type Step, type StepGen, isRegisterStep } from "../../../wor/core/steps.ts";
import type { Issued } from "../../../wor/core/tasks.ts";
import type { ClientFrame, ServerFrame } from "../../../wor/core/frames.ts";
import { WatchLearner } from "../../../wor/core/quorum-learner.ts";
import { assert } from "../../runtime/assert.ts";
import { acceptorIndex } from "./net.ts";
import { SimProcess, type StepSource } from "./process.ts";
import type { World } from "./world.ts";

/** What a world sets of a process's client core (the kernel sets the electorate and the proposer id). */
export type SpawnConfig = Partial<Omit<ClientCoreConfig, "acceptors" | "quorum" | "proposerId" | "segmentSize">> & { readonly segmentSize: number };

/** Client core settings every simulated process starts from (worlds override some at spawn). */
const SIM_CLIENT = { ...CLIENT_DEFAULTS, roundTimeoutMs: 400, resendMs: 60 } as const;
/** Watch frame ids live above the client core's request frame ids. */
const WATCH_ID_BASE = 1 << 30;

/** What the process table needs of the kernel. */
interface ProcessHost {
  now(): number;
  /** How many acceptors there are. */
  readonly acceptors: number;
  readonly quorum: number;
  world(): World;
  record(line: string): void;
  /** Call `tick(p, at)` at virtual time `at`. */
  wake(p: SimProcess, at: number): void;
  /** Call `answer(p, stepId, result)` after `ms`. */
  resume(p: SimProcess, stepId: number, result: unknown, ms: number): void;
  /** A client frame from `p` to acceptor `to`, over the network. */
  send(p: SimProcess, to: number, frame: ClientFrame): void;
  /** Endpoint `endpoint` died: its sessions at every acceptor end. */
  endSessions(endpoint: number): void;
}

export class Processes {
  private readonly procs = new Map<number, SimProcess>();
  private readonly tickAt = new Map<number, number>();
  private readonly settling = new Set<SimProcess>();
  private nextEndpoint = 1;
  private nextWatch = WATCH_ID_BASE;

  constructor(private readonly host: ProcessHost) {}

  get(endpoint: number): SimProcess | undefined {
    return this.procs.get(endpoint);
  }
  /** The live processes, in spawn order. */
  all(): SimProcess[] {
    return [...this.procs.values()];
  }
  /** The names of the live processes, sorted. */
  names(): string[] {
    return [...new Set(this.all().map((p) => p.name))].sort();
  }

  /** A new process (a new endpoint) named `name`, with its own client core (`config` over the
   *  simulator's defaults) and optionally an app core of its own, made for its endpoint. */
  spawn(name: string, config: SpawnConfig, service?: (endpoint: number) => StepSource): SimProcess {
    assert(acceptorIndex(name) === undefined, () => `process name ${name} is an acceptor's`);
    const h = this.host;
    const endpoint = this.nextEndpoint++;
    const wor = new WorClientCore({ ...SIM_CLIENT, ...config, acceptors: h.acceptors, quorum: h.quorum, proposerId: endpoint });
    const p = new SimProcess(endpoint, name, wor, service?.(endpoint));
    this.procs.set(endpoint, p);
    h.record(`spawn ${p.label}`);
    return p;
  }

  /** Run an app generator on `p`; `done` gets its value (never, if the process dies first). */
  start<T>(p: SimProcess, gen: StepGen<Step, T>, done: (value: T) => void): void {
    if (!p.alive) return;
    p.start(gen, done);
    this.settle(p);
  }

  /** The process crashes: its endpoint, steps and sessions are gone. */
  kill(p: SimProcess): void {
    if (!p.alive) return;
    this.host.record(`${p.label} dies`);
    p.alive = false;
    this.procs.delete(p.endpoint);
    this.host.endSessions(p.endpoint);
    p.onDeath?.();
  }

  /** Answer step `id` of `p` now. */
  answer(p: SimProcess, id: number, result: unknown): void {
    if (!p.alive) return;
    p.answer(id, result);
    this.settle(p);
  }

  /** Answer step `id` of `p` after `ms` (a sleep, a timeout); a second answer is ignored. */
  answerLater(p: SimProcess, id: number, result: unknown, ms: number): void {
    this.host.resume(p, id, result, ms);
  }

  /** Start the client core op that answers register step `id` (a world that intercepted the step
   *  may start it later). */
  startStep(p: SimProcess, id: number, step: RegisterOpStep): void {
    if (p.alive) this.coreOp(p, { id, step }, startRegisterOp(p.wor, step, this.host.now()));
  }

  /** Step `issued` is answered by client core op `op` (an app step such as an owner write). */
  coreOp(p: SimProcess, issued: Issued<Step>, op: number): void {
    this.host.record(`${p.label} ${issued.step.kind} op${op}`);
    p.ops.set(op, issued);
    this.settle(p);
  }

  /** `p` watches `space` from `from`: every acceptor pushes the values it learns are chosen and
   *  the values it accepts (`World.learned`); the watch is sent again whenever a link comes back
   *  (`watchFrames`). With `skipOwn`, not the values `p` writes itself. */
  watch(p: SimProcess, space: string, from: number, skipOwn = false): void {
    const id = this.nextWatch++;
    p.watches.set(id, { space, from, skipOwn, learner: new WatchLearner(from, this.host.quorum) });
    for (let a = 0; a < this.host.acceptors; a++) this.host.send(p, a, { id, kind: "watch", space, from, skipOwn });
  }

  /** The frames that register `p`'s watches again (at an acceptor whose link came back). */
  watchFrames(p: SimProcess): ClientFrame[] {
    return [...p.watches].map(([id, w]) => ({ id, kind: "watch", space: w.space, from: w.from, skipOwn: w.skipOwn }));
  }

  /** A learned or accepted frame for one of `p`'s watches, from acceptor `from`: a value learned
   *  (or accepted by a quorum at one ballot) is delivered, the first time of each index only. */
  learned(p: SimProcess, from: number, f: Extract<ServerFrame, { kind: "learned" | "accepted" }>): void {
    const w = p.watches.get(f.id);
    if (!w || w.space !== f.space) return;
    const value = f.kind === "learned" ? w.learner.learned(from, f.index, f.ballot, f.value) : w.learner.accepted(from, f.index, f.ballot, f.value);
    if (!value) return;
    this.host.record(`@${p.endpoint}<a${from} ${f.kind === "learned" ? "learned" : "quorum accepted"} ${f.space}[${f.index}]`);
    this.host.world().learned?.(p, f.space, f.index, value);
  }

  /** Run a process until it has nothing more to do now: dispatch its steps, send its frames, feed
   *  completions back. The kernel settles a process after everything it hands it; a world calls
   *  this after handing a process's app core something itself (a message). Re-entrant calls (a
   *  world answering a step inside a hook) fold into the outer one. */
  settle(p: SimProcess): void {
    if (this.settling.has(p)) return;
    this.settling.add(p);
    try {
      while (p.alive) {
        const steps = p.takeSteps();
        for (const s of steps) if (p.alive) this.dispatch(p, s);
        if (!p.alive) return;
        const out = p.wor.takeOutputs();
        for (const s of out.sends) this.host.send(p, s.to, s.frame);
        if (p.crashAfterSend) {
          this.kill(p);
          return;
        }
        if (steps.length === 0 && out.completions.length === 0) break;
        for (const c of out.completions) {
          const issued = p.ops.get(c.op);
          if (!issued) continue;
          p.ops.delete(c.op);
          this.host.world().answered?.(p, issued.step, c.result);
          p.answer(issued.id, c.result);
        }
      }
      this.armTick(p);
    } finally {
      this.settling.delete(p);
    }
  }

  private dispatch(p: SimProcess, { id, step }: Issued<Step>): void {
    if (this.host.world().step?.(p, id, step)) return;
    assert(isRegisterStep(step), () => `${p.label} yielded a ${step.kind} step that its world does not answer`);
    if (step.kind === "sleep") this.answerLater(p, id, undefined, step.ms);
    else this.startStep(p, id, step);
  }

  /** Wake the process when its client core (or app core) has work to do. */
  private armTick(p: SimProcess): void {
    const wake = p.nextWakeup();
    if (wake === undefined) return;
    const now = this.host.now();
    const at = Math.max(wake, now + 1);
    const scheduled = this.tickAt.get(p.endpoint);
    if (scheduled !== undefined && scheduled <= at && scheduled >= now) return;
    this.tickAt.set(p.endpoint, at);
    this.host.wake(p, at);
  }

  /** A wake-up `armTick` asked for: time passed for the process's cores (unless a later one replaced it). */
  tick(p: SimProcess, at: number): void {
    if (!p.alive || this.tickAt.get(p.endpoint) !== at) return;
    this.tickAt.delete(p.endpoint);
    p.tick(at);
    this.settle(p);
  }
}
