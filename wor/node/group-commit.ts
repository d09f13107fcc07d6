/**
 * Self-clocking group commit (docs/ARCHITECTURE.md §3.3): every submission that arrives while a batch is being
 * synced joins the next batch, so one fsync serves everything that queued behind it. There is no
 * linger timer: the disk's own latency sets the batch size.
 *
 * Idle disk: a submission that finds nothing in flight would otherwise sync alone, and what other
 * sessions sent with it (a transaction's record and votes, each owner-written by its own client)
 * would wait a whole second sync. Given `nextTurn` (the node: `setImmediate`, after the turn's
 * input), that batch waits while submissions keep arriving turn after turn: at least one more turn,
 * at most `idleTurnsMax`, never a time. Without it (the simulator, unit tests) it starts at once.
 *
 * Ordering: callbacks fire in submission order, each only after the batch holding its mutations
 * (and every earlier batch) is durable. A submission without mutations fires at once when nothing
 * is queued or in flight (there is nothing it could depend on), and otherwise waits its turn: the
 * reply it carries may report state that an in-flight batch is still making durable.
 *
 * A commit failure is fatal: after a failed fsync the disk state is unknown, so no callback fires
 * again, every later submission is dropped, and `onFatal` tells the owner to stop the node.
 *
 * There is no `await` here: the storage port's commit takes a callback (storage.ts), so the same
 * code runs on a real disk and in the simulator, whose simulated disk completes a commit inside one
 * event on virtual time (verify/sim/kernel/sim-storage.ts).
 */
import { mintReceipt, type Receipt } from "../../paxos/held.ts";
import type { Mutation } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { planted } from "../../verify/runtime/planted.ts";
import type { AcceptorStorage } from "./storage.ts";

const GROUP_COMMIT_LIMITS = Object.freeze({
  /** Mutations in one storage commit; a larger backlog is split at submission boundaries. */
  batchMutationsMax: 16_384,
  /** Turns a batch that found the disk idle waits for more submissions (with `nextTurn`). */
  idleTurnsMax: 8,
});

/** Counters for benchmarks: how well batching works. */
export class GroupCommitCounters {
  submissions = 0;
  commits = 0;
  mutations = 0;
  /** Batches that needed no disk write. */
  freeBatches = 0;
  /** Batches that carried more than one submission (what group commit is for). */
  batched = 0;
  /** Batches that found the disk idle and waited turns for more submissions. */
  lingered = 0;
  largestBatch = 0;
  /** histogram[k] = commits whose mutation count had bit length k (1, 2-3, 4-7, ...). */
  readonly histogram: number[] = [];

  record(mutations: number): void {
    this.commits++;
    this.mutations += mutations;
    this.largestBatch = Math.max(this.largestBatch, mutations);
    const k = 32 - Math.clz32(mutations);
    this.histogram[k] = (this.histogram[k] ?? 0) + 1;
  }
}

export interface GroupCommitOptions {
  readonly batchMutationsMax?: number;
  /** Called once when a commit fails; the node must stop. */
  readonly onFatal?: (error: unknown) => void;
  /** Called after the callbacks of one batch fired (lets the owner flush what they produced). */
  readonly afterBatch?: () => void;
  readonly counters?: GroupCommitCounters;
  /** Run a function after the current turn's input (Node: `setImmediate`); see "Idle disk" above. */
  readonly nextTurn?: (run: () => void) => void;
}

interface Submission {
  readonly mutations: readonly Mutation[];
  readonly onDurable: (r: Receipt) => void;
}

export class GroupCommit {
  readonly counters: GroupCommitCounters;
  private readonly queue: Submission[] = [];
  private inFlight = false;
  /** Callbacks of a batch are running: a submission now must queue, not jump ahead of them. */
  private firing = false;
  private lastReceipt: Receipt | undefined;
  private fatal: unknown;
  private failed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly batchMax: number;
  /** A batch that found the disk idle is waiting turns for more submissions. */
  private lingering = false;

  constructor(
    private readonly storage: Pick<AcceptorStorage, "commit">,
    private readonly options: GroupCommitOptions = {},
  ) {
    this.counters = options.counters ?? new GroupCommitCounters();
    this.batchMax = options.batchMutationsMax ?? GROUP_COMMIT_LIMITS.batchMutationsMax;
    assert(Number.isSafeInteger(this.batchMax) && this.batchMax > 0, "batchMutationsMax must be a positive integer");
  }

  /** The error of the failed commit, once one failed. */
  get failure(): unknown {
    return this.failed ? this.fatal : undefined;
  }

