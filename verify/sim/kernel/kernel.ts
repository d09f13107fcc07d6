/**
 * The simulator kernel (docs/ARCHITECTURE.md §5): one deterministic run of any layer, on virtual time, every
 * random choice drawn from one PRNG seeded by the run's seed. It owns the event queue, the network
 * (net.ts), the acceptors (the real node and group commit over simulated disks, acceptor.ts), the
 * processes (process.ts: app generators over a real WOR client core), the faults every layer shares
 * (message loss, duplication, delay and reordering; partitions between any two endpoints; acceptor
 * crashes losing unsynced writes, and restarts) and the trace (an event log and its hash: the same
 * seed replays bit for bit). A world (world.ts) brings its workload, its own faults and its checks.
 *
 * Processes learn of crashes and partitions as a transport reports a link down, and of restarts and
 * mended partitions as a link back up (their watches are sent again). After `faultMs` the heal
 * phase: faults stop, acceptors restart, links mend, and everything pending must finish within
 * `healMs`; then the world's final operations, then its end checks.
 */
import type { Request } from "../../../paxos/messages.ts";
import type { Configuration } from "../../../wor/core/configuration.ts";
import type { Refusal } from "../../../wor/node/membership.ts";
import { majority } from "../../../paxos/quorum.ts";
import type { ClientFrame, ServerFrame } from "../../../wor/core/frames.ts";
import { AssertionFailed } from "../../runtime/assert.ts";
import { buggify } from "../../runtime/buggify.ts";
import { Prng, hashString32 } from "../../runtime/prng.ts";
import { probe } from "../../runtime/probe.ts";
import { SimAcceptor, maybeCrashAcceptor } from "./acceptor.ts";
import { follow } from "./configurations.ts";
import { Net, acceptorIndex, acceptorName } from "./net.ts";
import { FAULT_TICK_MS, type KernelOptions, type RunResult } from "./options.ts";
import type { SimProcess } from "./process.ts";
import { Processes } from "./processes.ts";
import { EventQueue } from "./queue.ts";
import type { World } from "./world.ts";

type Event =
  | { readonly kind: "toAcceptor"; readonly to: number; readonly from: number; readonly fromName: string; readonly frame: ClientFrame; readonly epoch: number; readonly installer: boolean }
  | { readonly kind: "refused"; readonly to: number; readonly from: number; readonly refusal: Refusal }
  | { readonly kind: "toProcess"; readonly to: number; readonly from: number; readonly frame: ServerFrame }
  | { readonly kind: "syncDone"; readonly acceptor: number; readonly epoch: number }
  | { readonly kind: "readDone"; readonly acceptor: number; readonly epoch: number }
  | { readonly kind: "message"; readonly from: string; readonly to: string; readonly deliver: () => void; readonly desc: string }
  | { readonly kind: "call"; readonly fn: () => void }
  | { readonly kind: "tick"; readonly endpoint: number; readonly at: number }
  | { readonly kind: "resume"; readonly endpoint: number; readonly stepId: number; readonly result: unknown }
  | { readonly kind: "faultTick" }
  | { readonly kind: "restart"; readonly acceptor: number }
  | { readonly kind: "heal" }
  | { readonly kind: "partitionEnd"; readonly a: string; readonly b: string };

export class Kernel {
  readonly prng: Prng;
  readonly quorum: number;
  readonly acceptors: readonly SimAcceptor[];
  now = 0;
  healed = false;
  /** The processes: spawn, start app generators, answer and settle them (processes.ts). */
  readonly procs: Processes;
  private readonly queue = new EventQueue<Event>();
  private readonly net: Net<Event>;
  private world: World | undefined;
  private readonly violations: string[] = [];
  private readonly log: string[] = [];
  private readonly completed = new Map<string, number>();
  private hash = 0x811c9dc5;
  private events = 0;

