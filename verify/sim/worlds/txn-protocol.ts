/**
 * What the simulator's transaction worlds share (docs/ARCHITECTURE.md §4.3, §5; worlds/txn.ts, a
 * bank; worlds/kvtxn.ts, a KV across partitions): WormTX itself. Participants (worlds/txn-shell.ts)
 * and coordinators and recoverers (worlds/txn-coordinator.ts) run the real cores as processes;
 * prepares, their answers and the coordinators' word travel as datagrams (lost, duplicated,
 * delayed); participants and coordinators crash at every step, before or after sending, and
 * participants also at random (their disks keep what was synced).
 *
 * Checks, from a ghost of the vote registers and records chosen at a quorum of durable acceptor
 * states: apps/txn/core/invariants.ts after every decision anyone learns (a coordinator, a
 * recoverer, a participant): the outcome follows from the chosen votes, everyone learns the same;
 * a record chosen is its transaction's own, a vote is chosen once and only where a transaction
 * started (or a fence's NO); at every committed state (a transaction's last YES chosen) each YES
 * carries its participant's payload, and then the world's own check (`committedState`). After the
 * heal: every transaction resolved (by a final resolver), every participant serving and in doubt
 * about nothing, and then the world's own end checks (`settled`).
 */
import { TxnObserver } from "../../../apps/txn/core/invariants.ts";
import { BLOCK_CODEC, decodeVote, encodeRecord } from "../../../apps/txn/core/record.ts";
import { resolve } from "../../../apps/txn/core/resolve.ts";
import type { AwaitChosenStep, NotifyStep, PrepareStep, TxnGen, TxnResult, TxnStep } from "../../../apps/txn/core/steps.ts";
import { allocSpaceOf } from "../../../paxos/limits.ts";
import type { Mutation } from "../../../paxos/messages.ts";
import { spaceSetup } from "../../../wor/core/space-meta.ts";
import { type Step, isRegisterStep } from "../../../wor/core/steps.ts";
import { bytesEqual } from "../../runtime/bytes.ts";
import type { SimAcceptor } from "../kernel/acceptor.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { World, WorldDef } from "../kernel/world.ts";
import { ChosenSlots } from "./log-chosen.ts";
import { SIM_RECOVER, SimCoordinator, type Started, type TxnHost, type Workload, startRecoverer } from "./txn-coordinator.ts";
import type { TxnWorldOptions } from "./txn-options.ts";
import type { SimShell } from "./txn-shell.ts";

/** The definition of a world over WormTX: `world` over the transaction space `space`, which the acceptors hold from the start. */
export function txnWorldDef<O extends TxnWorldOptions>(space: string, world: new (k: Kernel, o: O) => World, def: Pick<WorldDef<O>, "layer" | "title" | "defaults" | "buggifySalt">): WorldDef<O> {
  return { ...def, setup: (o) => spaceSetup(space, { kind: "txn", segmentSize: o.segmentSize }), create: (kernel, o) => new world(kernel, o) };
}

function* one(step: TxnStep): TxnGen<unknown> {
  return yield step;
}

/** A world over WormTX: its transactions as it keeps them (`S`), its participants' parts (`P`). */
export abstract class TxnProtocolWorld<S extends Started, P> implements World, TxnHost<S> {
  readonly observer = new TxnObserver();
  readonly registry = new Map<number, S>();
  pending = 0;
  /** The participants, by name. */
  protected readonly shells: SimShell<P>[] = [];
  private readonly inflight = new Map<SimProcess, number>();
  /** A coordinator waiting on votes (awaitChosen): its step and the span. */
  private readonly waits = new Map<SimProcess, { readonly id: number; readonly from: number; readonly to: number; readonly known: readonly number[] }>();
  private readonly votes: ChosenSlots;
  private readonly records: ChosenSlots;
  /** The votes chosen, by address. */
  private readonly chosen = new Map<number, Uint8Array>();
  private finalDone = false;

  constructor(
    readonly k: Kernel,
    readonly o: TxnWorldOptions,
    readonly space: string,
  ) {
    this.votes = new ChosenSlots(space, k.quorum);
    this.records = new ChosenSlots(allocSpaceOf(space), k.quorum);
  }

  abstract begin(): void;
  /** Transaction `txn` reached its committed state (every vote a chosen YES, each carrying its payload): the world's checks. */
  protected abstract committedState(txn: number, started: S): string[];
  /** The world's end checks, after the final resolves. */
  protected abstract settled(): string[];

  get operations(): number {
    return this.registry.size;
  }

