/**
 * The simulator's disk, behind the acceptor storage port (wor/node/storage.ts), so that the real
 * group commit and acceptor node (wor/node/group-commit.ts, acceptor-node.ts) run in simulation.
 *
 * A commit goes in flight and `started` tells the kernel, which schedules the disk's completion (a
 * `syncDone` event after a simulated latency). `syncDone` makes the batch durable, mints its
 * receipt and hands it to the group commit, all inside that one event: no microtask ever runs in
 * the simulator. A crash loses the batch in flight (the batch being formed is lost with the group
 * commit that holds it, which the crash drops with its node); what was synced stays, and a restart
 * loads it (`loaded`) synchronously: identity, spaces, trim marks and range promises only.
 *
 * A read (the node loading blocks it does not hold) likewise goes in flight and `readStarted`
 * tells the kernel, which schedules `readDone`: it answers from what was synced at that moment. A
 * crash voids a read in flight, as it voids a commit. Blocks are `blockSize` addresses, small in
 * simulation so that a node with a small cache evicts and reads again all the time.
 */
import { type AcceptorState, applyMutation, emptyAcceptor } from "../../../paxos/acceptor.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import type { Mutation, SpaceName } from "../../../paxos/messages.ts";
import {
  type AcceptorStorage,
  type CommitDone,
  type Loaded,
  type NodeIdentity,
  type ReadDone,
  type SpaceCounts,
  blocksOfImage,
  copyMutation,
  countImage,
  readImage,
  residentMutationsOf,
} from "../../../wor/node/storage.ts";
import { assert } from "../../runtime/assert.ts";

export class SimStorage implements AcceptorStorage {
  /** What was synced: every durable mutation applied, in order. */
  private readonly disk = emptyAcceptor();
  private inFlight: { readonly batch: readonly Mutation[]; readonly done: CommitDone } | undefined;
  private pendingRead: { readonly space: SpaceName; readonly from: number; readonly to: number; readonly bytesMax: number; readonly done: ReadDone } | undefined;
  private batches = 0;
  /** Incremented on each crash: a completion scheduled before it is void. */
  private crashes = 0;

  constructor(
    private identity: NodeIdentity,
    readonly blockSize: number,
    /** A commit went in flight: schedule its `syncDone(epoch)`. */
    private readonly started: () => void,
    /** A read went in flight: schedule its `readDone(epoch)`. */
    private readonly readStarted: () => void,
  ) {}

  /** What a restart loads: the identity and the mutations that rebuild what a node keeps resident. */
  loaded(): Loaded {
    return { identity: this.identity, mutations: residentMutationsOf(this.disk) };
  }

  read(space: SpaceName, from: number, to: number, bytesMax: number, done: ReadDone): void {
    assert(this.pendingRead === undefined, "the simulated disk got a second read while one was in flight");
    this.pendingRead = { space, from, to, bytesMax, done };
    this.readStarted();
  }

  /** The disk finished the read in flight (nothing when a crash voided it). */
  readDone(epoch: number): void {
    const r = this.pendingRead;
    if (epoch !== this.crashes || !r) return;
    this.pendingRead = undefined;
    r.done(readImage(this.disk, r.space, r.from, r.to, this.blockSize, r.bytesMax));
  }

  /** A commit is in flight. */
  get syncing(): boolean {
    return this.inFlight !== undefined;
  }

  /** A read is in flight. */
  get reading(): boolean {
    return this.pendingRead !== undefined;
  }

  evicted(): void {}

  summary(space: SpaceName): SpaceCounts {
    return countImage(this.disk, space);
  }

  load(): Promise<Loaded> {
    return Promise.resolve(this.loaded());
  }

  commit(batch: readonly Mutation[], done: CommitDone): void {
    if (batch.length === 0) {
      done(mintReceipt(this.batches));
      return;
    }
    assert(this.inFlight === undefined, "the simulated disk got a second commit while one was in flight");
    // Copied now, as a disk holds the bytes it was given: later changes to the objects never reach it.
    this.inFlight = { batch: batch.map(copyMutation), done };
    this.started();
  }

  /**
   * The disk finished the commit in flight: make it durable and hand its receipt to the committer.
   * Returns the mutations it made durable (the ghost's votes), or undefined for a completion that a
   * crash voided.
   */
  syncDone(epoch: number): readonly Mutation[] | undefined {
    const c = this.inFlight;
    if (epoch !== this.crashes || !c) return undefined;
    this.inFlight = undefined;
    for (const m of c.batch) applyMutation(this.disk, m);
    c.done(mintReceipt(++this.batches));
    return c.batch;
  }

  /** Power cut: the commit in flight is lost and never completes. Returns whether one was. */
  crash(): boolean {
    const lost = this.inFlight !== undefined;
    this.inFlight = undefined;
    this.pendingRead = undefined;
    this.crashes++;
    return lost;
  }

  /** Tags a scheduled completion: `syncDone` ignores one from before a crash. */
  get epoch(): number {
    return this.crashes;
  }

  /** The synced state (read only: the register invariants check acknowledged writes against it). */
  get durable(): AcceptorState {
    return this.disk;
  }

  writeIdentity(id: NodeIdentity): Promise<void> {
    this.identity = { ...id };
    return Promise.resolve();
  }

  blocksWithState(space: SpaceName, fromBlock: number, max: number): Promise<readonly number[]> {
    return Promise.resolve(blocksOfImage(this.disk, space, this.blockSize, fromBlock, max));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