  constructor(
    readonly options: KernelOptions,
    setup: readonly Request[],
  ) {
    this.prng = new Prng(options.seed);
    this.quorum = majority(options.acceptors);
    this.net = new Net(this.queue, this.prng, options.faults, { now: () => this.now, healed: () => this.healed, record: (l) => this.record(l) });
    const host = {
      syncStarted: (a: SimAcceptor) => this.scheduleSync(a),
      readStarted: (a: SimAcceptor) => this.queue.push(this.now + this.prng.int(2), { kind: "readDone", acceptor: a.id, epoch: a.epoch }),
      send: (from: number, to: number, frames: readonly ServerFrame[]) => {
        for (const frame of frames) this.net.datagram({ kind: "toProcess", to, from, frame }, `a${from}>@${to} #${frame.id}`);
      },
      refused: (from: number, to: number, refusal: Refusal) => this.net.datagram({ kind: "refused", to, from, refusal }, `a${from}>@${to} ${refusal.kind}`),
    };
    // Spares (a world that replaces an acceptor) start empty and joining, after the acceptors.
    this.acceptors = Array.from({ length: options.acceptors + (options.spares ?? 0) }, (_, i) => new SimAcceptor(i, host, setup, i >= options.acceptors));
    this.procs = new Processes({
      now: () => this.now,
      acceptors: options.acceptors,
      quorum: this.quorum,
      world: () => this.world!,
      record: (line) => this.record(line),
      wake: (p, at) => this.queue.push(at, { kind: "tick", endpoint: p.endpoint, at }),
      resume: (p, stepId, result, ms) => this.queue.push(this.now + ms, { kind: "resume", endpoint: p.endpoint, stepId, result }),
      send: (p, to, frame) => this.toAcceptor(p, to, frame),
      endSessions: (endpoint) => {
        for (const a of this.acceptors) a.endSession(endpoint);
      },
    });
  }

  /** Run `world` to its end: the workload, the heal phase, the final operations, the end checks. */
  run(world: World): RunResult {
    this.world = world;
    try {
      world.begin();
    } catch (err) {
      this.caught(err);
    }
    this.queue.push(0, { kind: "faultTick" });
    this.queue.push(this.options.faultMs, { kind: "heal" });
    const end = this.options.faultMs + this.options.healMs;
    let final = false;
    for (;;) {
      const e = this.queue.pop();
      if (!e) {
        if (final || this.violations.length > 0) break;
        final = true;
        if (world.pending > 0) this.violations.push(`${world.pending} operations never finished`);
        else {
          try {
            world.final();
          } catch (err) {
            this.caught(err);
          }
        }
        continue;
      }
      if (e.at > end) {
        this.violations.push(`heal phase did not converge by ${end} ms: ${world.pending} operations pending`);
        break;
      }
      this.now = Math.max(this.now, e.at);
      this.events++;
      try {
        this.handle(e.event);
      } catch (err) {
        this.caught(err);
      }
      if (this.violations.length > 0) break;
    }
    if (this.violations.length === 0) this.violations.push(...world.finish());
    return {
      seed: this.options.seed,
      ok: this.violations.length === 0,
      violations: this.violations,
      events: this.events,
      virtualMs: this.now,
      traceHash: this.hash >>> 0,
      log: this.log,
      operations: world.operations,
      completed: Object.fromEntries(this.completed),
    };
  }

  // ---- For worlds. ----
  /** A line of the event log (hashed always, kept with `keepLog`). */
  record(line: string): void {
    this.hash = hashString32(`${this.now}:${line}`, this.hash);
    if (this.options.keepLog) this.log.push(`${this.now} ${line}`);
  }
  /** Report violations (the run stops after the current event). */
  check(found: readonly string[]): void {
    for (const v of found) this.violations.push(v);
  }
  /** Count an operation outcome ("write:Ok"). */
  outcome(what: string): void {
    this.completed.set(what, (this.completed.get(what) ?? 0) + 1);
  }
  later(ms: number, fn: () => void): void {
    this.queue.push(this.now + ms, { kind: "call", fn });
  }
  /** Crash acceptor `id` (if up) and keep it down, its disk as it is, until `release` (a replaced acceptor away). */
  takeDown(id: number): void {
    const a = this.acceptors[id]!;
    a.held = true;
    if (!a.up) return;
    this.record(`a${id} taken down`);
    a.crash();
    this.world!.crashed?.(a);
    this.linksDown(id);
  }

  /** Let acceptor `id` restart (now, unless it is up). */
  release(id: number): void {
    this.acceptors[id]!.held = false;
    this.queue.push(this.now, { kind: "restart", acceptor: id });
  }

  /** A frame from `p` for its slot `slot` that is not its client core's (a reconfiguration's installer). */
  sendFrame(p: SimProcess, slot: number, frame: ClientFrame): void {
    this.toAcceptor(p, slot, frame);
  }

