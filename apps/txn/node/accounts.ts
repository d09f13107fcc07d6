/**
 * The in-repo participant: an account store on classic-level (the bank workload's accounts), running
 * the participant core (apps/txn/core/participant.ts). What it must keep across a crash is small,
 * and written in one synced batch per decision: the balances a commit changed, the decision (so a
 * retried commit is not applied twice), and where a restart must scan from. Its prepared state is
 * its YES vote itself (the vote register holds the ops), so a prepare costs no local write.
 *
 * It learns outcomes three ways: the coordinator's word (`commit`, `abort`), a watch of the votes
 * (pushed as acceptors learn them), and by reading them itself: once `catchUpMs` after it entered
 * doubt (a vote pushed before it voted was not for a transaction it was in), and, still in doubt
 * `graceMs` after the deadline, by resolving the transaction. Opening a store runs the restart scan
 * first (core `restart`).
 */
import { ClassicLevel } from "classic-level";
import type { WorClient } from "../../../wor/node/client.ts";
import type { WatchFeed } from "../../../wor/node/watch-feed.ts";
import { AccountBook } from "../core/bank.ts";
import type { Outcome } from "../core/outcome.ts";
import { type Decided, ParticipantCore } from "../core/participant.ts";
import type { Vote } from "../core/record.ts";
import type { PrepareRequest, TxnResult } from "../core/steps.ts";
import { runTxn } from "./driver.ts";
import type { Participant } from "./participant.ts";
import { TxnError } from "./txn-error.ts";

export interface AccountStoreOptions {
  readonly name: string;
  readonly dir: string;
  readonly client: WorClient;
  /** The transaction space this participant serves. */
  readonly space: string;
  /** Opening balances of a new store (a store that holds accounts keeps its own). */
  readonly accounts?: ReadonlyMap<string, number>;
  /** Learn outcomes by watching the votes (default true). */
  readonly watch?: boolean;
  /** Past a transaction's deadline, leave its coordinator this long before resolving it (default 200 ms). */
  readonly graceMs?: number;
  /** In doubt this long (default 100 ms), read the votes once: ones pushed before we voted were missed. */
  readonly catchUpMs?: number;
  readonly retryMs?: number;
  readonly preemptRetriesMax?: number;
  readonly slackBlocks?: number;
}

type Db = ClassicLevel<string, string>;

const RESTART_ATTEMPTS_MAX = 5;

export class AccountStore implements Participant {
  readonly name: string;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private writes: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private feed: WatchFeed | undefined;
  private closed = false;

  private constructor(
    private readonly o: AccountStoreOptions,
    private readonly db: Db,
    private readonly core: ParticipantCore,
  ) {
    this.name = o.name;
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
      let store: AccountStore | undefined;
      const cfg = {
        name: o.name,
        space: o.space,
        segmentSize: meta.segmentSize,
        retryMs: o.retryMs ?? 20,
        preemptRetriesMax: o.preemptRetriesMax ?? 8,
        slackBlocks: o.slackBlocks ?? 16,
      };
      const core = new ParticipantCore(cfg, new AccountBook(balances, decided), (d) => store!.persist(d));
      store = new AccountStore(o, db, core);
      for (let attempt = 1; ; attempt++) {
        try {
          await runTxn(core.restart(scanFrom), o.client);
          break;
        } catch (e) {
          if (attempt >= RESTART_ATTEMPTS_MAX) throw e;
        }
      }
      await store.writes;
      if (o.watch ?? true) store.follow();
      store.arm();
      return store;
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** The balances, as committed transactions left them. */
  get balances(): ReadonlyMap<string, number> {
    return this.core.book.balances;
  }

  /** The transactions this participant holds a YES in, undecided. */
  get inDoubt(): number[] {
    return [...this.core.inDoubt.keys()];
  }

  async prepare(request: PrepareRequest): Promise<TxnResult<Vote>> {
    if (this.failure) return { ok: false, failure: { code: "internal", message: `participant ${this.name}: ${this.failure.message}` } };
    try {
      return { ok: true, value: await runTxn(this.core.prepare(request), this.o.client) };
    } catch (e) {
      if (e instanceof TxnError) return { ok: false, failure: e.failure };
      throw e;
    } finally {
      this.arm();
    }
  }

  commit(space: string, txn: number): Promise<void> {
    return this.told(space, txn, "committed");
  }

  abort(space: string, txn: number): Promise<void> {
    return this.told(space, txn, "aborted");
  }

  private told(space: string, txn: number, outcome: Outcome): Promise<void> {
    if (space === this.o.space) this.core.notified(txn, outcome);
    return this.writes;
  }

  /** Every decision so far is durable. */
  flushed(): Promise<void> {
    return this.writes;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.feed?.return();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.writes;
    await this.db.close();
  }

  /** One synced batch per decision, in order: the balances it changed (as they are now), its outcome, the scan start. */
  private persist(d: Decided): void {
    const ops = [
      ...d.ops.map((o) => ({ type: "put" as const, key: `b/${o.account}`, value: String(this.core.book.balances.get(o.account)) })),
      { type: "put" as const, key: `d/${this.o.space}:${d.txn}`, value: d.outcome },
      { type: "put" as const, key: `s/${this.o.space}`, value: String(d.scanFrom) },
    ];
    this.writes = this.writes
      .then(() => this.db.batch(ops, { sync: true }))
      .catch((e: unknown) => {
        this.failure ??= e as Error;
      });
  }

  /** Follow the votes: a push may decide a transaction we are in doubt about. */
  private follow(): void {
    const feed = (this.feed = this.o.client.watch(this.o.space, this.core.scanFrom * this.core.cfg.segmentSize));
    void (async () => {
      try {
        for await (const w of feed) {
          this.core.pushed(w.index, w.value);
          this.arm();
        }
      } catch {
        // The feed fell behind, or the client lost its links: watch again from where we are.
      }
      if (!this.closed) setTimeout(() => this.closed || this.follow(), this.o.retryMs ?? 20);
    })();
  }

  /** A timer per transaction in doubt: read its votes `catchUpMs` later; resolve it `graceMs` past its deadline. */
  private arm(): void {
    for (const txn of this.core.inDoubt.keys()) if (!this.timers.has(txn)) this.later(txn, this.o.catchUpMs ?? 100);
  }

  private later(txn: number, ms: number): void {
    if (!this.closed) this.timers.set(txn, setTimeout(() => void this.settle(txn), ms));
  }

  private async settle(txn: number): Promise<void> {
    try {
      // Before the deadline this only reads the votes; past it, it resolves the transaction.
      await runTxn(this.core.resolveDoubt(txn), this.o.client);
    } catch {
      // Not now (no quorum, contended): again later.
    }
    const doubt = this.core.inDoubt.get(txn);
    if (!doubt) {
      this.timers.delete(txn);
      return;
    }
    this.later(txn, Math.max(10 * (this.o.retryMs ?? 20), doubt.deadline + (this.o.graceMs ?? 200) - Date.now()));
  }
}
