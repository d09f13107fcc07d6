/**
 * The world of KV transactions across partitions (docs/ARCHITECTURE.md §4.5, §4.3, §5): 2 or 3
 * partitions of the example KV, each a participant of WormTX (worlds/kvtxn-partition.ts: the real
 * participant core over the real `PartitionBook`, reading the real `KvShardState`, with its log and
 * its shard's image on a simulated disk), and a bank across them (worlds/kvtxn-bank.ts): coordinators
 * (the real `commitTxn`) commit transfers between accounts, read as the partitions hold them, and
 * audits of every balance. Now and then a partition moves to a new node while its old one goes on
 * for a while as a zombie, reached by coordinators that have not heard (worlds/kvtxn-move.ts).
 * WormTX itself, with every fault of the transaction world (participant and coordinator crashes at
 * every step and at random, lost, duplicated and late messages, acceptor crashes and partitions), is
 * worlds/txn-protocol.ts's; so are its checks (an outcome anyone learns follows from the chosen
 * votes, and everyone learns the same).
 *
 * Checks of the KV, besides (worlds/kvtxn-ledger.ts, against the outcome the chosen votes imply):
 *  1. a partition's log holds commit entries only of committed transactions, with their part's
 *     ops; its shard applies each committed part once, no aborted one, none through a commit entry
 *     of a superseded map epoch, and in the end every one; each shard (one per node) holds its log's
 *     replay (apps/kv/core/invariants.ts's `KvObserver`: a commit entry applied once, a second one
 *     not, one of a superseded epoch not) after every apply;
 *  2. no balance is ever negative; an audit that commits read the opening total;
 *  3. after the heal: every partition serving, in doubt about nothing, its whole log applied, no
 *     append on its way, no lock held; the bank's total is the opening total.
 */
import type { KvTxn } from "../../../apps/kv/core/commands.ts";
import { KvObserver } from "../../../apps/kv/core/invariants.ts";
import { decodeEntry, encodeTxn } from "../../../apps/kv/core/records.ts";
import type { KvShardState } from "../../../apps/kv/core/shard-state.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type KvStarted, accountsOf, bankMap, kvBank, openingTxn } from "./kvtxn-bank.ts";
import { CommitLedger, balanceOf, totalProblem } from "./kvtxn-ledger.ts";
import { PartitionLog } from "./kvtxn-log.ts";
import { KvTxnMoves, type MoveHost } from "./kvtxn-move.ts";
import { KVTXN_SPACE, KVTXN_WORLD_DEFAULTS, type KvTxnWorldOptions } from "./kvtxn-options.ts";
import { SimPartition } from "./kvtxn-partition.ts";
import type { Workload } from "./txn-coordinator.ts";
import { TxnProtocolWorld, txnWorldDef } from "./txn-protocol.ts";

class KvTxnWorld extends TxnProtocolWorld<KvStarted, KvTxn> implements MoveHost {
  declare readonly o: KvTxnWorldOptions;
  readonly ledger = new CommitLedger((txn) => this.observer.implied(String(txn)));
  private readonly kv = new KvObserver();
  /** KvObserver violations reported so far. */
  private reported = 0;
  /** Each partition's newest node. */
  readonly partitions: SimPartition[] = [];
  private readonly moves = new KvTxnMoves(this);
  private opening = 0;
  /** The participants' `slackBlocks` in this run (drawn from the options'). */
  slackBlocks = 0;

  constructor(k: Kernel, o: KvTxnWorldOptions) {
    super(k, o, KVTXN_SPACE);
  }

  begin(): void {
    const { o } = this;
    const n = o.participantsMin + this.k.prng.int(o.participants - o.participantsMin + 1);
    this.slackBlocks = this.k.prng.pick(o.slackBlocks);
    this.opening = n * o.accountsPerParticipant * o.balance;
    for (let i = 0; i < n; i++) {
      // The log's first entry opens the accounts.
      const accounts = accountsOf(i, o.accountsPerParticipant);
      const p = new SimPartition(this, i, accounts, new PartitionLog(this, i, encodeTxn(openingTxn(accounts, o.balance))));
      this.partitions.push(p);
      this.shells.push(p);
      p.spawn();
    }
    // The bank's clients start once the partitions are likely up (their first restart scan, and the opening entry applied).
    const bank = kvBank(this, this.partitions, bankMap(n));
    const done: Workload<KvStarted>["done"] = (txn, s, r) => {
      bank.done?.(txn, s, r);
      this.moves.done(s, r);
    };
    this.startActors({ ...bank, done }, o.playerStartMs);
  }

  override started(txn: number, s: KvStarted): void {
    super.started(txn, s);
    this.ledger.started(txn, s.parts);
    this.moves.started(s.record.coordinator);
  }

  override faults(): void {
    super.faults();
    this.moves.tick();
  }

  override healed(): void {
    this.moves.healed();
    super.healed();
  }

  replace(old: SimPartition, fresh: SimPartition): void {
    this.partitions[this.partitions.indexOf(old)] = fresh;
    this.shells[this.shells.indexOf(old)] = fresh;
  }

  toOldNode(partition: number, epoch: number, txn: number): boolean {
    return this.moves.toOldNode(partition, epoch, txn);
  }

  supersededWhilePreparing(partition: number, txn: number): void {
    this.moves.supersededWhilePreparing(partition, txn);
  }

  logged(partition: number, position: number, bytes: Uint8Array): void {
    const decoded = decodeEntry(bytes);
    const e = decoded instanceof DecodeError ? undefined : decoded;
    this.kv.logged(partition, position, e);
    if (e?.kind === "owner") this.ledger.owner(partition, e.owner.epoch);
    if (e?.kind === "commit") this.k.check(this.ledger.landed(partition, position, e.commit, e.epoch));
    this.reportKv();
  }

  holds(partition: number, shard: string, state: KvShardState): void {
    this.kv.shardHolds(partition, shard, state.applied, state.revision, state.entries());
    this.reportKv();
  }

  private reportKv(): void {
    this.k.check(this.kvViolations());
  }

  /** The KvObserver's violations not reported yet. */
  private kvViolations(): string[] {
    const fresh = this.kv.violations.slice(this.reported);
    this.reported = this.kv.violations.length;
    return fresh;
  }

  /** An audit that commits saw every balance as it was, so their total is the bank's. */
  protected committedState(txn: number, s: KvStarted): string[] {
    const problem = s.total === undefined ? undefined : totalProblem(`audit ${txn} committed, having read a total of`, s.total, this.opening);
    return problem ? [problem] : [];
  }

  protected settled(): string[] {
    const bad = this.partitions.flatMap((p) => p.settled());
    if (bad.length > 0) return bad;
    let total = 0;
    for (const p of this.partitions) {
      this.kv.shardHolds(p.id, p.shardName, p.state!.applied, p.state!.revision, p.state!.entries());
      for (const key of p.accounts) total += balanceOf(p.read(key) ?? new Uint8Array()) ?? 0;
    }
    bad.push(...this.kvViolations());
    if (this.kv.waiting() > 0) bad.push(`${this.kv.waiting()} KV checks wait for log positions never reported`);
    const problem = totalProblem("the bank holds", total, this.opening);
    return problem ? [...bad, problem] : bad;
  }
}

export const kvTxnWorld = txnWorldDef(KVTXN_SPACE, KvTxnWorld, {
  layer: "kvtxn",
  title: "KV transactions across partitions: a bank over partitions voting in WormTX, every transaction fault",
  defaults: KVTXN_WORLD_DEFAULTS,
  buggifySalt: 0x1b873593,
});
