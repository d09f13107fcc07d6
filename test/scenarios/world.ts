/**
 * The scripted world a scenario runs in: acceptors (./disk.ts), processes (./procs.ts), a network
 * that moves nothing until a command says so, and virtual time that moves only by command. All
 * pure and deterministic: the same file gives the same transcript.
 *
 * The network holds requests (process → acceptor) and replies (acceptor → process) in send order.
 * A message to a crashed node, or across a cut link, is lost when delivered. Commits are fire and
 * forget (their acknowledgements are not sent: clients ignore them). Token asks and grants between
 * a process and a sequencer pass at once, without the network.
 */
import type { Reply, Request } from "../../paxos/messages.ts";
import { majority } from "../../paxos/quorum.ts";
import type { OpResult } from "../../wor/core/results.ts";
import { type SpaceMeta, spaceSetup } from "../../wor/core/space-meta.ts";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { type Grant, type LogGen, type LogResult, type LogStep, type RegisterOpStep, type StepResult, startRegisterOp } from "./adapter.ts";
import { Ghost, type Released, ScenarioAcceptor } from "./disk.ts";
import * as fmt from "./format.ts";
import { Proc, type StepOwner, type Top, describeStep, stepResult } from "./procs.ts";

const WORLD_LIMITS = {
  /** Messages one command may deliver: a livelock fails the scenario instead of hanging it. */
  deliveriesMax: 20_000,
  /** Virtual time one command may run an operation for before it says it is still running. */
  runMsMax: 10_000,
} as const;

export type Msg =
  | { readonly kind: "request"; readonly from: string; readonly to: number; readonly frameId: number; readonly request: Request }
  | { readonly kind: "reply"; readonly from: number; readonly to: string; readonly frameId: number; readonly reply: Reply; readonly space: string };

export type Trace = "ops" | "steps" | "messages";
const TRACE_RANK: Record<Trace, number> = { ops: 0, steps: 1, messages: 2 };

export const isAcceptorName = (name: string): boolean => /^a\d+$/.test(name);

export class World {
  now = 0;
  trace: Trace = "messages";
  acceptors: ScenarioAcceptor[] = [];
  readonly procs = new Map<string, Proc>();
  queue: Msg[] = [];
  readonly spaces = new Map<string, SpaceMeta>();
  readonly tops: Top[] = [];
  readonly ghost = new Ghost(() => majority(this.acceptors.length));
  private readonly cuts = new Set<string>();
  private readonly isolated = new Set<string>();
  /** Token asks in flight: ask id → who asked which sequencer. */
  private readonly asks = new Map<number, { asker: Proc; stepId: number; sequencer: Proc }>();
  private nextAsk = 1;
  private nextProposer = 1;
  private out: string[] = [];

  // ---- Output. ----
  say(line: string, level: Trace = "ops"): void {
    if (TRACE_RANK[level] <= TRACE_RANK[this.trace]) this.out.push(line);
  }
  /** The lines said since the last call, with every new invariant violation. */
  takeOutput(): string[] {
    const violations = [...this.ghost.violations.splice(0), ...this.acceptors.flatMap((a) => a.violations.splice(0))];
    const out = [...this.out, ...violations.map((v) => `VIOLATION ${v}`)];
    this.out = [];
    return out;
  }

  // ---- Nodes. ----
  setAcceptors(n: number): void {
    if (this.acceptors.length > 0) throw new Error("the acceptors exist already");
    this.acceptors = Array.from({ length: n }, (_, i) => new ScenarioAcceptor(`a${i + 1}`, i, this.ghost));
  }

  acceptor(name: string): ScenarioAcceptor {
    const a = this.acceptors.find((x) => x.name === name);
    if (!a) throw new Error(`no acceptor ${name} (there are ${this.acceptors.length})`);
    return a;
  }

  /** Create a space at every acceptor, its metadata chosen at the owner ballot (setup, no ballots spent). */
  createSpace(space: string, meta: SpaceMeta): void {
    if (this.acceptors.length === 0) throw new Error("say `acceptors N` first");
    for (const a of this.acceptors) {
      for (const r of spaceSetup(space, meta)) {
        const { outcome } = a.handle(r, undefined);
        const bad = outcome.kind === "answered" ? outcome.replies.find((x) => x.kind === "error") : undefined;
        if (bad) throw new Error(`creating ${space} at ${a.name}: ${fmt.reply(space, bad)}`);
      }
      a.sync();
    }
    this.spaces.set(space, meta);
  }

