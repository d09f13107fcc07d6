/**
 * The in-repo participant: an account store on classic-level (the bank workload's accounts), running
 * the participant core (apps/txn/core/participant.ts). What it must keep across a crash is small,
 * and written in synced batches (the decisions taken while one is written share the next): the
 * balances a commit changed, the decision (so a retried commit is not applied twice), and where a
 * restart must scan from. Its prepared state is its YES vote itself (the vote register holds the
 * ops), so a prepare costs no local write.
 *
 * It learns outcomes three ways: the coordinator's word (`commit`, `abort`); a watch of the votes
 * (pushed as acceptors learn them), opened once a transaction has been in doubt `watchAfterMs`
 * without that word; and by reading them itself: once `catchUpMs` after it entered doubt, and,
 * still in doubt `graceMs` after the deadline, by resolving the transaction. Opening a store runs
 * the restart scan first (core `restart`).
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
  /** Watch the votes once a transaction has been in doubt this long without word from its coordinator (default 50 ms). */
  readonly watchAfterMs?: number;
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
  /** Each transaction we are in doubt about: when it entered doubt (so the first entry is the
   *  oldest), and its timer (read its votes `catchUpMs` later; resolve it `graceMs` past its deadline). */
  private readonly doubts = new Map<number, { readonly since: number; timer?: NodeJS.Timeout }>();
  private writes: Promise<void> = Promise.resolve();
  /** Decisions waiting for the next synced batch. */
  private queued: Decided[] = [];
  private batches = 0;
  private failure: Error | undefined;
  private feed: WatchFeed | undefined;
  /** The transaction the watch started at (it sees this one's votes and every later one's). */
  private watchFrom = 0;
  private watchTimer: NodeJS.Timeout | undefined;
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
    this.arm();
    return this.writes;
  }

  /** The votes are being watched (some transaction was in doubt `watchAfterMs` without word). */
  get watching(): boolean {
    return this.feed !== undefined;
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
    this.unwatch();
    for (const d of this.doubts.values()) clearTimeout(d.timer);
    this.doubts.clear();
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
  private persist(d: Decided): void {
    this.queued.push(d);
    if (this.queued.length > 1) return;
    this.writes = this.writes
      .then(() => this.writeQueued())
      .catch((e: unknown) => {
        this.failure ??= e as Error;
      });
  }

  private writeQueued(): Promise<void> {
    const decided = this.queued;
    this.queued = [];
    this.batches++;
    const ops = new Map<string, string>();
    for (const d of decided) {
      for (const o of d.ops) ops.set(`b/${o.account}`, String(this.core.book.balances.get(o.account)));
      ops.set(`d/${this.o.space}:${d.txn}`, d.outcome);
    }
    ops.set(`s/${this.o.space}`, String(decided.at(-1)!.scanFrom));
    return this.db.batch(
      [...ops].map(([key, value]) => ({ type: "put" as const, key, value })),
      { sync: true },
    );
  }

  /**
   * Timers for the transactions in doubt (each: read its votes `catchUpMs` later, resolve it
   * `graceMs` past its deadline), and the watch of the votes.
   */
  private arm(): void {
    const inDoubt = this.core.inDoubt;
    for (const txn of inDoubt.keys()) {
      if (this.doubts.has(txn)) continue;
      this.doubts.set(txn, { since: Date.now() });
      this.later(txn, this.o.catchUpMs ?? 100);
    }
    // Decided (the coordinator's word, a push): its read of the votes is not needed any more.
    for (const [txn, d] of this.doubts) {
      if (inDoubt.has(txn)) continue;
      clearTimeout(d.timer);
      this.doubts.delete(txn);
    }
    this.watchIfSilent();
  }

  /**
   * The coordinator's word is how a participant usually learns an outcome, within a round of its
   * vote; the watch is for a coordinator gone silent. So the votes are watched only while some
   * transaction has been in doubt `watchAfterMs` (from the oldest one's segment: a new watch
   * first delivers what is chosen there already, then each vote as it is chosen), and not once
   * nothing is in doubt: acceptors push each vote to the participants that need it, not to every
   * participant of the space.
   */
  private watchIfSilent(): void {
    if (!(this.o.watch ?? true) || this.closed) return;
    const first = this.doubts.values().next();
    if (first.done) {
      this.unwatch();
      return;
    }
    const oldestTxn = Math.min(...this.doubts.keys());
    if (this.feed && oldestTxn >= this.watchFrom) return;
    const waitMs = first.value.since + (this.o.watchAfterMs ?? 50) - Date.now();
    if (waitMs > 0) {
      this.watchTimer ??= setTimeout(() => {
        this.watchTimer = undefined;
        this.arm();
      }, waitMs);
      return;
    }
    this.unwatch();
    this.follow(oldestTxn);
  }

  /** Follow the votes from transaction `txn` on: a push may decide a transaction we are in doubt about. */
  private follow(txn: number): void {
    const feed = (this.feed = this.o.client.watch(this.o.space, txn * this.core.cfg.segmentSize));
    this.watchFrom = txn;
    void (async () => {
      try {
        for await (const w of feed) {
          this.core.pushed(w.index, w.value);
          this.arm();
        }
      } catch {
        // The feed fell behind, or the client lost its links: watch again if still in doubt.
      }
      if (this.feed !== feed) return;
      this.feed = undefined;
      if (!this.closed) setTimeout(() => this.closed || this.arm(), this.o.retryMs ?? 20);
    })();
  }

  private unwatch(): void {
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    const feed = this.feed;
    this.feed = undefined;
    feed?.return();
  }

  private later(txn: number, ms: number): void {
    const d = this.doubts.get(txn);
    if (d && !this.closed) d.timer = setTimeout(() => void this.settle(txn), ms);
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
      this.doubts.delete(txn);
      return;
    }
    this.later(txn, Math.max(10 * (this.o.retryMs ?? 20), doubt.deadline + (this.o.graceMs ?? 200) - Date.now()));
  }
}
