/**
 * Acceptor storage in memory (docs/ARCHITECTURE.md §7.8): the same port as storage-level.ts, for the in-memory
 * transport, tests and benchmarks of everything above the disk.
 *
 * The "disk" is a state image plus an identity. By default a commit is durable at once (one
 * microtask later). With `manualSync` a commit only lands in a volatile buffer, and its receipt
 * comes when the test calls `sync()`; `crash()` drops the volatile buffer, as a power cut would,
 * and fails the waiting commits. `failNextCommit` makes the next sync fail, like a failed fsync.
 * Reads answer from the durable image one microtask later.
 */
import { applyMutation, emptyAcceptor, type AcceptorState } from "../../paxos/acceptor.ts";
import { mintReceipt } from "../../paxos/held.ts";
import type { Mutation } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import type { SpaceName } from "../../paxos/messages.ts";
import {
  type AcceptorStorage,
  BLOCK_SIZE,
  type CommitDone,
  type Loaded,
  type NodeIdentity,
  type ReadDone,
  type SpaceCounts,
  assertLoadedState,
  blocksOfImage,
  copyMutation,
  countImage,
  readImage,
  residentMutationsOf,
} from "./storage.ts";

export interface MemoryStorageOptions {
  /** Commits wait for an explicit `sync()` (the test plays the disk). */
  readonly manualSync?: boolean;
  /** Addresses per block (default `BLOCK_SIZE`). */
  readonly blockSize?: number;
}

interface Pending {
  readonly batch: readonly Mutation[];
  readonly done: CommitDone;
}

export class MemoryStorage implements AcceptorStorage {
  private durable: AcceptorState = emptyAcceptor();
  private identity: NodeIdentity | undefined;
  private volatile: Pending[] = [];
  private batches = 0;
  private failure: Error | undefined;
  private closed = false;
  /** Commit calls that reached the disk (for tests and benchmarks). */
  commits = 0;

  /** Reads served (for tests). */
  reads = 0;
  readonly blockSize: number;

  constructor(private readonly options: MemoryStorageOptions = {}) {
    this.blockSize = options.blockSize ?? BLOCK_SIZE;
  }

  async load(): Promise<Loaded> {
    this.closed = false;
    assertLoadedState(this.durable);
    return { identity: this.identity, mutations: residentMutationsOf(this.durable) };
  }

  read(space: SpaceName, from: number, to: number, bytesMax: number, done: ReadDone): void {
    queueMicrotask(() => {
      if (this.closed) return done(new Error("memory storage is closed"));
      this.reads++;
      done(readImage(this.durable, space, from, to, this.blockSize, bytesMax));
    });
  }

  evicted(): void {}

  summary(space: SpaceName): SpaceCounts {
    return countImage(this.durable, space);
  }

  commit(batch: readonly Mutation[], done: CommitDone): void {
    if (this.closed) {
      queueMicrotask(() => done(new Error("memory storage is closed")));
      return;
    }
    if (batch.length === 0) {
      done(mintReceipt(this.batches));
      return;
    }
    // Copy now: what the caller does to its objects afterwards must not reach the "disk".
    this.volatile.push({ batch: batch.map(copyMutation), done });
    if (!this.options.manualSync) queueMicrotask(() => this.sync());
  }

  /** Make every volatile batch durable, in order, and hand out their receipts. */
  sync(): number {
    const pending = this.volatile;
    this.volatile = [];
    for (const p of pending) {
      if (this.failure) {
        p.done(this.failure);
        continue;
      }
      for (const m of p.batch) applyMutation(this.durable, m);
      this.commits++;
      p.done(mintReceipt(++this.batches));
    }
    this.failure = undefined;
    return pending.length;
  }

  /** Lose everything not yet synced; the waiting commits fail. */
  crash(): void {
    const pending = this.volatile;
    this.volatile = [];
    for (const p of pending) p.done(new Error("simulated crash: unsynced batch lost"));
  }

  /** The next `sync()` fails every waiting batch, as a failed fsync would. */
  failNextCommit(error = new Error("simulated fsync failure")): void {
    this.failure = error;
  }

  /** Batches waiting for `sync()`. */
  get unsynced(): number {
    return this.volatile.length;
  }

  async writeIdentity(id: NodeIdentity): Promise<void> {
    assert(!this.closed, "memory storage is closed");
    this.identity = { ...id };
  }

  async blocksWithState(space: SpaceName, fromBlock: number, max: number): Promise<readonly number[]> {
    return blocksOfImage(this.durable, space, this.blockSize, fromBlock, max);
  }

  /** Forget everything, as a wiped data directory would. */
  wipe(): void {
    this.crash();
    this.durable = emptyAcceptor();
    this.identity = undefined;
  }

  async close(): Promise<void> {
    this.crash();
    this.closed = true;
  }
}