  /** The live incarnation of process `name`, started now if there is none. */
  proc(name: string): Proc {
    if (isAcceptorName(name)) throw new Error(`${name} names an acceptor, not a process`);
    if (this.acceptors.length === 0) throw new Error("say `acceptors N` first");
    const p = this.procs.get(name);
    if (p?.alive) return p;
    const fresh = new Proc(name, this.nextProposer++, this.acceptors.length);
    this.procs.set(name, fresh);
    this.say(`(${name} starts as proposer ${fresh.id})`);
    return fresh;
  }

  crashProc(p: Proc): void {
    p.alive = false;
    for (const t of this.tops) if (t.proc === p && t.status === undefined) this.finish(t, "lost (the process crashed)");
    for (const [id, ask] of [...this.asks]) {
      if (ask.sequencer !== p) continue;
      this.asks.delete(id);
      this.resume(ask.asker, "task", ask.stepId, { ok: false, failure: { code: "unavailable", message: `sequencer ${p.name} crashed` } });
    }
    this.pump();
  }

  // ---- Links. ----
  cut(a: string, b: string | undefined): void {
    if (b === undefined) this.isolated.add(a);
    else this.cuts.add([a, b].sort().join("|"));
  }
  heal(): void {
    this.cuts.clear();
    this.isolated.clear();
  }
  private linkCut(a: string, b: string): boolean {
    return this.isolated.has(a) || this.isolated.has(b) || this.cuts.has([a, b].sort().join("|"));
  }

  // ---- Operations. ----
  /** Start a register operation as a command's own op; `after` sees its result (e.g. keeps a capture). */
  startRegister(p: Proc, step: RegisterOpStep, after?: (r: OpResult<unknown>) => void): Top {
    return this.startOp(p, step, () => startRegisterOp(p.wor, step, this.now), after);
  }

  /** Start a client-core operation (`start` returns its op), described and checked as `like`: a
   *  register step, or what an owner-ballot write looks like. */
  startOp(p: Proc, like: RegisterOpStep, start: () => number, after?: (r: OpResult<unknown>) => void): Top {
    const top = p.newTop(describeStep(like));
    this.tops.push(top);
    const done = (r: OpResult<unknown>): string => {
      after?.(r);
      return stepResult(like, r);
    };
    p.hooks.set(start(), { kind: "top", top, step: like, done });
    this.pump();
    return top;
  }

  /** Start a log operation generator on `p`. */
  startTask<T>(p: Proc, what: string, gen: LogGen<T>, done: (v: T) => string): Top {
    const top = p.newTop(what);
    this.tops.push(top);
    p.tasks.start(gen, (v) => this.finish(top, done(v)));
    this.pump();
    return top;
  }

  private finish(top: Top, status: string): void {
    top.status = status;
    this.say(`${top.proc.name} op${top.n} ${top.what}: ${status}`);
  }

  /** Deliver the `involved` messages and advance time to each next wakeup until `done()`, or for
   *  `ms` of virtual time at most; `forMs`: run the whole span even when done. `done` false at the
   *  end: says why. */
  run(done: () => boolean, involved: (m: Msg) => boolean, ms: number = WORLD_LIMITS.runMsMax, forMs = false): "done" | "idle" | "timeLimit" {
    const end = this.now + ms;
    for (;;) {
      this.deliver(involved);
      if (!forMs && done()) return "done";
      const at = this.nextWakeup();
      if (at === undefined || at > end) {
        if (forMs) {
          this.advanceTo(end);
          this.deliver(involved);
        }
        return at === undefined ? "idle" : "timeLimit";
      }
      this.advanceTo(at);
    }
  }

  /** Run until `top` finishes (its process's messages and the sequencers' only). */
  runOp(top: Top): void {
    if (top.status !== undefined) return;
    const why = this.run(() => top.status !== undefined, this.involving(top.proc.name));
    const name = `${top.proc.name} op${top.n}`;
    if (why === "idle") this.say(`(${name} waits: nothing more happens by itself)`);
    if (why === "timeLimit") this.say(`(${name} still running at t=${this.now})`);
  }

  /** Messages from or to these processes (and every sequencer: tokens come from them). */
  involving(...names: string[]): (m: Msg) => boolean {
    const set = new Set(names);
    for (const p of this.procs.values()) if (p.sequencer && p.alive) set.add(p.name);
    return (m) => set.has(m.kind === "request" ? m.from : m.to);
  }

