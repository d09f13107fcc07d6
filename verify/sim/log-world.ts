/**
 * One deterministic simulation run of the whole shared-log stack (docs/ARCHITECTURE.md §4.1, §5): 3 acceptors
 * (the real acceptor node and group commit over simulated disks, sim/acceptor.ts), a sequencer process running the real
 * `SequencerCore` behind its own WOR client core, and appenders and readers running the real log
 * operations (apps/log/core) behind theirs, on virtual time with one seeded PRNG. Token requests
 * and grants travel as simulated messages like the register frames (loss, duplication, delay).
 *
 * Faults: message loss/duplication/delay, partitions (process–acceptor and appender–sequencer),
 * acceptor crashes losing unsynced writes, sequencer crashes (a new incarnation with a new owner
 * starts later and recovers with a higher ballot) and takeovers (the old sequencer runs on for a
 * while), appenders crashing at a write (before or after sending it; a fresh incarnation retries
 * the key). After every event the values chosen at a quorum are fed to the `LogObserver`; the
 * workload feeds it what operations returned. Then the heal phase, the final reads, the observer's
 * final check and the log spec's history check (verify/spec/log.ts).
 */
import type { Reply, Request } from "../../paxos/messages.ts";
import type { ServerFrame } from "../../wor/wire/frames.ts";
import { majority } from "../../paxos/quorum.ts";
import { spaceSetup } from "../../wor/core/space-meta.ts";
import { FILL_BYTES } from "../../apps/log/core/entry.ts";
import { LogObserver } from "../../apps/log/core/invariants.ts";
import { slotRead } from "../../apps/log/core/read.ts";
import type { GrantRequest, LogGen, LogResult, LogStep, StepResult } from "../../apps/log/core/steps.ts";
import type { Issued } from "../../wor/core/tasks.ts";
import { type RegisterOpStep, startRegisterOp } from "../../wor/core/step-ops.ts";
import type { Grant } from "../../apps/log/core/tokens.ts";
import { HistoryRecorder } from "../history/history.ts";
import { AssertionFailed, assert } from "../runtime/assert.ts";
import { buggify } from "../runtime/buggify.ts";
import { Prng, hashString32 } from "../runtime/prng.ts";
import { probe } from "../runtime/probe.ts";
import { type LogInput, type LogOutput, checkLogHistory } from "../spec/log.ts";
import { SimAcceptor, maybeCrashAcceptor } from "./acceptor.ts";
import { ChosenSlots } from "./log-chosen.ts";
import { LogCoverage } from "./log-coverage.ts";
import { SimNet } from "./log-net.ts";
import { LOG_WORLD_DEFAULTS, type LogWorldOptions } from "./log-options.ts";
import { LOG_NAME, LogClient, type Proc, SequencerProc, worCore } from "./log-procs.ts";
import { type LogHost, LogWorkload } from "./log-workload.ts";
import type { RunResult } from "./options.ts";
import { EventQueue } from "./queue.ts";

type Event =
  | { readonly kind: "toAcceptor"; readonly to: number; readonly from: number; readonly frameId: number; readonly request: Request }
  | { readonly kind: "toClient"; readonly to: number; readonly from: number; readonly frameId: number; readonly reply: Reply }
  | { readonly kind: "syncDone"; readonly acceptor: number; readonly epoch: number }
  | { readonly kind: "tick"; readonly endpoint: number }
  | { readonly kind: "resume"; readonly endpoint: number; readonly stepId: number; readonly result: StepResult }
  | { readonly kind: "toSequencer"; readonly from: number; readonly req: number; readonly request: GrantRequest }
  | { readonly kind: "grant"; readonly to: number; readonly stepId: number; readonly result: LogResult<Grant> }
  | { readonly kind: "call"; readonly fn: () => void }
  | { readonly kind: "faultTick" }
  | { readonly kind: "restart"; readonly acceptor: number }
  | { readonly kind: "heal" }
  | { readonly kind: "partitionEnd"; readonly link: string };

const TOKEN_TIMEOUT_MS = 300;

export function runLogWorld(options: Partial<LogWorldOptions> & { seed: number }): RunResult {
  return new LogWorld({ ...LOG_WORLD_DEFAULTS, ...options }).run();
}

