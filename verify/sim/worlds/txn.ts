/**
 * The transaction world (docs/ARCHITECTURE.md §4.3, §5): a bank over WormTX (worlds/txn-protocol.ts:
 * the real participant, coordinator and recoverer cores as processes, every fault). Participants
 * hold accounts (an account book on a simulated store, worlds/txn-bank.ts); coordinators commit
 * transfers between accounts on different participants.
 *
 * Checks, besides the protocol's (worlds/txn-protocol.ts):
 *  - at every committed state (a transaction's last YES chosen), the YES votes carry exactly the
 *    transfer's ops, so the bank's total is unchanged;
 *  - after every batch a participant's store holds exactly its opening balances plus the committed
 *    transactions it recorded, none overdrawn;
 *  - after the heal: each store holding every committed transfer it is part of, the total unchanged.
 */
import type { Op } from "../../../apps/txn/core/bank.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type BankStarted, SimParticipant, transfers } from "./txn-bank.ts";
import { TXN_SPACE, TXN_WORLD_DEFAULTS, type TxnWorldOptions } from "./txn-options.ts";
import { TxnProtocolWorld, txnWorldDef } from "./txn-protocol.ts";

class TxnWorld extends TxnProtocolWorld<BankStarted, readonly Op[]> {
  private readonly parts: SimParticipant[] = [];

  constructor(k: Kernel, o: TxnWorldOptions) {
    super(k, o, TXN_SPACE);
  }

  begin(): void {
    for (let i = 0; i < this.o.participants; i++) {
      const p = new SimParticipant(this, `p${i}`, Array.from({ length: this.o.accountsPerParticipant }, (_, a) => `p${i}a${a}`));
      this.parts.push(p);
      this.shells.push(p);
      p.spawn();
    }
    this.startActors(transfers(this, this.parts));
  }

  /** The committed state: every YES carries its participant's part of the transfer, so the total is unchanged. */
  protected committedState(txn: number, started: BankStarted): string[] {
    const total = started.ops.flat().reduce((n, o) => n + o.delta, 0);
    return total === 0 ? [] : [`transaction ${txn} committed a transfer of net ${total}: the bank's total changed`];
  }

  protected settled(): string[] {
    const bad: string[] = [];
    for (const p of this.parts) {
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

export const txnWorld = txnWorldDef(TXN_SPACE, TxnWorld, {
  layer: "txn",
  title: "transactions: a bank over WormTX, participants and coordinators crashing at every step",
  defaults: TXN_WORLD_DEFAULTS,
  buggifySalt: 0x27d4eb2f,
});
