/**
 * The in-repo participant: an account store on classic-level (the bank workload's accounts,
 * apps/txn/core/bank.ts), a participant core over its account book run by a participant shell
 * (participant-shell.ts: the restart scan, prepares, the coordinator's word, the watch and the
 * timers of what is in doubt; docs/ARCHITECTURE.md §4.3). What it must keep across a crash is
 * small, and written in synced batches (the decisions taken while one is written share the next):
 * the balances a commit changed, the decision (so a retried commit is not applied twice), and where
 * a restart must scan from. Its prepared state is its YES vote itself (the vote register holds the
 * ops), so a prepare costs no local write. A commit or an abort it is told of answers once the
 * decisions so far are durable; a batch that fails to be written makes it refuse every prepare.
 */
import { ClassicLevel } from "classic-level";
import type { WorClient } from "../../../wor/node/client.ts";
import { AccountBook, type Op } from "../core/bank.ts";
import type { Outcome } from "../core/outcome.ts";
import { type Decided, ParticipantCore } from "../core/participant.ts";
import type { Vote } from "../core/record.ts";
import type { PrepareRequest, TxnResult } from "../core/steps.ts";
import type { Participant } from "./participant.ts";
import { ParticipantShell, type ParticipantSettings, type ParticipantTimings } from "./participant-shell.ts";

export interface AccountStoreOptions extends ParticipantSettings, ParticipantTimings {
  readonly dir: string;
  readonly client: WorClient;
  /** Opening balances of a new store (a store that holds accounts keeps its own). */
  readonly accounts?: ReadonlyMap<string, number>;
}

type Db = ClassicLevel<string, string>;

export class AccountStore implements Participant {
  readonly name: string;
  private readonly shell: ParticipantShell<readonly Op[]>;
  private writes: Promise<void> = Promise.resolve();
  /** Decisions waiting for the next synced batch. */
  private queued: Decided<readonly Op[]>[] = [];
  private batches = 0;
  private closed = false;

  private constructor(
    private readonly o: AccountStoreOptions,
    private readonly db: Db,
    private readonly book: AccountBook,
    segmentSize: number,
  ) {
    this.name = o.name;
    const core = new ParticipantCore(ParticipantShell.config(o, segmentSize), book, (d) => this.persist(d));
    this.shell = new ParticipantShell(core, { ...o, durable: () => this.writes });
  }

  static async open(o: AccountStoreOptions): Promise<AccountStore> {
    const meta = await o.client.openSpace(o.space, "txn");
    const db: Db = new ClassicLevel<string, string>(o.dir, { keyEncoding: "utf8", valueEncoding: "utf8" });
    await db.open();
    try {
      const balances = new Map<string, number>();
      const decided = new Map<string, Outcome>();
      let scanFrom = 0;
      for await (const [k, v] of db.iterator()) {
        if (k.startsWith("b/")) balances.set(k.slice(2), Number(v));
        else if (k.startsWith("d/")) decided.set(k.slice(2), v as Outcome);
        else if (k === `s/${o.space}`) scanFrom = Number(v);
      }
      if (balances.size === 0 && o.accounts) {
        for (const [a, b] of o.accounts) balances.set(a, b);
        await db.batch([...o.accounts].map(([a, b]) => ({ type: "put" as const, key: `b/${a}`, value: String(b) })), { sync: true });
      }
      const store = new AccountStore(o, db, new AccountBook(balances, decided), meta.segmentSize);
      await store.shell.restart(scanFrom);
      return store;
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** The balances, as committed transactions left them. */
  get balances(): ReadonlyMap<string, number> {
    return this.book.balances;
  }

  /** The transactions this participant holds a YES in, undecided. */
  get inDoubt(): number[] {
    return this.shell.inDoubt;
  }

  /** The votes are being watched (some transaction was in doubt `watchAfterMs` without word). */
  get watching(): boolean {
    return this.shell.watching;
  }

  prepare(request: PrepareRequest): Promise<TxnResult<Vote>> {
    return this.shell.prepare(request);
  }

  /** Answers once the decision (and every one before it) is durable. */
  commit(space: string, txn: number): Promise<void> {
    return this.shell.commit(space, txn);
  }

  /** Answers once the decision (and every one before it) is durable. */
  abort(space: string, txn: number): Promise<void> {
    return this.shell.abort(space, txn);
  }

  /** Synced batches written so far: decisions share them under load. */
  get batchesWritten(): number {
    return this.batches;
  }

  /** Every decision so far is durable. */
  flushed(): Promise<void> {
    return this.writes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.shell.close();
    await this.writes;
    await this.db.close();
  }

  /**
   * Decisions are made durable in order, by self-clocking group commit: the decisions taken while
   * one synced batch is being written go together in the next (one fsync for all of them, as the
   * acceptors' group commit does), each in the batch with the balances it changed (as they are
   * when the batch is built: every decision applied so far is in it or in an earlier one), its
   * outcome, and the newest scan start.
   */
  private persist(d: Decided<readonly Op[]>): void {
    this.queued.push(d);
    if (this.queued.length > 1) return;
    this.writes = this.writes
      .then(() => this.writeQueued())
      .catch((e: unknown) => this.shell.fail(e as Error));
  }

  private writeQueued(): Promise<void> {
    const decided = this.queued;
    this.queued = [];
    this.batches++;
    const ops = new Map<string, string>();
    for (const d of decided) {
      for (const o of d.part ?? []) ops.set(`b/${o.account}`, String(this.book.balances.get(o.account)));
      ops.set(`d/${this.o.space}:${d.txn}`, d.outcome);
    }
    ops.set(`s/${this.o.space}`, String(decided.at(-1)!.scanFrom));
    return this.db.batch(
      [...ops].map(([key, value]) => ({ type: "put" as const, key, value })),
      { sync: true },
    );
  }
}