  /** Is `acceptor` up and its link to `proc` intact? */
  reachable(proc: SimProcess, acceptor: number): boolean {
    return this.acceptors[acceptor]!.up && !this.net.isCut(proc.name, acceptorName(acceptor));
  }

  /** An app message from process `from` to endpoint name `to`, delivered by `deliver` unless the
   *  link is cut then. Over an ordered stream, or (`ordered` false) as a datagram. */
  message(from: string, to: string, desc: string, deliver: () => void, ordered: boolean): void {
    const e: Event = { kind: "message", from, to, deliver, desc };
    if (ordered) this.net.stream(e, `${from}>${to}`, desc);
    else this.net.datagram(e, desc);
  }

  /** Cut the link between endpoints `a` and `b` for `ms` (processes see their acceptor links go down). */
  cut(a: string, b: string, ms: number): void {
    if (!this.net.cutLink(a, b)) return;
    this.record(`partition ${a}|${b}`);
    probe("sim.net.partition");
    this.queue.push(this.now + ms, { kind: "partitionEnd", a, b });
    this.onLink(a, b, (p, acceptor, slot) => {
      this.acceptors[acceptor]!.endSession(p.endpoint);
      p.wor.onLinkDown(slot, "partitioned", this.now);
      this.procs.settle(p);
    });
  }

  // ---- Events. ----
  private handle(e: Event): void {
    switch (e.kind) {
      case "toAcceptor": {
        const a = this.acceptors[e.to]!;
        if (!a.up || this.net.isCut(e.fromName, acceptorName(e.to))) {
          this.record(`drop>a${e.to} #${e.frame.id}`);
          return;
        }
        this.record(`a${e.to}<@${e.from} #${e.frame.id} ${e.frame.kind === "request" ? e.frame.request.kind : e.frame.kind}`);
        a.receive(e.from, e.frame, e.epoch, e.installer);
        this.world!.delivered?.(a, e.from, e.frame);
        return;
      }
      case "toProcess": {
        const p = this.procs.get(e.to);
        const slot = p?.slotOf(e.from);
        if (!p || slot === undefined || this.net.isCut(p.name, acceptorName(e.from))) {
          this.record(`drop>@${e.to} #${e.frame.id}`);
          return;
        }
        if (e.frame.kind !== "reply") {
          this.procs.learned(p, slot, e.frame);
          return;
        }
        this.record(`@${e.to}<a${e.from} #${e.frame.id} ${e.frame.reply.kind}`);
        if (this.world!.replied?.(p, e.from, e.frame)) return;
        p.wor.onReply(slot, e.frame.id, e.frame.reply, this.now);
        this.procs.settle(p);
        return;
      }
      case "refused": {
        const p = this.procs.get(e.to);
        if (!p) return;
        this.record(`@${e.to}<a${e.from} refused: ${e.refusal.kind}`);
        if (e.refusal.configuration) this.follow(p, e.refusal.configuration);
        return;
      }
      case "syncDone": {
        const a = this.acceptors[e.acceptor]!;
        if (a.epoch !== e.epoch || !a.up) return;
        this.record(`a${e.acceptor} synced`);
        const durable = a.syncDone(e.epoch);
        if (durable) this.world!.synced?.(a, durable);
        return;
      }
      case "readDone": {
        const a = this.acceptors[e.acceptor]!;
        if (a.epoch !== e.epoch || !a.up) return;
        this.record(`a${e.acceptor} read`);
        a.readDone(e.epoch);
        return;
      }
      case "message":
        if (this.net.isCut(e.from, e.to)) this.record(`drop ${e.desc}`);
        else e.deliver();
        return;
      case "call":
        e.fn();
        return;
      case "tick": {
        const p = this.procs.get(e.endpoint);
        if (p) this.procs.tick(p, e.at);
        return;
      }
      case "resume": {
        const p = this.procs.get(e.endpoint);
        if (p) this.procs.answer(p, e.stepId, e.result);
        return;
      }
      case "faultTick":
        this.faultTick();
        return;
      case "restart": {
        // The heal restarts every acceptor that is down; a restart scheduled at its crash may come later.
        const a = this.acceptors[e.acceptor]!;
        if (a.up || a.held) return;
        this.record(`a${e.acceptor} restart`);
        a.restart();
        this.world!.restarted?.(a);
        for (const p of this.procs.all()) {
          const slot = p.slotOf(a.id);
          if (slot !== undefined && !this.net.isCut(p.name, acceptorName(a.id))) this.linkUp(p, slot);
        }
        return;
      }
      case "partitionEnd":
        this.mend(e.a, e.b);
        return;
      case "heal":
        this.record("heal");
        this.healed = true;
        for (const [a, b] of this.net.cutLinks()) this.mend(a, b);
        for (const a of this.acceptors) if (!a.up) this.queue.push(this.now, { kind: "restart", acceptor: a.id });
        this.world!.healed?.();
        return;
    }
  }

