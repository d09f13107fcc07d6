/**
 * The transaction world (docs/ARCHITECTURE.md §4.3, §5): a bank. Participants hold accounts
 * (the real participant core over an account book, a simulated store), coordinators commit
 * transfers between accounts on different participants (the real coordinator core, one parallel
 * round of a record and the votes), recoverers resolve transactions past their deadline
 * (worlds/txn-actors.ts). Prepares, their answers and the coordinators' word travel as datagrams
 * (lost, duplicated, delayed); participants and coordinators crash at every step, before or after
 * sending, and participants also at random (their stores keep what was synced).
 *
 * Checks, from a ghost of the vote registers chosen at a quorum of durable acceptor states:
 *  - apps/txn/core/invariants.ts after every decision anyone learns (a coordinator, a recoverer, a
 *    participant applying it): the outcome follows from the chosen votes, everyone learns the same;
 *  - at every committed state (a transaction's last YES chosen), the YES votes carry exactly the
 *    transfer's ops, so the bank's total is unchanged; a record chosen is the transaction's own;
 *  - after every batch a participant's store holds exactly its opening balances plus the committed
 *    transactions it recorded, none overdrawn;
 *  - after the heal: every transaction resolved (by a final resolver), every participant decided on
 *    everything, each store holding every committed transfer it is part of, the total unchanged.
 */
import { decodeOps } from "../../../apps/txn/core/bank.ts";
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
import { SIM_RECOVER, SimCoordinator, SimParticipant, type Started, type TxnHost, startRecoverer } from "./txn-actors.ts";
import { TXN_SPACE, TXN_WORLD_DEFAULTS, type TxnWorldOptions } from "./txn-options.ts";

export const txnWorld: WorldDef<TxnWorldOptions> = {
  layer: "txn",
  title: "transactions: a bank over WormTX, participants and coordinators crashing at every step",
  defaults: TXN_WORLD_DEFAULTS,
  buggifySalt: 0x27d4eb2f,
  setup: (o) => spaceSetup(TXN_SPACE, { kind: "txn", segmentSize: o.segmentSize }),
  create: (kernel, o) => new TxnWorld(kernel, o),
};

function* one(step: TxnStep): TxnGen<unknown> {
  return yield step;
}

class TxnWorld implements World, TxnHost {
  readonly observer = new TxnObserver();
  readonly registry = new Map<number, Started>();
  pending = 0;
  private readonly inflight = new Map<SimProcess, number>();
  private readonly parts: SimParticipant[] = [];
  /** A coordinator waiting on votes (awaitChosen): its step and the span. */
  private readonly waits = new Map<SimProcess, { readonly id: number; readonly from: number; readonly to: number; readonly known: readonly number[] }>();
  private readonly votes: ChosenSlots;
  private readonly records: ChosenSlots;
  private readonly chosen = new Map<number, Uint8Array>();
  private finalDone = false;

  constructor(
    readonly k: Kernel,
    readonly o: TxnWorldOptions,
  ) {
    this.votes = new ChosenSlots(TXN_SPACE, k.quorum);
    this.records = new ChosenSlots(allocSpaceOf(TXN_SPACE), k.quorum);
  }

  get operations(): number {
    return this.registry.size;
  }

  begin(): void {
    for (let i = 0; i < this.o.participants; i++) {
      const p = new SimParticipant(this, `p${i}`, Array.from({ length: this.o.accountsPerParticipant }, (_, a) => `p${i}a${a}`));
      this.parts.push(p);
      p.spawn();
    }
    for (let c = 0; c < this.o.coordinators; c++) this.k.later(this.k.prng.int(30), () => new SimCoordinator(this, c, this.o.txnsPerCoordinator, this.parts).start());
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

  private prepare(p: SimProcess, id: number, s: PrepareStep): void {
    const part = this.parts.find((x) => x.name === s.participant)!;
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
    const part = this.parts.find((x) => x.name === s.participant)!;
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
    const w = this.waits.get(p);
    if (space === TXN_SPACE && w && index >= w.from && index < w.to && !w.known.includes(index)) {
      this.waits.delete(p);
      this.k.procs.answer(p, w.id, new Map([[index, value]]));
    }
    if (space === TXN_SPACE) this.parts.find((x) => x.name === p.name)?.learned(p, index, value);
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

  started(txn: number, s: Started): void {
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
    // The committed state: every YES carries its participant's part of the transfer, so the total is unchanged.
    const bad: string[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const v = decodeVote(this.chosen.get(txn * this.o.segmentSize + i)!);
      const ops = v.kind === "yes" ? decodeOps(v.payload) : undefined;
      if (!ops || JSON.stringify(ops) !== JSON.stringify(started.ops[i])) bad.push(`transaction ${txn}: the YES of participant ${i} does not carry its ops`);
      for (const o of ops ?? []) total += o.delta;
    }
    if (total !== 0) bad.push(`transaction ${txn} committed a transfer of net ${total}: the bank's total changed`);
    return bad;
  }

  faults(): void {
    if (!this.k.prng.chance(this.o.faults.participantCrash)) return;
    const live = this.parts.filter((p) => p.proc);
    if (live.length === 0) return;
    const victim = this.k.prng.pick(live);
    this.k.record(`${victim.name} crashes`);
    this.k.procs.kill(victim.proc!);
  }

  healed(): void {
    for (const p of this.parts) if (!p.proc) p.spawn();
  }

  /** After the heal: resolve every transaction (force): each must decide, and agree with the rest. */
  final(): void {
    const proc = this.spawn("final", () => {});
    let left = this.registry.size;
    if (left === 0) this.finalDone = true;
    for (const [txn, s] of this.registry) {
      const ref = { space: TXN_SPACE, segmentSize: this.o.segmentSize, txn, record: s.record };
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
    for (const p of this.parts) {
      if (!p.ready) bad.push(`${p.name} never became ready after the heal`);
      const doubts = [...(p.core?.inDoubt.keys() ?? [])];
      if (doubts.length > 0) bad.push(`${p.name} is still in doubt on ${doubts.join(", ")} after the heal`);
      bad.push(...p.checkDisk());
      for (const [txn, s] of this.registry) {
        const outcome = this.observer.implied(String(txn));
        if (outcome === "committed" && s.record.participants.includes(p.name) && p.disk.decided.get(`${TXN_SPACE}:${txn}`) !== "committed") {
          bad.push(`${p.name} never applied committed transaction ${txn}`);
        }
      }
    }
    let total = 0;
    for (const p of this.parts) for (const b of p.disk.balances.values()) total += b;
    const opening = this.o.participants * this.o.accountsPerParticipant * this.o.balance;
    if (total !== opening) bad.push(`the bank holds ${total}, not the ${opening} it opened with`);
    return bad;
  }
}