  // ---- Time. ----
  nextWakeup(): number | undefined {
    const at = [...this.procs.values()].filter((p) => p.alive).map((p) => p.nextWakeup()).filter((t): t is number => t !== undefined);
    return at.length > 0 ? Math.max(this.now + 1, Math.min(...at)) : undefined;
  }

  advanceTo(t: number, quiet = false): void {
    if (t <= this.now) return;
    this.now = t;
    if (!quiet) this.say(`· t=${t}`, "steps");
    for (const p of [...this.procs.values()]) {
      if (!p.alive) continue;
      p.wor.tick(t);
      p.sequencer?.tick(t);
      const due = p.sleeps.filter((s) => s.at <= t);
      p.sleeps.splice(0, p.sleeps.length, ...p.sleeps.filter((s) => s.at > t));
      for (const s of due) p.answer(s.owner, s.stepId, undefined);
    }
    this.pump();
  }

  // ---- The network. ----
  /** Deliver matching messages in send order (new ones too) until none is left, or `count` of them. */
  deliver(match: (m: Msg) => boolean, count = Number.POSITIVE_INFINITY): number {
    let n = 0;
    while (n < count) {
      const k = this.queue.findIndex(match);
      if (k < 0) break;
      if (++n > WORLD_LIMITS.deliveriesMax) throw new Error(`more than ${WORLD_LIMITS.deliveriesMax} deliveries in one command: a livelock?`);
      const [m] = this.queue.splice(k, 1);
      this.deliverOne(m!);
    }
    return n;
  }

  describe(m: Msg): string {
    if (m.kind === "request") return `${m.from} → ${this.acceptors[m.to]!.name} ${fmt.request(m.request)}`;
    return `${this.acceptors[m.from]!.name} → ${m.to} ${fmt.replyBrief(m.reply)}`;
  }

  private deliverOne(m: Msg): void {
    const line = this.describe(m);
    const lost = this.lost(m);
    if (lost) this.say(`${line} ✗ ${lost}`, "messages");
    else if (m.kind === "reply") {
      this.say(line, "messages");
      this.procs.get(m.to)!.wor.onReply(m.from, m.frameId, m.reply, this.now);
      this.pump();
    } else this.deliverRequest(m, line);
  }

  /** Why `m` is lost on delivery, if it is. */
  private lost(m: Msg): string | undefined {
    const [from, to] = m.kind === "request" ? [m.from, this.acceptors[m.to]!.name] : [this.acceptors[m.from]!.name, m.to];
    const down = m.kind === "request" ? !this.acceptors[m.to]!.up : !this.procs.get(m.to)?.alive;
    if (down) return `${to} is down`;
    return this.linkCut(from, to) ? "link cut" : undefined;
  }

  private deliverRequest(m: Extract<Msg, { kind: "request" }>, line: string): void {
    const a = this.acceptors[m.to]!;
    const space = "space" in m.request ? m.request.space : "";
    const to = m.request.kind === "commit" ? undefined : { proc: m.from, frameId: m.frameId, space };
    const { outcome, released } = a.handle(m.request, to);
    if (outcome.kind === "held") {
      const what = outcome.mutations.map(fmt.mutation).join(", ");
      this.say(`${line} ⇒ held until ${a.name} syncs${what === "" ? "" : ` (unsynced: ${what})`}`, "messages");
    } else {
      const said = to ? outcome.replies.map((r) => fmt.reply(space, r)).join("; ") : "";
      this.say(said === "" ? line : `${line} ⇒ ${said}`, "messages");
      if (to) this.post(a, [...released, { to, replies: outcome.replies }]);
      else this.post(a, released);
    }
  }

  /** Put released replies on the wire. */
  post(a: ScenarioAcceptor, released: readonly Released[]): void {
    for (const r of released) for (const reply of r.replies) this.queue.push({ kind: "reply", from: a.index, to: r.to.proc, frameId: r.to.frameId, reply, space: r.to.space });
  }

  // ---- Processes at work. ----
  /** Run every process until none has anything left to do without the network or the clock. */
  pump(): void {
    for (let busy = true; busy; ) {
      busy = false;
      for (const p of [...this.procs.values()]) if (p.alive && this.pumpProc(p)) busy = true;
    }
  }

  private pumpProc(p: Proc): boolean {
    let any = false;
    for (;;) {
      const steps = p.takeSteps();
      for (const s of steps) this.dispatch(p, s.id, s.step, s.owner);
      for (const g of p.grants.splice(0)) this.grant(p, g.id, g.result);
      const out = p.wor.takeOutputs();
      for (const s of out.sends) if (s.frame.kind === "request") this.queue.push({ kind: "request", from: p.name, to: s.to, frameId: s.frame.id, request: s.frame.request });
      for (const c of out.completions) this.complete(p, c.op, c.result);
      if (steps.length === 0 && out.sends.length === 0 && out.completions.length === 0) return any;
      any = true;
    }
  }

