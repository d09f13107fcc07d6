/**
 * A participant of the simulator's transaction worlds (docs/ARCHITECTURE.md §4.3), what
 * apps/txn/node/participant-shell.ts is on a node: the real participant core
 * (apps/txn/core/participant.ts) over its owner's book, in a process, each life a fresh incarnation
 * after a crash. A new life runs the restart scan first (from the scan start its owner persisted),
 * then serves prepares, watches the votes, and reads or resolves what it is in doubt about (a
 * catch-up read, then past the deadline). Its owner (the bank's accounts, worlds/txn-bank.ts; a KV
 * partition, worlds/kvtxn-partition.ts) brings the book, its disk and what it does with decisions.
 */
import type { Outcome } from "../../../apps/txn/core/outcome.ts";
import type { ParticipantConfig, ParticipantCore } from "../../../apps/txn/core/participant.ts";
import type { Vote } from "../../../apps/txn/core/record.ts";
import type { PrepareRequest, TxnResult } from "../../../apps/txn/core/steps.ts";
import type { SimProcess } from "../kernel/process.ts";
import { SIM_RECOVER, type TxnHost } from "./txn-coordinator.ts";

export abstract class SimShell<P> {
  proc: SimProcess | undefined;
  core: ParticipantCore<P> | undefined;
  /** The restart scan is done (and whatever the owner does after it): prepares are served. */
  ready = false;
  private readonly timers = new Set<number>();

  constructor(
    protected readonly h: TxnHost,
    readonly name: string,
  ) {}

  /** A new life's core on `proc`, over a book on what the owner's disk holds. */
  protected abstract boot(proc: SimProcess): ParticipantCore<P>;
  /** Where a new life's restart scans from (persisted). */
  protected abstract get scanFrom(): number;

  /** The core's configuration, as the worlds run it. */
  protected config(slackBlocks: number): ParticipantConfig {
    return { name: this.name, space: this.h.space, segmentSize: this.h.o.segmentSize, slackBlocks, ...SIM_RECOVER };
  }

  /** The restart scan of life `proc` ended: `serve` once it may serve (the default: at once). */
  protected restarted(_proc: SimProcess, serve: () => void): void {
    serve();
  }

  /** Before the core votes on `req`: `vote`, or answer `refuse` without voting (the default: vote). */
  protected admit(_proc: SimProcess, _req: PrepareRequest, vote: () => void, _refuse: (r: TxnResult<Vote>) => void): void {
    vote();
  }

  /** The core answered `r` to `req` (before the coordinator hears it). */
  protected voted(_req: PrepareRequest, _r: TxnResult<Vote>): void {}

  /** Life `proc` crashed: what it held in memory is gone. */
  protected lost(_proc: SimProcess): void {}

  spawn(): void {
    const proc = this.h.spawn(this.name, () => this.died(proc));
    const core = this.boot(proc);
    this.proc = proc;
    this.core = core;
    this.ready = false;
    this.timers.clear();
    this.restart(proc, core);
  }

  private restart(proc: SimProcess, core: ParticipantCore<P>): void {
    this.h.run(proc, core.restart(this.scanFrom), (r) => {
      if (!r.ok) {
        this.h.k.later(30, () => proc.alive && this.restart(proc, core));
        return;
      }
      this.restarted(proc, () => {
        if (proc !== this.proc) return;
        this.ready = true;
        this.h.k.record(`${proc.label} restarted from ${this.scanFrom}: in doubt on [${[...core.inDoubt.keys()].join(" ")}], scan from ${core.scanFrom}`);
        this.h.k.procs.watch(proc, this.h.space, core.scanFrom * this.h.o.segmentSize);
        this.arm();
      });
    });
  }

  private died(proc: SimProcess): void {
    if (this.proc !== proc) return;
    this.proc = undefined;
    this.core = undefined;
    this.ready = false;
    this.lost(proc);
    if (!this.h.k.healed) this.h.k.later(20 + this.h.k.prng.int(200), () => this.proc || this.spawn());
  }

  prepare(req: PrepareRequest, answer: (r: TxnResult<Vote>) => void): void {
    const { proc, core } = this;
    if (!this.ready || !proc || !core) {
      this.h.k.record(`${this.name} not serving: prepare ${req.txn} dropped`);
      return;
    }
    const vote = () =>
      this.h.run(proc, core.prepare(req), (r) => {
        this.h.k.record(`${proc.label} voted in ${req.txn}: ${r.ok ? `${r.value.kind}${r.value.participant === undefined ? " (forced)" : ""}` : r.failure.code}`);
        this.voted(req, r);
        answer(r);
        this.arm();
      });
    this.admit(proc, req, vote, answer);
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

  private settle(proc: SimProcess, core: ParticipantCore<P>, txn: number): void {
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
}