  /** The coordinators, committing `workload`'s transactions from `afterMs` on, and the recoverers. */
  protected startActors(workload: Workload<S>, afterMs = 0): void {
    for (let c = 0; c < this.o.coordinators; c++) this.k.later(afterMs + this.k.prng.int(30), () => new SimCoordinator(this, c, this.o.txnsPerCoordinator, workload).start());
    for (let r = 0; r < this.o.recoverers; r++) startRecoverer(this, r);
  }

  // ---- TxnHost. ----
  spawn(name: string, died: () => void): SimProcess {
    const p = this.k.procs.spawn(name, { segmentSize: this.o.segmentSize, preemptRetriesMax: 4 });
    p.onDeath = () => {
      this.pending -= this.inflight.get(p) ?? 0;
      this.inflight.delete(p);
      died();
    };
    return p;
  }

  run<T>(p: SimProcess, gen: TxnGen<T>, done: (value: T) => void): void {
    if (!p.alive) return;
    this.pending++;
    this.inflight.set(p, (this.inflight.get(p) ?? 0) + 1);
    this.k.procs.start(p, gen, (v) => {
      this.pending--;
      this.inflight.set(p, this.inflight.get(p)! - 1);
      done(v);
    });
  }

  // ---- Hooks. ----
  step(p: SimProcess, id: number, step: Step): boolean {
    const s = step as TxnStep;
    if (this.crashHere(p, s)) return true;
    switch (s.kind) {
      case "parallel": {
        const results: unknown[] = new Array(s.steps.length);
        let left = s.steps.length;
        s.steps.forEach((sub, i) => {
          this.k.procs.start(p, one(sub), (r) => {
            results[i] = r;
            if (--left === 0) this.k.procs.answer(p, id, results);
          });
        });
        return true;
      }
      case "ownerWrite":
        this.k.procs.coreOp(p, { id, step }, p.wor.unsafeWrite(s.space, [{ index: s.index, value: s.value }], this.k.now));
        return true;
      case "prepare":
        this.prepare(p, id, s);
        return true;
      case "notify":
        this.notify(p, s);
        this.k.procs.answer(p, id, undefined);
        return true;
      case "awaitChosen":
        this.awaitChosen(p, id, s);
        return true;
      case "now":
        this.k.procs.answer(p, id, this.k.now);
        return true;
      default:
        return false;
    }
  }

  /** Participants and coordinators crash at their steps (those that reach other processes), before or after sending. */
  private crashHere(p: SimProcess, s: TxnStep): boolean {
    const f = this.o.faults;
    const chance = p.name.startsWith("p") ? f.participantStepCrash : p.name.startsWith("c") ? f.coordinatorStepCrash : 0;
    const sends = s.kind === "prepare" || s.kind === "ownerWrite" || (isRegisterStep(s) && s.kind !== "sleep");
    if (this.k.healed || !sends || !this.k.prng.chance(chance)) return false;
    if (this.k.prng.chance(0.5)) {
      this.k.record(`${p.label} crashes before its ${s.kind}`);
      this.k.procs.kill(p);
      return true;
    }
    this.k.record(`${p.label} crashes after its ${s.kind}`);
    p.crashAfterSend = true;
    return false;
  }

  private shell(name: string): SimShell<P> {
    return this.shells.find((x) => x.name === name)!;
  }

  private prepare(p: SimProcess, id: number, s: PrepareStep): void {
    const part = this.shell(s.participant);
    const desc = `prepare ${s.request.txn}/${s.request.index}`;
    const deliver = () =>
      part.prepare(s.request, (r) => {
        this.k.message(s.participant, p.name, `${desc} answer`, () => p.alive && this.k.procs.answer(p, id, r), false);
      });
    this.k.message(p.name, s.participant, desc, deliver, false);
    const timeout: TxnResult<never> = { ok: false, failure: { code: "timeout", message: `${s.participant} did not answer` } };
    this.k.procs.answerLater(p, id, timeout, this.o.prepareTimeoutMs);
  }

  private notify(p: SimProcess, s: NotifyStep): void {
    const part = this.shell(s.participant);
    this.k.message(p.name, s.participant, `${s.outcome} ${s.txn}`, () => part.notified(s.txn, s.outcome), false);
  }

  /** A coordinator waits on votes: its watch (one per life, from the first span it waits on; later
   *  transactions of its blocks lie above) answers with the first vote pushed in the span that it
   *  does not know, its deadline with none. */
  private awaitChosen(p: SimProcess, id: number, s: AwaitChosenStep): void {
    if (![...p.watches.values()].some((w) => w.space === s.space && w.from <= s.from)) this.k.procs.watch(p, s.space, s.from);
    this.waits.set(p, { id, from: s.from, to: s.to, known: s.known });
    this.k.procs.answerLater(p, id, new Map(), Math.max(0, s.until - this.k.now));
  }