  get busy(): boolean {
    return this.inFlight || this.lingering || this.queue.length > 0;
  }

  submit(mutations: readonly Mutation[], onDurable: (r: Receipt) => void): void {
    if (this.failed) return;
    this.counters.submissions++;
    if (planted("replyBeforePersist") && mutations.length > 0) {
      // PLANTED BUG (verify/runtime/planted.ts): the callback runs before its mutations are durable.
      this.queue.push({ mutations, onDurable: () => {} });
      onDurable(this.lastReceipt ?? mintReceipt(0));
      this.options.afterBatch?.();
      if (!this.firing) this.next();
      return;
    }
    if (mutations.length === 0 && (!this.busy || planted("readAheadOfSync")) && !this.firing && this.lastReceipt) {
      this.counters.freeBatches++;
      onDurable(this.lastReceipt);
      this.options.afterBatch?.();
      return;
    }
    this.queue.push({ mutations, onDurable });
    if (this.firing || this.lingering) return;
    if (this.options.nextTurn && !this.inFlight && this.queue.length === 1 && mutations.length > 0) this.linger(1, 1);
    else this.next();
  }

  /**
   * Wait for the end of this turn, then one more turn's input, and more while the last turn brought
   * submissions (`seen` were queued before it), then start the batch.
   */
  private linger(seen: number, turns: number): void {
    if (turns === 1) this.counters.lingered++;
    this.lingering = true;
    this.options.nextTurn!(() => {
      const again = turns === 1 || this.queue.length > seen;
      if (again && turns < GROUP_COMMIT_LIMITS.idleTurnsMax) return this.linger(this.queue.length, turns + 1);
      this.lingering = false;
      this.next();
    });
  }

  /** Resolves once everything submitted so far has been made durable (or the group failed). */
  idle(): Promise<void> {
    if (!this.busy || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Take the next batch: a prefix of the queue within the size limit (at least one submission). */
  private next(): void {
    if (this.inFlight || this.failed || this.queue.length === 0) return;
    let count = 0;
    let size = 0;
    while (count < this.queue.length) {
      const n = this.queue[count]!.mutations.length;
      if (count > 0 && size + n > this.batchMax) break;
      count++;
      size += n;
    }
    // A batch with nothing to write completes synchronously: it must not overtake the callbacks
    // of the batch being released right now. It runs right after them.
    if (size === 0 && this.firing) return;
    const batch = this.queue.splice(0, count);
    if (count > 1) this.counters.batched++;
    this.inFlight = true;
    if (size === 0 && this.lastReceipt) {
      this.counters.freeBatches++;
      this.durable(batch, this.lastReceipt);
      return;
    }
    const all: Mutation[] = [];
    for (const s of batch) for (const m of s.mutations) all.push(m);
    this.commitChunks(all, 0, (receipt) => this.durable(batch, receipt));
  }

  /**
   * Commit `all` from `at` on: one commit, or several in order when a single submission alone
   * exceeds the limit. Splitting one step's mutations across synced batches is safe: each mutation
   * is a monotone acceptor fact on its own, and no callback runs before the last chunk is durable.
   */
  private commitChunks(all: readonly Mutation[], at: number, durable: (r: Receipt) => void): void {
    const chunk = at === 0 && all.length <= this.batchMax ? all : all.slice(at, at + this.batchMax);
    const end = at + chunk.length;
    this.counters.record(chunk.length);
    try {
      this.storage.commit(chunk, (result) => {
        if (result instanceof Error) this.fail(result);
        else if (this.failed) return;
        else if (end < all.length) this.commitChunks(all, end, durable);
        else durable(result);
      });
    } catch (error) {
      // A storage that throws instead of calling back failed all the same.
      this.fail(error);
    }
  }

  /** A batch is durable: start the next one, then run its callbacks in submission order. */
  private durable(batch: readonly Submission[], receipt: Receipt): void {
    assert(!this.firing, "a commit completed while a batch's callbacks were running");
    this.lastReceipt = receipt;
    this.inFlight = false;
    this.firing = true;
    // Start the next fsync before running callbacks: the disk works while replies go out.
    this.next();
    try {
      for (const s of batch) s.onDurable(receipt);
      this.options.afterBatch?.();
    } catch (error) {
      // An assertion failure in the owner's callback is a crash like any other.
      this.fail(error);
      return;
    } finally {
      this.firing = false;
    }
    this.next();
    if (!this.busy) for (const w of this.idleWaiters.splice(0)) w();
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.fatal = error;
    this.queue.length = 0;
    for (const w of this.idleWaiters.splice(0)) w();
    this.options.onFatal?.(error);
  }
}
