/**
 * The bank of the transaction world (worlds/txn.ts; docs/ARCHITECTURE.md §4.3):
 *  - participants (worlds/txn-shell.ts) over an account book (apps/txn/core/bank.ts), with a
 *    simulated store (`Disk`: what its synced batches made durable, written a few ms after each
 *    decision, in order; a crash loses what was not written yet);
 *  - transfers: m from an account of one participant to one of another (or 2m to two others).
 */
import { AccountBook, type Op, encodeOps } from "../../../apps/txn/core/bank.ts";
import type { Outcome } from "../../../apps/txn/core/outcome.ts";
import { type Decided, ParticipantCore } from "../../../apps/txn/core/participant.ts";
import type { TxnRecord } from "../../../apps/txn/core/record.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { Started, TxnHost, Workload } from "./txn-coordinator.ts";
import { SimShell } from "./txn-shell.ts";

/** A transfer a coordinator started: its record and each participant's ops. */
export interface BankStarted extends Started {
  readonly ops: readonly (readonly Op[])[];
}

/** What a participant's synced batches made durable. */
interface Disk {
  readonly balances: Map<string, number>;
  readonly decided: Map<string, Outcome>;
  scanFrom: number;
}

export class SimParticipant extends SimShell<readonly Op[]> {
  readonly disk: Disk;
  private persistAt = 0;

  constructor(
    private readonly bank: TxnHost<BankStarted>,
    name: string,
    readonly accounts: readonly string[],
  ) {
    super(bank, name);
    this.disk = { balances: new Map(accounts.map((a) => [a, bank.o.balance])), decided: new Map(), scanFrom: 0 };
  }

  protected get scanFrom(): number {
    return this.disk.scanFrom;
  }

  protected boot(proc: SimProcess): ParticipantCore<readonly Op[]> {
    const book = new AccountBook(new Map(this.disk.balances), new Map(this.disk.decided));
    return new ParticipantCore(this.config(4), book, (d) => this.decided(proc, book, d));
  }

  /** A decision: checked now; its batch reaches the disk a few ms later (in order), unless we crash first. */
  private decided(proc: SimProcess, book: AccountBook, d: Decided<readonly Op[]>): void {
    const h = this.bank;
    h.k.record(`${proc.label} decided ${d.txn} ${d.outcome}`);
    const started = h.registry.get(d.txn);
    if (started) h.k.check(h.observer.applied(String(d.txn), started.record.participants.length, proc.label, d.outcome));
    const balances = (d.part ?? []).map((o) => [o.account, book.balances.get(o.account)!] as const);
    this.persistAt = Math.max(this.persistAt, h.k.now + 1 + h.k.prng.int(4));
    h.k.later(this.persistAt - h.k.now, () => {
      if (proc !== this.proc) return;
      for (const [a, b] of balances) this.disk.balances.set(a, b);
      this.disk.decided.set(`${h.space}:${d.txn}`, d.outcome);
      this.disk.scanFrom = d.scanFrom;
      h.k.check(this.checkDisk());
    });
  }

  /** The store holds exactly the opening balances plus the committed transactions it recorded. */
  checkDisk(): string[] {
    const h = this.bank;
    const expected = new Map(this.accounts.map((a) => [a, h.o.balance]));
    for (const [key, outcome] of this.disk.decided) {
      const started = h.registry.get(Number(key.slice(h.space.length + 1)));
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

/** Transfers between two participants (sometimes three): m from one account to another (or 2m to two others). */
export function transfers(h: TxnHost<BankStarted>, parts: readonly SimParticipant[]): Workload<BankStarted> {
  return {
    next: () => {
      const prng = h.k.prng;
      const order = prng.shuffle([...parts]);
      const three = order.length >= 3 && prng.chance(0.25);
      const ps = order.slice(0, three ? 3 : 2);
      const m = 1 + prng.int(40);
      const account = (p: SimParticipant) => prng.pick(p.accounts);
      const ops = three ? [[{ account: account(ps[0]!), delta: -2 * m }], [{ account: account(ps[1]!), delta: m }], [{ account: account(ps[2]!), delta: m }]] : [[{ account: account(ps[0]!), delta: -m }], [{ account: account(ps[1]!), delta: m }]];
      return { participants: ps.map((p) => p.name), start: (record: TxnRecord) => ({ record, ops, payloads: ops.map(encodeOps) }) };
    },
  };
}
