/**
 * A participant's node shell (docs/ARCHITECTURE.md §4.3): it runs a participant core
 * (apps/txn/core/participant.ts, over any `Book`) against the platform, whatever the book and its
 * storage (the account store, accounts.ts, is its first owner; the KV's partitions will be the
 * next). The owner makes decisions durable (the core's `onDecided`) and tells the shell when they
 * are (`durable`: a commit or an abort answers then) or that its storage failed (`fail`: prepares
 * are refused from then on).
 *
 * A new life first runs the restart scan (`restart`, retried a few times). Then the shell learns
 * outcomes three ways: the coordinator's word (`commit`, `abort`); a watch of the votes (pushed as
 * acceptors learn them), opened once a transaction has been in doubt `watchAfterMs` without that
 * word; and by reading them itself: once `catchUpMs` after it entered doubt, and, still in doubt
 * `graceMs` after the deadline, by resolving the transaction.
 */
import type { WorClient } from "../../../wor/node/client.ts";
import type { WatchFeed } from "../../../wor/node/watch-feed.ts";
import type { Outcome } from "../core/outcome.ts";
import type { ParticipantConfig, ParticipantCore } from "../core/participant.ts";
import type { Vote } from "../core/record.ts";
import type { PrepareRequest, TxnResult } from "../core/steps.ts";
import { runTxn } from "./driver.ts";
import type { Participant } from "./participant.ts";
import { TxnError } from "./txn-error.ts";

/** How a participant learns outcomes without its coordinator's word. */
export interface ParticipantTimings {
  /** Learn outcomes by watching the votes (default true). */
  readonly watch?: boolean;
  /** Watch the votes once a transaction has been in doubt this long without word from its coordinator (default 50 ms). */
  readonly watchAfterMs?: number;
  /** Past a transaction's deadline, leave its coordinator this long before resolving it (default 200 ms). */
  readonly graceMs?: number;
  /** In doubt this long (default 100 ms), read the votes once: ones pushed before we voted were missed. */
  readonly catchUpMs?: number;
  readonly retryMs?: number;
}

export interface ParticipantShellOptions extends ParticipantTimings {
  readonly client: WorClient;
  /** Settles once every decision taken so far is durable: a commit or an abort answers then (default: at once). */
  readonly durable?: () => Promise<void>;
}

/** What a participant's core is configured from (besides the space's segment size). */
export interface ParticipantSettings {
  readonly name: string;
  /** The transaction space this participant serves. */
  readonly space: string;
  readonly retryMs?: number;
  readonly preemptRetriesMax?: number;
  readonly slackBlocks?: number;
}

const RESTART_ATTEMPTS_MAX = 5;
const RETRY_MS = 20;

export class ParticipantShell<P> implements Participant {
  readonly name: string;
  /** Each transaction we are in doubt about: when it entered doubt (so the first entry is the
   *  oldest), and its timer (read its votes `catchUpMs` later; resolve it `graceMs` past its deadline). */
  private readonly doubts = new Map<number, { readonly since: number; timer?: NodeJS.Timeout }>();
  private failure: Error | undefined;
  private feed: WatchFeed | undefined;
  /** The transaction the watch started at (it sees this one's votes and every later one's). */
  private watchFrom = 0;
  private watchTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly core: ParticipantCore<P>,
    private readonly o: ParticipantShellOptions,
  ) {
    this.name = core.cfg.name;
  }

  /** A core's configuration: `s` with the defaults, in a space of `segmentSize`. */
  static config(s: ParticipantSettings, segmentSize: number): ParticipantConfig {
    return {
      name: s.name,
      space: s.space,
      segmentSize,
      retryMs: s.retryMs ?? RETRY_MS,
      preemptRetriesMax: s.preemptRetriesMax ?? 8,
      slackBlocks: s.slackBlocks ?? 16,
    };
  }

  /** A new life's first call: the restart scan from `scanFrom` (persisted), then the decisions it
   *  took made durable, then the timers of what it left in doubt. Throws after a few failed scans. */
  async restart(scanFrom: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await runTxn(this.core.restart(scanFrom), this.o.client);
        break;
      } catch (e) {
        if (attempt >= RESTART_ATTEMPTS_MAX) throw e;
      }
    }
    await this.durable();
    this.arm();
  }

  /** The owner's storage failed: prepares are refused from now on (the first failure is reported). */
  fail(e: Error): void {
    this.failure ??= e;
  }

  /** The transactions this participant holds a YES in, undecided. */
  get inDoubt(): number[] {
    return [...this.core.inDoubt.keys()];
  }

  /** The votes are being watched (some transaction was in doubt `watchAfterMs` without word). */
  get watching(): boolean {
    return this.feed !== undefined;
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

  /** Stop the timers and the watch (the owner closes its own storage). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    for (const d of this.doubts.values()) clearTimeout(d.timer);
    this.doubts.clear();
  }

  private durable(): Promise<void> {
    return this.o.durable?.() ?? Promise.resolve();
  }

  private told(space: string, txn: number, outcome: Outcome): Promise<void> {
    if (space === this.core.cfg.space) this.core.notified(txn, outcome);
    this.arm();
    return this.durable();
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
    const feed = (this.feed = this.o.client.watch(this.core.cfg.space, txn * this.core.cfg.segmentSize));
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
      if (!this.closed) setTimeout(() => this.closed || this.arm(), this.o.retryMs ?? RETRY_MS);
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
    this.later(txn, Math.max(10 * (this.o.retryMs ?? RETRY_MS), doubt.deadline + (this.o.graceMs ?? 200) - Date.now()));
  }
}
