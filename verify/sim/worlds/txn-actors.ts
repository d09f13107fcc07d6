/**
 * The transaction world's processes (worlds/txn.ts), each a fresh incarnation after a crash:
 *  - participants: the real participant core (apps/txn/core/participant.ts) over an account book,
 *    with a simulated store (`Disk`: what its synced batches made durable, written a few ms after
 *    each decision, in order; a crash loses what was not written yet). A new incarnation runs the
 *    restart scan first, then serves prepares, watches the votes, and reads or resolves what it is
 *    in doubt about (a catch-up read, then past the deadline);
 *  - coordinators: claim blocks and commit transfers (apps/txn/core/coordinator.ts); a crashed one
 *    is replaced by a new owner (new blocks), its transaction left to the others;
 *  - recoverers: resolve transactions past their deadline.
 */
import { AccountBook, type Op, encodeOps } from "../../../apps/txn/core/bank.ts";
import { TxnIds, claimBlock } from "../../../apps/txn/core/blocks.ts";
import { commitTxn } from "../../../apps/txn/core/coordinator.ts";
import type { TxnObserver } from "../../../apps/txn/core/invariants.ts";
import type { Outcome } from "../../../apps/txn/core/outcome.ts";
import { type Decided, ParticipantCore } from "../../../apps/txn/core/participant.ts";
import type { TxnRecord, Vote } from "../../../apps/txn/core/record.ts";
import { type TxnRef, resolve } from "../../../apps/txn/core/resolve.ts";
import type { PrepareRequest, TxnGen, TxnResult } from "../../../apps/txn/core/steps.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import { TXN_SPACE, type TxnWorldOptions } from "./txn-options.ts";

/** A transaction a coordinator started: its record and each participant's ops. */
export interface Started {
  readonly record: TxnRecord;
  readonly ops: readonly (readonly Op[])[];
}

/** What the processes need from the world. */
export interface TxnHost {
  readonly k: Kernel;
  readonly o: TxnWorldOptions;
  readonly observer: TxnObserver;
  readonly registry: ReadonlyMap<number, Started>;
  /** A coordinator starts transaction `txn` (votes a fence chose there before count from now). */
  started(txn: number, s: Started): void;
  spawn(name: string, died: () => void): SimProcess;
  /** Run `gen` on `p` as an operation the heal phase must see finish (unless `p` dies). */
  run<T>(p: SimProcess, gen: TxnGen<T>, done: (value: T) => void): void;
}

const recover = { preemptRetriesMax: 6, retryMs: 10 };

/** What a participant's synced batches made durable. */
interface Disk {
  readonly balances: Map<string, number>;
  readonly decided: Map<string, Outcome>;
  scanFrom: number;
}

export class SimParticipant {
  proc: SimProcess | undefined;
  core: ParticipantCore<readonly Op[]> | undefined;
  ready = false;
  readonly disk: Disk;
  private readonly timers = new Set<number>();
  private persistAt = 0;

  constructor(
    private readonly h: TxnHost,
    readonly name: string,
    readonly accounts: readonly string[],
  ) {
    this.disk = { balances: new Map(accounts.map((a) => [a, h.o.balance])), decided: new Map(), scanFrom: 0 };
  }

  spawn(): void {
    const { h } = this;
    const proc = h.spawn(this.name, () => this.died(proc));
    const cfg = { name: this.name, space: TXN_SPACE, segmentSize: h.o.segmentSize, slackBlocks: 4, ...recover };
    const book = new AccountBook(new Map(this.disk.balances), new Map(this.disk.decided));
    const core = new ParticipantCore(cfg, book, (d) => this.decided(proc, book, d));
    this.proc = proc;
    this.core = core;
    this.ready = false;
    this.timers.clear();
    this.restart(proc, core);
  }

  private restart(proc: SimProcess, core: ParticipantCore<readonly Op[]>): void {
    this.h.run(proc, core.restart(this.disk.scanFrom), (r) => {
      if (!r.ok) {
        this.h.k.later(30, () => proc.alive && this.restart(proc, core));
        return;
      }
      this.ready = true;
      this.h.k.record(`${proc.label} restarted from ${this.disk.scanFrom}: in doubt on [${[...core.inDoubt.keys()].join(" ")}], scan from ${core.scanFrom}`);
      this.h.k.procs.watch(proc, TXN_SPACE, core.scanFrom * this.h.o.segmentSize);
      this.arm();
    });
  }

