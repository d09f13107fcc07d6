/**
 * A simulated acceptor node: the real acceptor `step` over a volatile state, a simulated disk, and
 * self-clocking group commit (what arrives while a sync is in flight forms the next batch). Replies
 * are `Held` and released only with a receipt minted when the simulated disk finished the sync that
 * made the step's mutations durable (paxos/held.ts). A crash loses the volatile state, the batch
 * being formed and the batch whose sync had not completed (unsynced writes); a restart rebuilds the
 * state from the durable mutations with the real `applyMutation`.
 *
 * The driver checks the acceptor invariants (paxos/acceptor-invariants.ts) after every step and that
 * a restart rebuilds what was durable.
 */
import { type AcceptorState, applyMutation, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import { type Held, mintReceipt, release } from "../../paxos/held.ts";
import type { Mutation, Reply, Request } from "../../paxos/messages.ts";
import { buggify } from "../runtime/buggify.ts";
import { planted } from "../runtime/planted.ts";
import type { Prng } from "../runtime/prng.ts";
import { probe } from "../runtime/probe.ts";

export interface HeldReply {
  readonly to: number;
  readonly frameId: number;
  readonly replies: Held<readonly Reply[]>;
}

export interface Released {
  readonly to: number;
  readonly frameId: number;
  readonly replies: readonly Reply[];
}

interface Batch {
  readonly mutations: Mutation[];
  readonly held: HeldReply[];
}

export class SimAcceptor {
  /** The durable state: every synced mutation applied, in order. */
  private durable: AcceptorState = emptyAcceptor();
  private volatile: AcceptorState = emptyAcceptor();
  private forming: Batch = { mutations: [], held: [] };
  private syncing: Batch | undefined;
  private batchNo = 0;
  up = true;
  /** Incremented on each crash: a sync completion from before the crash is void. */
  epoch = 0;

  constructor(readonly id: number) {}

  /** Setup before the run: apply a request durably (e.g. createSpace). */
  bootstrap(request: Request): void {
    const r = step(this.volatile, request);
    for (const m of r.persist) applyMutation(this.durable, m);
  }

  /**
   * Handle a request. Returns replies that may leave now (nothing was pending), and whether a sync
   * must be started (the caller schedules `syncDone` after the disk's latency).
   */
  receive(from: number, frameId: number, request: Request, violations: string[]): { now: Released[]; startSync: boolean } {
    const before = snapshotAcceptor(this.volatile);
    const r = step(this.volatile, request);
    this.volatile = r.state;
    for (const v of checkAcceptorStep(before, this.volatile, request)) violations.push(`acceptor ${this.id}: ${v}`);
    const idle = !this.syncing && this.forming.mutations.length === 0 && this.forming.held.length === 0;
    if (r.persist.length === 0 && idle) {
      // Nothing unsynced: the step saw only durable state.
      return { now: [{ to: from, frameId, replies: release(r.replies, mintReceipt(this.batchNo)) }], startSync: false };
    }
    this.forming.mutations.push(...r.persist);
    if (planted("replyBeforePersist")) {
      // PLANTED BUG: the replies leave before the mutations are durable.
      return { now: [{ to: from, frameId, replies: release(r.replies, mintReceipt(this.batchNo)) }], startSync: this.startSync() };
    }
    this.forming.held.push({ to: from, frameId, replies: r.replies });
    return { now: [], startSync: this.startSync() };
  }

  /** Start syncing the formed batch if no sync is in flight. */
  private startSync(): boolean {
    if (this.syncing || (this.forming.mutations.length === 0 && this.forming.held.length === 0)) return false;
    this.syncing = this.forming;
    this.forming = { mutations: [], held: [] };
    if (this.syncing.held.length > 1) probe("sim.acceptor.groupCommit.batched");
    return true;
  }

  /** The disk finished the sync in flight: apply it durably, release its replies, start the next. */
  syncDone(): { released: Released[]; startSync: boolean; mutations: readonly Mutation[] } {
    const b = this.syncing;
    if (!b) return { released: [], startSync: false, mutations: [] };
    for (const m of b.mutations) applyMutation(this.durable, m);
    const receipt = mintReceipt(++this.batchNo);
    this.syncing = undefined;
    const released = b.held.map((h) => ({ to: h.to, frameId: h.frameId, replies: release(h.replies, receipt) }));
    return { released, startSync: this.startSync(), mutations: b.mutations };
  }

  /** Crash: lose volatile state and every unsynced write. */
  crash(): void {
    if (this.syncing || this.forming.mutations.length > 0) probe("sim.acceptor.crash.lostUnsyncedWrites");
    this.up = false;
    this.epoch++;
    this.syncing = undefined;
    this.forming = { mutations: [], held: [] };
    this.volatile = emptyAcceptor();
  }

  /** Restart from the durable state. */
  restart(): void {
    this.up = true;
    this.volatile = snapshotAcceptor(this.durable);
  }

  get durableState(): AcceptorState {
    return this.durable;
  }
  get volatileState(): AcceptorState {
    return this.volatile;
  }
  get busy(): boolean {
    return this.syncing !== undefined;
  }
}

/**
 * The acceptor-crash fault both simulators share: with chance `p`, crash one acceptor that is up,
 * keeping a quorum up unless buggify takes more down (liveness then waits for the heal). Returns the
 * crashed acceptor and when to restart it.
 */
export function maybeCrashAcceptor(prng: Prng, acceptors: readonly SimAcceptor[], quorum: number, p: number): { readonly acceptor: SimAcceptor; readonly restartInMs: number } | undefined {
  const up = acceptors.filter((a) => a.up);
  if (up.length === 0 || !prng.chance(p) || !(up.length > quorum || buggify("sim.crash.belowQuorum"))) return undefined;
  const acceptor = prng.pick(up);
  probe("sim.acceptor.crash");
  acceptor.crash();
  return { acceptor, restartInMs: 20 + prng.int(300) };
}
