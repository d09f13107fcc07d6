/**
 * The simulator's disk, behind the acceptor storage port (wor/node/storage.ts), so that the real
 * group commit and acceptor node (wor/node/group-commit.ts, acceptor-node.ts) run in simulation.
 *
 * A commit goes in flight and `started` tells the kernel, which schedules the disk's completion (a
 * `syncDone` event after a simulated latency). `syncDone` makes the batch durable, mints its
 * receipt and hands it to the group commit, all inside that one event: no microtask ever runs in
 * the simulator. A crash loses the batch in flight (the batch being formed is lost with the group
 * commit that holds it, which the crash drops with its node); what was synced stays, and a restart
 * loads it (`loaded`) synchronously.
 */
import { type AcceptorState, applyMutation, emptyAcceptor } from "../../../paxos/acceptor.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import type { Mutation } from "../../../paxos/messages.ts";
import { type AcceptorStorage, type CommitDone, type Loaded, type NodeIdentity, copyMutation, mutationsOf } from "../../../wor/node/storage.ts";
import { assert } from "../../runtime/assert.ts";

export class SimStorage implements AcceptorStorage {
  /** What was synced: every durable mutation applied, in order. */
  private readonly disk = emptyAcceptor();
  private inFlight: { readonly batch: readonly Mutation[]; readonly done: CommitDone } | undefined;
  private batches = 0;
  /** Incremented on each crash: a completion scheduled before it is void. */
  private crashes = 0;

  constructor(
    private identity: NodeIdentity,
    /** A commit went in flight: schedule its `syncDone(epoch)`. */
    private readonly started: () => void,
  ) {}

  /** What a restart loads: the identity and the mutations that rebuild the synced state. */
  loaded(): Loaded {
    return { identity: this.identity, mutations: mutationsOf(this.disk) };
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

  close(): Promise<void> {
    return Promise.resolve();
  }
}