  private complete(p: Proc, op: number, result: OpResult<unknown>): void {
    const hook = p.hooks.get(op);
    if (!hook) return;
    p.hooks.delete(op);
    if (hook.step) this.checkResult(p, hook.step, result);
    if (hook.kind === "top") this.finish(hook.top, hook.done(result));
    else {
      this.say(`${p.name} ◂ ${describeStep(hook.step)}: ${stepResult(hook.step, result)}`, "steps");
      this.resume(p, hook.owner, hook.stepId, result as StepResult);
    }
  }

  private resume(p: Proc, owner: StepOwner, stepId: number, result: StepResult): void {
    if (p.alive) p.answer(owner, stepId, result);
  }

  private dispatch(p: Proc, stepId: number, step: LogStep, owner: StepOwner): void {
    if (step.kind === "sleep") {
      p.sleeps.push({ at: this.now + step.ms, stepId, owner });
      this.say(`${p.name} sleeps ${step.ms} ms`, "messages");
      return;
    }
    if (step.kind === "tokens") this.ask(p, stepId, step.log, step.request);
    else {
      this.say(`${p.name} ▸ ${describeStep(step)}`, "messages");
      p.hooks.set(startRegisterOp(p.wor, step, this.now), { kind: "step", owner, stepId, step });
    }
  }

  private ask(p: Proc, stepId: number, log: string, request: Extract<LogStep, { kind: "tokens" }>["request"]): void {
    const named = p.via ?? [...this.procs.values()].filter((q) => q.alive && q.sequencer?.config.log === log).at(-1)?.name;
    const seq = named === undefined ? undefined : this.procs.get(named);
    const keys = request.asks.map((a) => `${a.key.client}#${a.key.seq}`).join(" ");
    if (!seq?.alive || !seq.sequencer) {
      const why = named === undefined ? `no sequencer serves ${log}` : `sequencer ${named} is down`;
      this.say(`${p.name} asks for a token for ${keys}: ${why}`, "steps");
      this.resume(p, "task", stepId, { ok: false, failure: { code: "unavailable", message: why } });
      return;
    }
    const id = this.nextAsk++;
    this.asks.set(id, { asker: p, stepId, sequencer: seq });
    this.say(`${p.name} → ${seq.name} ask ${keys}`, "messages");
    seq.sequencer.request(id, request, this.now);
  }

  private grant(seq: Proc, id: number, result: LogResult<Grant>): void {
    const ask = this.asks.get(id);
    if (!ask) return;
    this.asks.delete(id);
    this.say(`${seq.name} → ${ask.asker.name} grant ${fmt.grant(result)}`, "steps");
    this.resume(ask.asker, "task", ask.stepId, result);
  }

  /** The ghost's checks on what an operation reports: only chosen values are written or read. */
  private checkResult(p: Proc, step: RegisterOpStep, r: OpResult<unknown>): void {
    if (!r.ok) return;
    const claim = (space: string, index: number, v: Uint8Array, what: string): void => {
      const chosen = this.ghost.chosen(space, index);
      if (!chosen || !bytesEqual(chosen, v)) this.ghost.violations.push(`${p.name} ${what} ${fmt.value(v)} at ${space}[${index}], but the ghost has ${chosen ? fmt.value(chosen) : "nothing"} chosen`);
    };
    if (step.kind === "read") {
      for (const [i, x] of r.value as Map<number, { _tag: string; value?: Uint8Array }>) if (x._tag === "Written") claim(step.space, i, x.value!, "read");
    } else if (step.kind === "write") {
      const values = new Map(step.entries.map((e) => [e.index, e.value]));
      for (const [i, w] of r.value as Map<number, { _tag: string; value?: Uint8Array }>) {
        if (w._tag === "Ok") claim(step.capture.space, i, values.get(i)!, "wrote");
        if (w._tag === "AlreadyWritten") claim(step.capture.space, i, w.value!, "was told of");
      }
    } else if (step.kind === "capture") {
      const c = r.value as { _tag: string; written?: ReadonlyMap<number, Uint8Array> };
      for (const [i, v] of c.written ?? []) claim(step.space, i, v, "finished");
    }
  }
}
