/** A bank on an in-memory cluster: a transaction space, account stores in temp dirs, a coordinator. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { encodeOps } from "../../../apps/txn/core/bank.ts";
import { claimBlock } from "../../../apps/txn/core/blocks.ts";
import { encodeRecord } from "../../../apps/txn/core/record.ts";
import type { PrepareRequest } from "../../../apps/txn/core/steps.ts";
import { AccountStore } from "../../../apps/txn/node/accounts.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import { runTxn } from "../../../apps/txn/node/driver.ts";
import { localParticipants } from "../../../apps/txn/node/participant.ts";
import { MemoryCluster } from "../../wor/memory-cluster.ts";

export const SPACE = "bank";

export class Bank {
  readonly stores = new Map<string, AccountStore>();
  private constructor(
    readonly cluster: MemoryCluster,
    readonly dir: string,
  ) {}

  static async start(t: TestContext, participants: number): Promise<Bank> {
    const cluster = await MemoryCluster.start();
    const dir = await mkdtemp(join(tmpdir(), "txn-"));
    const bank = new Bank(cluster, dir);
    t.after(async () => {
      await Promise.all([...bank.stores.values()].map((s) => s.close()));
      await cluster.close();
      await rm(dir, { recursive: true, force: true });
    });
    await TxnCoordinator.create(cluster.client().client, SPACE);
    for (let i = 0; i < participants; i++) await bank.open(`p${i}`);
    return bank;
  }

  /** Open (or reopen, after `crash`) participant `name`, holding account a<i> with 100 at first. */
  async open(name: string, o: { graceMs?: number; catchUpMs?: number; watchAfterMs?: number } = {}): Promise<AccountStore> {
    const s = await AccountStore.open({
      name,
      dir: join(this.dir, name),
      client: this.cluster.client().client,
      space: SPACE,
      accounts: new Map([[`a${name.slice(1)}`, 100]]),
      graceMs: o.graceMs ?? 50,
      ...(o.catchUpMs === undefined ? {} : { catchUpMs: o.catchUpMs }),
      ...(o.watchAfterMs === undefined ? {} : { watchAfterMs: o.watchAfterMs }),
    });
    this.stores.set(name, s);
    return s;
  }

  /** Stop a participant without telling anyone (its memory is lost; its store stays). */
  async crash(name: string): Promise<void> {
    await this.stores.get(name)!.close();
    this.stores.delete(name);
  }

  store(name: string): AccountStore {
    return this.stores.get(name)!;
  }

  coordinator(o: { timeoutMs?: number } = {}): TxnCoordinator {
    return new TxnCoordinator({ client: this.cluster.client().client, space: SPACE, participants: localParticipants(this.stores.values()), ...o });
  }

  /** A transaction number of a fresh block, as a coordinator that then dies would get it. */
  async freshTxn(): Promise<number> {
    return (await runTxn(claimBlock(SPACE, `dead-${Math.random()}`, 4), this.cluster.client().client)).first;
  }
}

/** Move `amount` from a<from> to a<to>: each participant's prepare request, by hand (no coordinator). */
export function transferRequests(txn: number, from: number, to: number, amount: number, deadline: number): PrepareRequest[] {
  const record = encodeRecord({ participants: [`p${from}`, `p${to}`], deadline, coordinator: "dead" });
  return [
    { space: SPACE, txn, index: 0, record, payload: encodeOps([{ account: `a${from}`, delta: -amount }]) },
    { space: SPACE, txn, index: 1, record, payload: encodeOps([{ account: `a${to}`, delta: amount }]) },
  ];
}

export const transferParts = (from: number, to: number, amount: number) => [
  { participant: `p${from}`, payload: encodeOps([{ account: `a${from}`, delta: -amount }]) },
  { participant: `p${to}`, payload: encodeOps([{ account: `a${to}`, delta: amount }]) },
];

/** Wait until `cond` holds (polling a test's view, not the protocol's). */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
