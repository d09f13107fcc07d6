/**
 * The coordinators and recoverers of the simulator's transaction worlds (docs/ARCHITECTURE.md §4.3;
 * worlds/txn.ts, a bank; worlds/kvtxn.ts, a KV across partitions), whatever their workload:
 *  - coordinators claim blocks and commit the transactions their workload makes
 *    (apps/txn/core/coordinator.ts); a crashed one is replaced by a new owner (new blocks), its
 *    transaction left to the others;
 *  - recoverers resolve transactions past their deadline (apps/txn/core/resolve.ts).
 */
import { TxnIds, claimBlock } from "../../../apps/txn/core/blocks.ts";
import { type Committed, commitTxn } from "../../../apps/txn/core/coordinator.ts";
import type { TxnObserver } from "../../../apps/txn/core/invariants.ts";
import type { TxnRecord } from "../../../apps/txn/core/record.ts";
import { type TxnRef, resolve } from "../../../apps/txn/core/resolve.ts";
import type { TxnGen, TxnResult } from "../../../apps/txn/core/steps.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { TxnWorldOptions } from "./txn-options.ts";

/** A transaction a coordinator started: its record and each participant's payload (and what its world keeps besides). */
export interface Started {
  readonly record: TxnRecord;
  readonly payloads: readonly Uint8Array[];
}

/** What the processes need from the world. */
export interface TxnHost<S extends Started = Started> {
  readonly k: Kernel;
  readonly o: TxnWorldOptions;
  /** The transaction space. */
  readonly space: string;
  readonly observer: TxnObserver;
  readonly registry: ReadonlyMap<number, S>;
  /** A coordinator starts transaction `txn` (votes a fence chose there before count from now). */
  started(txn: number, s: S): void;
  spawn(name: string, died: () => void): SimProcess;
  /** Run `gen` on `p` as an operation the heal phase must see finish (unless `p` dies). */
  run<T>(p: SimProcess, gen: TxnGen<T>, done: (value: T) => void): void;
}

/** What coordinators commit: a world's workload. */
export interface Workload<S extends Started> {
  /** The next transaction: its participants, and the transaction as the world keeps it once its record is made. */
  next(): { readonly participants: readonly string[]; start(record: TxnRecord): S };
  /** A coordinator's commit of `txn` returned `r`. */
  done?(txn: number, s: S, r: TxnResult<Committed>): void;
}

const recover = { preemptRetriesMax: 6, retryMs: 10 };

export class SimCoordinator<S extends Started> {
  private proc: SimProcess | undefined;
  private ids = new TxnIds();
  private owner = "";

  constructor(
    private readonly h: TxnHost<S>,
    private readonly index: number,
    private left: number,
    private readonly workload: Workload<S>,
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
      h.run(proc, claimBlock(h.space, this.owner, 4), (r) => {
        if (r.ok) this.ids.add(r.value);
        h.k.later(r.ok ? 0 : 30, () => this.next(proc));
      });
      return;
    }
    this.left--;
    const { participants, start } = this.workload.next();
    const record: TxnRecord = { participants, deadline: h.k.now + h.o.txnTimeoutMs, coordinator: this.owner };
    const s = start(record);
    h.started(txn, s);
    const cfg = { space: h.space, segmentSize: h.o.segmentSize, ...recover };
    h.run(proc, commitTxn(cfg, { txn, record, payloads: s.payloads }), (r) => {
      h.k.record(`${proc.label} transaction ${txn} (${participants.join(" ")}): ${r.ok ? r.value.outcome : r.failure.code}`);
      if (r.ok) {
        h.k.check(h.observer.decided(String(txn), participants.length, proc.label, r.value.outcome));
        h.k.outcome(`commit:${r.value.outcome}`);
        if (r.value.fenced) this.ids.abandon(txn);
      } else h.k.outcome(`commit:failed:${r.failure.code}`);
      this.workload.done?.(txn, s, r);
      h.k.later(h.k.prng.int(20), () => this.next(proc));
    });
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
    const ref: TxnRef = { space: h.space, segmentSize: h.o.segmentSize, txn, record: s.record };
    h.run(proc, resolve(ref, recover, false), (r) => {
      if (r.ok && r.value.outcome) h.k.check(h.observer.decided(String(txn), s.record.participants.length, proc.label, r.value.outcome));
      h.k.later(20 + h.k.prng.int(40), tick);
    });
  };
  h.k.later(h.k.prng.int(40), tick);
}

export { recover as SIM_RECOVER };