class LogWorld implements LogHost {
  readonly prng: Prng;
  readonly observer = new LogObserver();
  readonly history = new HistoryRecorder<LogInput, LogOutput>();
  private readonly queue = new EventQueue<Event>();
  private readonly net: SimNet<Event>;
  private readonly acceptors: SimAcceptor[];
  private readonly quorum: number;
  private readonly procs = new Map<number, Proc>();
  private seq: SequencerProc | undefined;
  private readonly workload: LogWorkload;
  private readonly tickAt = new Map<number, number>();
  private readonly tokenAsks = new Map<number, { endpoint: number; stepId: number }>();
  private readonly chosen: ChosenSlots;
  private readonly coverage: LogCoverage;
  private readonly blocked = new Set<string>();
  private readonly violations: string[] = [];
  private readonly log: string[] = [];
  private readonly completed: Record<string, number> = {};
  private hash = 0x811c9dc5;
  private nextEndpoint = 1;
  private nextAsk = 1;
  private events = 0;
  now = 0;
  healed = false;

  constructor(readonly options: LogWorldOptions) {
    this.prng = new Prng(options.seed);
    this.quorum = majority(options.acceptors);
    this.chosen = new ChosenSlots(LOG_NAME, this.quorum);
    this.coverage = new LogCoverage(options.segmentSize);
    this.net = new SimNet(this.queue, this.prng, options.faults, {
      now: () => this.now,
      healed: () => this.healed,
      record: (line) => this.record(line),
    });
    const setup = spaceSetup(LOG_NAME, { kind: "log", segmentSize: options.segmentSize });
    const host = { syncStarted: (a: SimAcceptor) => this.scheduleSync(a), send: (from: number, to: number, frames: readonly ServerFrame[]) => this.reply(from, to, frames) };
    this.acceptors = Array.from({ length: options.acceptors }, (_, i) => new SimAcceptor(i, host, setup));
    this.workload = new LogWorkload(this);
  }

  run(): RunResult {
    this.startSequencer();
    this.workload.begin();
    this.queue.push(0, { kind: "faultTick" });
    this.queue.push(this.options.faultMs, { kind: "heal" });
    const end = this.options.faultMs + this.options.healMs;
    let final = false;
    for (;;) {
      const e = this.queue.pop();
      if (!e) {
        if (final || this.violations.length > 0) break;
        final = true;
        if (this.workload.pending > 0) this.violations.push(`${this.workload.pending} operations never finished`);
        else this.workload.final();
        continue;
      }
      if (e.at > end) {
        this.violations.push(`heal phase did not converge by ${end} ms: ${this.workload.pending} operations pending`);
        break;
      }
      this.now = Math.max(this.now, e.at);
      this.events++;
      try {
        this.handle(e.event);
      } catch (err) {
        if (!(err instanceof AssertionFailed)) throw err;
        this.violations.push(`assertion failed: ${err.message}`);
      }
      if (this.violations.length > 0) break;
    }
    if (this.violations.length === 0 && !this.workload.finalDone) this.violations.push("the final reads did not finish");
    if (this.violations.length === 0) {
      const v = checkLogHistory(this.history.operations(), { stepsMax: 5_000_000 });
      if (!v.ok) this.violations.push(...v.violations);
    }
    return {
      seed: this.options.seed,
      ok: this.violations.length === 0,
      violations: this.violations,
      events: this.events,
      virtualMs: this.now,
      traceHash: this.hash >>> 0,
      log: this.log,
      operations: this.history.operations().length,
      completed: this.completed,
    };
  }

  // ---- LogHost: what the workload uses. ----
  record(line: string): void {
    this.hash = hashString32(`${this.now}:${line}`, this.hash);
    if (this.options.keepLog) this.log.push(`${this.now} ${line}`);
  }
  check(found: readonly string[]): void {
    this.violations.push(...found);
  }
  outcome(what: string): void {
    this.completed[what] = (this.completed[what] ?? 0) + 1;
    this.record(what);
  }
  later(ms: number, fn: () => void): void {
    this.queue.push(this.now + ms, { kind: "call", fn });
  }
  spawn(name: string, role: "appender" | "reader"): LogClient {
    const endpoint = this.nextEndpoint++;
    const p = new LogClient(endpoint, name, role, worCore(this.options.acceptors, endpoint, this.options.segmentSize));
    this.procs.set(endpoint, p);
    this.record(`spawn ${name} @${endpoint}`);
    return p;
  }
  runOp<T>(p: LogClient, gen: LogGen<T>, done: (value: T) => void): void {
    if (!p.alive) return;
    p.start(gen, done);
    this.settle(p);
  }