  learned(p: SimProcess, space: string, index: number, value: Uint8Array): void {
    if (space !== this.space) return;
    const w = this.waits.get(p);
    if (w && index >= w.from && index < w.to && !w.known.includes(index)) {
      this.waits.delete(p);
      this.k.procs.answer(p, w.id, new Map([[index, value]]));
    }
    this.shells.find((x) => x.name === p.name)?.learned(p, index, value);
  }

  synced(a: SimAcceptor, durable: readonly Mutation[]): void {
    for (const { slot, value } of this.records.add(a.id, durable)) this.k.check(this.recordChosen(slot, value));
    for (const { slot, value } of this.votes.add(a.id, durable)) this.k.check(this.voteChosen(slot, value));
  }

  private recordChosen(txn: number, value: Uint8Array): string[] {
    const started = this.registry.get(txn);
    if (started ? bytesEqual(value, encodeRecord(started.record)) : BLOCK_CODEC.decode(value).owner !== undefined) return [];
    return [`segment ${txn}: its allocation chose bytes that are neither its record nor a block claim`];
  }

  started(txn: number, s: S): void {
    this.registry.set(txn, s);
    // A fence's NOs chosen here before the transaction started: the observer learns them now.
    for (let i = 0; i < s.record.participants.length; i++) {
      const v = this.chosen.get(txn * this.o.segmentSize + i);
      if (v) this.observer.chosen(String(txn), s.record.participants.length, i, decodeVote(v));
    }
  }

  private voteChosen(slot: number, value: Uint8Array): string[] {
    const before = this.chosen.get(slot);
    if (before) return bytesEqual(before, value) ? [] : [`vote ${slot}: a second value chosen`];
    this.chosen.set(slot, value);
    const txn = Math.floor(slot / this.o.segmentSize);
    const started = this.registry.get(txn);
    // A restarted participant's fence writes a NO naming nobody into every empty vote address of a block.
    const vote = decodeVote(value);
    const fill = vote.kind === "no" && vote.participant === undefined;
    if (!started) return fill ? [] : [`vote ${slot}: chosen in segment ${txn}, where no transaction started`];
    const n = started.record.participants.length;
    const index = slot - txn * this.o.segmentSize;
    if (index >= n) return fill ? [] : [`vote ${slot}: chosen past the ${n} participants of transaction ${txn}`];
    this.observer.chosen(String(txn), n, index, vote);
    if (this.observer.implied(String(txn)) !== "committed") return [];
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const v = decodeVote(this.chosen.get(txn * this.o.segmentSize + i)!);
      if (v.kind !== "yes" || !bytesEqual(v.payload, started.payloads[i]!)) bad.push(`transaction ${txn}: the YES of participant ${i} does not carry its payload`);
    }
    return bad.length > 0 ? bad : this.committedState(txn, started);
  }

  faults(): void {
    if (!this.k.prng.chance(this.o.faults.participantCrash)) return;
    const live = this.shells.filter((p) => p.proc);
    if (live.length === 0) return;
    const victim = this.k.prng.pick(live);
    this.k.record(`${victim.name} crashes`);
    this.k.procs.kill(victim.proc!);
  }

  healed(): void {
    for (const p of this.shells) if (!p.proc) p.spawn();
  }

  /** After the heal: resolve every transaction (force): each must decide, and agree with the rest. */
  final(): void {
    const proc = this.spawn("final", () => {});
    let left = this.registry.size;
    if (left === 0) this.finalDone = true;
    for (const [txn, s] of this.registry) {
      const ref = { space: this.space, segmentSize: this.o.segmentSize, txn, record: s.record };
      this.run(proc, resolve(ref, SIM_RECOVER, true), (r) => {
        if (!r.ok || !r.value.outcome) this.k.check([`final resolve of transaction ${txn} failed after the heal: ${r.ok ? "undecided" : r.failure.message}`]);
        else this.k.check(this.observer.decided(String(txn), s.record.participants.length, "final", r.value.outcome));
        if (--left === 0) this.finalDone = true;
      });
    }
  }

  finish(): readonly string[] {
    if (!this.finalDone) return ["the final resolves did not finish"];
    const bad: string[] = [];
    for (const p of this.shells) {
      if (!p.ready) bad.push(`${p.name} never became ready after the heal`);
      const doubts = [...(p.core?.inDoubt.keys() ?? [])];
      if (doubts.length > 0) bad.push(`${p.name} is still in doubt on ${doubts.join(", ")} after the heal`);
    }
    return [...bad, ...this.settled()];
  }
}