  private died(proc: SimProcess): void {
    if (this.proc !== proc) return;
    this.proc = undefined;
    this.core = undefined;
    this.ready = false;
    if (!this.h.k.healed) this.h.k.later(20 + this.h.k.prng.int(200), () => this.proc || this.spawn());
  }

  prepare(req: PrepareRequest, answer: (r: TxnResult<Vote>) => void): void {
    const { proc, core } = this;
    if (!this.ready || !proc || !core) {
      this.h.k.record(`${this.name} not serving: prepare ${req.txn} dropped`);
      return;
    }
    this.h.run(proc, core.prepare(req), (r) => {
      this.h.k.record(`${proc.label} voted in ${req.txn}: ${r.ok ? `${r.value.kind}${r.value.participant === undefined ? " (forced)" : ""}` : r.failure.code}`);
      answer(r);
      this.arm();
    });
  }

  notified(txn: number, outcome: Outcome): void {
    if (this.ready) this.core!.notified(txn, outcome);
  }

  learned(proc: SimProcess, index: number, value: Uint8Array): void {
    if (this.ready && proc === this.proc) this.core!.pushed(index, value);
  }

  /** A timer per transaction in doubt: a catch-up read soon, then a resolve past the deadline. */
  private arm(): void {
    const { proc, core } = this;
    if (!proc || !core) return;
    for (const txn of core.inDoubt.keys()) {
      if (this.timers.has(txn)) continue;
      this.timers.add(txn);
      this.h.k.later(this.h.o.catchUpMs, () => this.settle(proc, core, txn));
    }
  }

  private settle(proc: SimProcess, core: ParticipantCore<readonly Op[]>, txn: number): void {
    if (proc !== this.proc) return;
    this.h.run(proc, core.resolveDoubt(txn), () => {
      const d = core.inDoubt.get(txn);
      if (!d) {
        this.timers.delete(txn);
        return;
      }
      this.h.k.later(Math.max(20, d.deadline + this.h.o.graceMs - this.h.k.now), () => this.settle(proc, core, txn));
    });
  }

  /** A decision: checked now; its batch reaches the disk a few ms later (in order), unless we crash first. */
  private decided(proc: SimProcess, book: AccountBook, d: Decided<readonly Op[]>): void {
    const { h } = this;
    h.k.record(`${proc.label} decided ${d.txn} ${d.outcome}`);
    const started = h.registry.get(d.txn);
    if (started) h.k.check(h.observer.applied(String(d.txn), started.record.participants.length, proc.label, d.outcome));
    const balances = (d.part ?? []).map((o) => [o.account, book.balances.get(o.account)!] as const);
    this.persistAt = Math.max(this.persistAt, h.k.now + 1 + h.k.prng.int(4));
    h.k.later(this.persistAt - h.k.now, () => {
      if (proc !== this.proc) return;
      for (const [a, b] of balances) this.disk.balances.set(a, b);
      this.disk.decided.set(`${TXN_SPACE}:${d.txn}`, d.outcome);
      this.disk.scanFrom = d.scanFrom;
      h.k.check(this.checkDisk());
    });
  }

  /** The store holds exactly the opening balances plus the committed transactions it recorded. */
  checkDisk(): string[] {
    const expected = new Map(this.accounts.map((a) => [a, this.h.o.balance]));
    for (const [key, outcome] of this.disk.decided) {
      const started = this.h.registry.get(Number(key.slice(TXN_SPACE.length + 1)));
      const i = started?.record.participants.indexOf(this.name) ?? -1;
      if (outcome !== "committed" || i < 0) continue;
      for (const o of started!.ops[i]!) expected.set(o.account, expected.get(o.account)! + o.delta);
    }
    const bad: string[] = [];
    for (const [a, b] of expected) {
      const got = this.disk.balances.get(a);
      if (got !== b) bad.push(`${this.name}: account ${a} holds ${got} on disk, but its committed transactions make it ${b}`);
      if ((got ?? 0) < 0) bad.push(`${this.name}: account ${a} is overdrawn (${got})`);
    }
    return bad;
  }
}