  // ---- Events. ----
  private handle(e: Event): void {
    switch (e.kind) {
      case "toAcceptor": {
        const a = this.acceptors[e.to]!;
        const p = this.procs.get(e.from);
        if (!a.up || (p && this.blocked.has(`${p.name}|a${e.to}`))) {
          this.record(`drop>a${e.to} #${e.frameId}`);
          return;
        }
        this.record(`a${e.to}<@${e.from} #${e.frameId} ${e.request.kind}`);
        a.receive(e.from, e.frameId, e.request);
        return;
      }
      case "syncDone": {
        const a = this.acceptors[e.acceptor]!;
        if (a.epoch !== e.epoch || !a.up) return;
        this.record(`a${e.acceptor} synced`);
        for (const v of this.chosen.add(e.acceptor, a.syncDone(e.epoch) ?? [])) {
          const read = slotRead(v.slot, v.value);
          if (!read.ok) this.violations.push(`slot ${v.slot}: chosen bytes are not a log value: ${read.failure.message}`);
          else if (read.value.kind !== "unwritten") this.check(this.observer.observe(read.value));
        }
        return;
      }
      case "toClient": {
        const p = this.procs.get(e.to);
        if (!p || this.blocked.has(`${p.name}|a${e.from}`)) {
          this.record(`drop>@${e.to} #${e.frameId}`);
          return;
        }
        this.record(`@${e.to}<a${e.from} #${e.frameId} ${e.reply.kind}`);
        p.wor.onReply(e.from, e.frameId, e.reply, this.now);
        this.settle(p);
        return;
      }
      case "tick": {
        const p = this.procs.get(e.endpoint);
        if (!p || this.tickAt.get(e.endpoint) !== this.now) return;
        this.tickAt.delete(e.endpoint);
        p.wor.tick(this.now);
        if (p instanceof SequencerProc) p.core.tick(this.now);
        this.settle(p);
        return;
      }
      case "resume": {
        const p = this.procs.get(e.endpoint);
        if (!p) return;
        p.answer(e.stepId, e.result);
        this.settle(p);
        return;
      }
      case "toSequencer": {
        const from = this.procs.get(e.from);
        const seq = this.seq;
        if (!seq || !from || this.blocked.has(`${from.name}|seq`)) {
          this.record(`drop>seq ask${e.req}`);
          return;
        }
        this.record(`seq<@${e.from} ask${e.req} ${e.request.asks.length}`);
        seq.core.request(e.req, e.request, this.now);
        this.settle(seq);
        return;
      }
      case "grant": {
        const p = this.procs.get(e.to);
        if (!p || this.blocked.has(`${p.name}|seq`)) {
          this.record(`drop>@${e.to} grant`);
          return;
        }
        this.record(`@${e.to}<seq grant ${e.result.ok ? e.result.value.tokens.map((t) => `${t.slot}${t.priors.length === 0 ? "" : `(priors ${t.priors.join(" ")})`}`).join(",") : e.result.failure.code}`);
        if (e.result.ok && e.result.value.tokens.some((t) => t.priors.length > 0)) probe("log.token.prior");
        p.answer(e.stepId, e.result);
        this.settle(p);
        return;
      }
      case "call":
        e.fn();
        return;
      case "faultTick":
        this.faultTick();
        return;
      case "restart":
        // The heal restarts every acceptor that is down; a restart scheduled at its crash may come later.
        if (this.acceptors[e.acceptor]!.up) return;
        this.record(`a${e.acceptor} restart`);
        this.acceptors[e.acceptor]!.restart();
        for (const p of [...this.procs.values()]) {
          p.wor.onReconnect(e.acceptor);
          this.settle(p);
        }
        return;
      case "partitionEnd": {
        this.record(`heal ${e.link}`);
        this.blocked.delete(e.link);
        const [name, other] = e.link.split("|") as [string, string];
        if (!other.startsWith("a")) return;
        for (const p of [...this.procs.values()]) {
          if (p.name !== name) continue;
          p.wor.onReconnect(Number(other.slice(1)));
          this.settle(p);
        }
        return;
      }
      case "heal":
        this.record("heal");
        this.healed = true;
        this.blocked.clear();
        for (const a of this.acceptors) if (!a.up) this.queue.push(this.now, { kind: "restart", acceptor: a.id });
        if (!this.seq) this.startSequencer();
        return;
    }
  }