  private faultTick(): void {
    if (this.healed) return;
    const f = this.options.faults;
    const crashed = maybeCrashAcceptor(this.prng, this.acceptors, this.quorum, f.crash);
    if (crashed) {
      const a = crashed.acceptor;
      this.record(`a${a.id} crash`);
      this.world!.crashed?.(a);
      this.queue.push(this.now + crashed.restartInMs, { kind: "restart", acceptor: a.id });
      this.linksDown(a.id);
    }
    if (this.prng.chance(f.partition)) {
      const link = this.world!.link ? this.world!.link() : this.someProcessAcceptorLink();
      if (link) this.cut(link[0], link[1], 50 + this.prng.int(400));
    }
    this.world!.faults?.();
    this.queue.push(this.now + FAULT_TICK_MS, { kind: "faultTick" });
  }

  /** Acceptor `id` crashed: every process whose configuration holds it sees its link down. */
  private linksDown(id: number): void {
    for (const p of this.procs.all()) {
      const slot = p.slotOf(id);
      if (slot === undefined) continue;
      p.wor.onLinkDown(slot, "crashed", this.now);
      this.procs.settle(p);
    }
  }

  private someProcessAcceptorLink(): readonly [string, string] | undefined {
    const names = this.procs.names();
    if (names.length === 0) return undefined;
    return [this.prng.pick(names), acceptorName(this.prng.int(this.acceptors.length))];
  }

  private mend(a: string, b: string): void {
    if (!this.net.mend(a, b)) return;
    this.record(`heal ${a}|${b}`);
    this.onLink(a, b, (p, acceptor, slot) => {
      if (this.acceptors[acceptor]!.up) this.linkUp(p, slot);
    });
  }

  /** Call `fn` for every live process on `a|b` if it is a process–acceptor link of one of its slots. */
  private onLink(a: string, b: string, fn: (p: SimProcess, acceptor: number, slot: number) => void): void {
    const [ia, ib] = [acceptorIndex(a), acceptorIndex(b)];
    if ((ia === undefined) === (ib === undefined)) return;
    const [name, acceptor] = ia === undefined ? [a, ib!] : [b, ia];
    for (const p of this.procs.all()) {
      const slot = p.slotOf(acceptor);
      if (p.name === name && slot !== undefined) fn(p, acceptor, slot);
    }
  }

  /** `p`'s link for `slot` is back: what it has not had answered, and its watches, go again. */
  linkUp(p: SimProcess, slot: number): void {
    this.world!.linkUp?.(p, p.acceptorOf(slot));
    p.wor.onReconnect(slot);
    for (const f of this.procs.watchFrames(p)) this.toAcceptor(p, slot, f);
    this.procs.settle(p);
  }

  /** `p` follows configuration `c` if it is newer (configurations.ts). */
  follow(p: SimProcess, c: Configuration): void {
    follow(this, p, c);
  }

  /** A client frame from `p` for its slot `slot`, to the acceptor serving it, under `p`'s epoch. */
  private toAcceptor(p: SimProcess, slot: number, frame: ClientFrame): void {
    const to = p.acceptorOf(slot);
    this.net.datagram({ kind: "toAcceptor", to, from: p.endpoint, fromName: p.name, frame, epoch: p.epoch, installer: p.installer }, `@${p.endpoint}>a${to} #${frame.id}`);
  }

  private scheduleSync(a: SimAcceptor): void {
    const slow = buggify("sim.disk.slowSync") ? 20 + this.prng.int(60) : 0;
    this.queue.push(this.now + 1 + this.prng.int(2) + slow, { kind: "syncDone", acceptor: a.id, epoch: a.epoch });
  }

  /** A failed assertion (an invariant the node or a core checks) is a violation; anything else a bug here. */
  private caught(err: unknown): void {
    if (!(err instanceof AssertionFailed)) throw err;
    this.violations.push(`assertion failed: ${err.message}`);
  }
}