export class SimCoordinator {
  private proc: SimProcess | undefined;
  private ids = new TxnIds();
  private owner = "";

  constructor(
    private readonly h: TxnHost,
    private readonly index: number,
    private left: number,
    private readonly parts: readonly SimParticipant[],
  ) {}

  start(): void {
    const proc = this.h.spawn(`c${this.index}`, () => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      probe("txn.coordinator.crashed");
      if (!this.h.k.healed) this.h.k.later(20 + this.h.k.prng.int(200), () => this.start());
    });
    this.proc = proc;
    this.owner = `c${this.index}-${proc.endpoint}`;
    this.ids = new TxnIds();
    this.next(proc);
  }

  private next(proc: SimProcess): void {
    const { h } = this;
    if (proc !== this.proc || h.k.healed || this.left <= 0) return;
    const txn = this.ids.take();
    if (txn === undefined) {
      h.run(proc, claimBlock(TXN_SPACE, this.owner, 4), (r) => {
        if (r.ok) this.ids.add(r.value);
        h.k.later(r.ok ? 0 : 30, () => this.next(proc));
      });
      return;
    }
    this.left--;
    const { participants, ops } = this.transfer();
    const record: TxnRecord = { participants, deadline: h.k.now + h.o.txnTimeoutMs, coordinator: this.owner };
    h.started(txn, { record, ops });
    const cfg = { space: TXN_SPACE, segmentSize: h.o.segmentSize, ...recover };
    h.run(proc, commitTxn(cfg, { txn, record, payloads: ops.map(encodeOps) }), (r) => {
      h.k.record(`${proc.label} transaction ${txn} (${participants.join(" ")}): ${r.ok ? r.value.outcome : r.failure.code}`);
      if (r.ok) {
        h.k.check(h.observer.decided(String(txn), participants.length, proc.label, r.value.outcome));
        h.k.outcome(`commit:${r.value.outcome}`);
        if (r.value.fenced) this.ids.abandon(txn);
      } else h.k.outcome(`commit:failed:${r.failure.code}`);
      h.k.later(h.k.prng.int(20), () => this.next(proc));
    });
  }

  /** Two participants (sometimes three): m from one account to another (or 2m to two others). */
  private transfer(): { participants: string[]; ops: Op[][] } {
    const prng = this.h.k.prng;
    const order = prng.shuffle([...this.parts]);
    const three = order.length >= 3 && prng.chance(0.25);
    const ps = order.slice(0, three ? 3 : 2);
    const m = 1 + prng.int(40);
    const account = (p: SimParticipant) => prng.pick(p.accounts);
    const ops = three ? [[{ account: account(ps[0]!), delta: -2 * m }], [{ account: account(ps[1]!), delta: m }], [{ account: account(ps[2]!), delta: m }]] : [[{ account: account(ps[0]!), delta: -m }], [{ account: account(ps[1]!), delta: m }]];
    return { participants: ps.map((p) => p.name), ops };
  }
}

/** Recoverer `index`: every few ms, resolve some transaction past its deadline. */
export function startRecoverer(h: TxnHost, index: number): void {
  const proc = h.spawn(`r${index}`, () => {});
  const tick = (): void => {
    if (h.k.healed || !proc.alive) return;
    const due = [...h.registry].filter(([, s]) => s.record.deadline < h.k.now);
    if (due.length === 0) return void h.k.later(20, tick);
    const [txn, s] = h.k.prng.pick(due);
    const ref: TxnRef = { space: TXN_SPACE, segmentSize: h.o.segmentSize, txn, record: s.record };
    h.run(proc, resolve(ref, recover, false), (r) => {
      if (r.ok && r.value.outcome) h.k.check(h.observer.decided(String(txn), s.record.participants.length, proc.label, r.value.outcome));
      h.k.later(20 + h.k.prng.int(40), tick);
    });
  };
  h.k.later(h.k.prng.int(40), tick);
}

export { recover as SIM_RECOVER };