  // ---- Processes. ----
  private startSequencer(): void {
    const endpoint = this.nextEndpoint++;
    const s = new SequencerProc(endpoint, worCore(this.options.acceptors, endpoint, this.options.segmentSize), this.options.segmentSize);
    this.procs.set(endpoint, s);
    this.seq = s;
    this.record(`sequencer @${endpoint} starts`);
  }

  private kill(p: Proc): void {
    if (!p.alive) return;
    this.record(`${p.name} @${p.endpoint} dies`);
    p.alive = false;
    this.procs.delete(p.endpoint);
    if (this.seq === p) this.seq = undefined;
    p.onDeath?.();
  }

  /** Run a process until it has nothing more to do now: dispatch its steps, send its frames and
   *  grants, feed completions back. */
  private settle(p: Proc): void {
    while (p.alive) {
      const steps = p.takeSteps();
      for (const s of steps) if (p.alive) this.dispatch(p, s);
      if (!p.alive) return;
      if (p instanceof SequencerProc) {
        for (const g of p.takeGrants()) {
          if (g.result.ok) this.coverage.issued(p.endpoint, g.result.value.tokens, (e) => this.procs.has(e));
          this.sendGrant(g.id, g.result);
        }
        this.coverage.ran(p.endpoint, p.core);
      }
      const out = p.wor.takeOutputs();
      for (const s of out.sends) {
        if (s.frame.kind !== "request") continue;
        this.net.send({ kind: "toAcceptor", to: s.to, from: p.endpoint, frameId: s.frame.id, request: s.frame.request }, `@${p.endpoint}>a${s.to}`);
      }
      if (p.dieAfterSend) {
        probe("log.appender.crashAfterWrite");
        this.kill(p);
        return;
      }
      if (steps.length === 0 && out.completions.length === 0) break;
      for (const c of out.completions) {
        const stepId = p.ops.get(c.op);
        if (stepId === undefined) continue;
        p.ops.delete(c.op);
        const v = c.result.ok ? (c.result.value as { _tag?: string; written?: ReadonlyMap<number, Uint8Array> }) : undefined;
        if (v?._tag === "Captured" && v.written!.size > 0) probe(p.role === "sequencer" ? "log.seq.captureFoundValues" : `log.${p.role}.captureFoundValue`);
        p.answer(stepId, c.result as StepResult);
      }
    }
    this.armTick(p);
  }

  private armTick(p: Proc): void {
    const wakes = [p.wor.nextWakeup(), p instanceof SequencerProc ? p.core.nextWakeup() : undefined].filter((w): w is number => w !== undefined);
    if (wakes.length === 0) return;
    const at = Math.max(Math.min(...wakes), this.now + 1);
    const scheduled = this.tickAt.get(p.endpoint);
    if (scheduled !== undefined && scheduled <= at && scheduled >= this.now) return;
    this.tickAt.set(p.endpoint, at);
    this.queue.push(at, { kind: "tick", endpoint: p.endpoint });
  }

  private dispatch(p: Proc, { id, step }: Issued<LogStep>): void {
    if (step.kind === "sleep") {
      this.queue.push(this.now + step.ms, { kind: "resume", endpoint: p.endpoint, stepId: id, result: undefined });
      return;
    }
    if (step.kind === "tokens") {
      const req = this.nextAsk++;
      this.tokenAsks.set(req, { endpoint: p.endpoint, stepId: id });
      this.net.stream({ kind: "toSequencer", from: p.endpoint, req, request: step.request }, `@${p.endpoint}>seq`, `ask${req}`);
      const timeout: StepResult = { ok: false, failure: { code: "timeout", message: `no grant within ${TOKEN_TIMEOUT_MS} ms` } };
      this.queue.push(this.now + TOKEN_TIMEOUT_MS, { kind: "resume", endpoint: p.endpoint, stepId: id, result: timeout });
      return;
    }
    if (step.kind === "write" && p.role === "appender" && this.options.keyRetries && !this.healed) {
      if (this.prng.chance(this.options.faults.appenderCrash)) {
        if (this.prng.chance(0.5)) {
          probe("log.appender.crashBeforeWrite");
          this.kill(p);
          return;
        }
        p.dieAfterSend = true;
      } else if (buggify("sim.log.slowAppenderWrite")) {
        // A slow appender: readers time the hole out and fill it first.
        this.later(100 + this.prng.int(300), () => {
          if (!p.alive) return;
          this.startRegisterOp(p, id, step);
          this.settle(p);
        });
        return;
      }
    }
    this.startRegisterOp(p, id, step);
  }

  private startRegisterOp(p: Proc, stepId: number, step: RegisterOpStep): void {
    const op = startRegisterOp(p.wor, step, this.now);
    this.record(`${p.name}@${p.endpoint} ${step.kind} op${op}`);
    p.ops.set(op, stepId);
    if (step.kind === "write" && p.role === "reader" && step.entries.every((e) => e.value === FILL_BYTES)) probe("log.reader.fillHole");
  }

  private sendGrant(req: number, result: LogResult<Grant>): void {
    const to = this.tokenAsks.get(req);
    if (!to) return;
    this.tokenAsks.delete(req);
    this.net.stream({ kind: "grant", to: to.endpoint, stepId: to.stepId, result }, `seq>@${to.endpoint}`, `ask${req}`);
  }

  // ---- Network and disks. ----
  private reply(from: number, to: number, frames: readonly ServerFrame[]): void {
    for (const f of frames) {
      assert(f.kind === "reply", "this world watches nothing");
      this.net.send({ kind: "toClient", to, from, frameId: f.id, reply: f.reply }, `a${from}>@${to} #${f.id}`);
    }
  }
  private scheduleSync(a: SimAcceptor): void {
    const slow = buggify("sim.disk.slowSync") ? 20 + this.prng.int(60) : 0;
    this.queue.push(this.now + 1 + this.prng.int(2) + slow, { kind: "syncDone", acceptor: a.id, epoch: a.epoch });
  }

  private faultTick(): void {
    if (this.healed) return;
    const f = this.options.faults;
    const crashed = maybeCrashAcceptor(this.prng, this.acceptors, this.quorum, f.crash);
    if (crashed) {
      this.record(`a${crashed.acceptor.id} crash`);
      this.queue.push(this.now + crashed.restartInMs, { kind: "restart", acceptor: crashed.acceptor.id });
    }
    if (this.prng.chance(f.partition)) {
      const names = [...new Set([...this.procs.values()].map((p) => p.name))].sort();
      const name = this.prng.pick(names);
      const other = name !== "seq" && this.prng.chance(0.3) ? "seq" : `a${this.prng.int(this.options.acceptors)}`;
      const link = `${name}|${other}`;
      this.record(`partition ${link}`);
      probe("sim.net.partition");
      this.blocked.add(link);
      this.queue.push(this.now + 50 + this.prng.int(400), { kind: "partitionEnd", link });
    }
    const seq = this.seq;
    if (seq && this.prng.chance(f.sequencerCrash)) {
      probe("log.sequencer.crash");
      this.kill(seq);
      this.later(50 + this.prng.int(300), () => {
        if (!this.seq) this.startSequencer();
      });
    } else if (seq && this.prng.chance(f.sequencerReplace)) {
      // A takeover: the new sequencer starts now; the old one runs on for a while (its grants and
      // register rounds still in flight) but gets no new requests.
      probe("log.sequencer.takeover");
      this.startSequencer();
      this.later(100 + this.prng.int(400), () => this.kill(seq));
    }
    this.queue.push(this.now + 10, { kind: "faultTick" });
  }
}
