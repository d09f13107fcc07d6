/**
 * A simulated acceptor is the real one: an `AcceptorNode` (wor/node/acceptor-node.ts) with its real
 * group commit, over a `SimStorage` (sim-storage.ts). Frames from each endpoint reach the node as
 * one session; the node's server frames go to a sink that hands them to the kernel's network. A
 * session ends when its process dies or its link is cut (the node forgets its watches, as when a
 * stream ends); the next frame from that endpoint opens a new one.
 * Replies are `Held` and leave only with the receipt the simulated disk minted when it synced the
 * batch that made them durable (paxos/held.ts).
 *
 * A crash drops the node (its volatile state and its group commit, with the batch being formed)
 * and the disk's commit in flight; a restart builds a new node, synchronously, from what the disk
 * synced. The node checks the acceptor invariants after every step (`checkInvariants`): a violation
 * throws `AssertionFailed`, which the kernel reports; so does a node that stopped on a failure.
 *
 * The node's cache is tiny (`SIM_CACHE`): it evicts whatever is not pinned after almost every
 * frame and reads blocks back through the simulated disk, so reads happen under every fault (a
 * crash voids a read in flight, as it voids a sync).
 */
import { type AcceptorState, type SpaceState, emptyAcceptor } from "../../../paxos/acceptor.ts";
import type { Mutation, Request } from "../../../paxos/messages.ts";
import { AcceptorNode, type FrameSink } from "../../../wor/node/acceptor-node.ts";
import type { Change, Membership, Refusal } from "../../../wor/node/membership.ts";
import { GroupCommitCounters } from "../../../wor/node/group-commit.ts";
import type { ClientFrame, ServerFrame } from "../../../wor/core/frames.ts";
import { assert } from "../../runtime/assert.ts";
import { buggify } from "../../runtime/buggify.ts";
import type { Prng } from "../../runtime/prng.ts";
import { probe } from "../../runtime/probe.ts";
import { SimStorage } from "./sim-storage.ts";

/** What an acceptor needs from the kernel. */
export interface AcceptorHost {
  /** A commit went to `acceptor`'s disk: schedule `syncDone(acceptor.epoch)` after the disk's latency. */
  syncStarted(acceptor: SimAcceptor): void;
  /** A read went to `acceptor`'s disk: schedule `readDone(acceptor.epoch)`. */
  readStarted(acceptor: SimAcceptor): void;
  /** Server frames from acceptor `from` to endpoint `to`. */
  send(from: number, to: number, frames: readonly ServerFrame[]): void;
  /** Acceptor `from` refused (or ended) endpoint `to`'s session (docs/ARCHITECTURE.md §3.5). */
  refused(from: number, to: number, refusal: Refusal): void;
}

type Sink = FrameSink & { closed: boolean; readonly epoch: number; readonly installer: boolean };

const CLUSTER = "sim";

/** The simulated acceptors' blocks (addresses) and cache (estimated bytes): a block or two fits. */
const SIM_CACHE = Object.freeze({ blockSize: 2, cacheBytesMax: 2_000 });
const NOTHING: AcceptorState = emptyAcceptor();

export class SimAcceptor {
  readonly storage: SimStorage;
  private node: AcceptorNode | undefined;
  private readonly sinks = new Map<number, Sink>();
  /** A membership change waiting for the node to be quiet, and the frames that arrived meanwhile (they wait, as behind the real node's exclusive run). */
  private change: { readonly decide: (m: Membership) => Change; readonly done: (c: Change) => void } | undefined;
  private waiting: [number, ClientFrame, number, boolean][] = [];
  /** Kept down (a retired acceptor away): restarts wait until released. */
  held = false;
  /** Shared by every incarnation, so batching is counted across restarts. */
  private readonly counters = new GroupCommitCounters();
  private batched = 0;
  /** Evictions the current incarnation's cache made so far. */
  private evicted = 0;
  private booting = true;

  /** An acceptor whose disk holds what `setup` (e.g. each space's creation) makes durable. */
  constructor(
    readonly id: number,
    private readonly host: AcceptorHost,
    setup: readonly Request[],
    /** A replacement: it starts empty and joining (no setup). */
    joining = false,
  ) {
    this.storage = new SimStorage(
      { clusterId: CLUSTER, acceptorId: id, createdAt: "1970-01-01T00:00:00.000Z", ...(joining ? { joining: true } : {}) },
      SIM_CACHE.blockSize,
      () => {
        if (!this.booting) host.syncStarted(this);
      },
      () => {
        if (!this.booting) host.readStarted(this);
      },
    );
    const node = (this.node = this.start());
    const requests = joining ? [] : setup;
    // The setup runs through the node like any frame, and its batch is synced before the run starts.
    const replies: ServerFrame[] = [];
    node.handle(
      requests.map((request, id) => ({ id, kind: "request", request })),
      { closed: false, send: (frames) => replies.push(...frames) },
    );
    // Its reads and syncs complete at once, before the run starts.
    while (this.storage.reading || this.storage.syncing) {
      if (this.storage.reading) this.storage.readDone(this.storage.epoch);
      else this.storage.syncDone(this.storage.epoch);
    }
    this.booting = false;
    for (const f of replies) assert(f.kind === "reply" && f.reply.kind !== "error", () => `acceptor ${id}: setup failed: ${JSON.stringify(f)}`);
    assert(replies.length === requests.length, () => `acceptor ${id}: ${requests.length - replies.length} setup replies missing`);
  }

  get up(): boolean {
    return this.node !== undefined;
  }

  /** Tags a scheduled `syncDone`: one from before a crash is void. */
  get epoch(): number {
    return this.storage.epoch;
  }

  /**
   * The node's view (possibly ahead of the disk): what its cache holds over what the disk synced
   * (an address the node does not hold is as the disk has it); nothing while it is down.
   */
  get volatileState(): AcceptorState {
    const core = this.node?.core;
    if (!core) return NOTHING;
    const spaces = new Map<string, SpaceState>();
    for (const [name, s] of core.spaces) {
      const addresses = new Map(this.storage.durable.spaces.get(name)?.addresses ?? []);
      for (const i of addresses.keys()) if (i < s.trimMark) addresses.delete(i);
      for (const [i, a] of s.addresses) addresses.set(i, a);
      spaces.set(name, { trimMark: s.trimMark, ranges: s.ranges, addresses });
    }
    return { spaces, resident: core.resident };
  }

  get durableState(): AcceptorState {
    return this.storage.durable;
  }

  /** A frame from endpoint `from` (a request, or a watch), on a session of `epoch` (an installer's or
   *  not): a new session is admitted first, like the gRPC server's (a refusal names the configuration). */
  receive(from: number, frame: ClientFrame, epoch = 0, installer = false): void {
    const node = this.node;
    assert(node, () => `acceptor ${this.id} received a frame while down`);
    if (this.change) {
      this.waiting.push([from, frame, epoch, installer]);
      return;
    }
    let sink = this.sinks.get(from);
    if (sink && (sink.epoch !== epoch || sink.installer !== installer)) this.endSession(from);
    sink = this.sinks.get(from);
    if (!sink) {
      const no = node.members!.admit(epoch, installer);
      if (no) {
        probe(`sim.acceptor.refused.${no.kind}`);
        this.host.refused(this.id, from, no);
        return;
      }
      this.sinks.set(from, (sink = { closed: false, epoch, installer, send: (frames) => this.host.send(this.id, from, frames) }));
    }
    node.handle([frame], sink);
    this.afterEvent();
  }

  /**
   * Tell the node a configuration, or activate it (docs/ARCHITECTURE.md §3.5): once it is quiet
   * (everything served before durable), with frames arriving meanwhile waiting; then the sessions
   * the change fenced end, refused. `done` is not called if the acceptor crashes first.
   */
  /** A membership change waits for the node to be quiet. */
  get changing(): boolean {
    return this.change !== undefined;
  }

  changeMembership(decide: (m: Membership) => Change, done: (c: Change) => void): void {
    assert(this.node && !this.change, () => `acceptor ${this.id}: a membership change while down or during another`);
    this.change = { decide, done };
    this.tryChange();
  }

  private tryChange(): void {
    const node = this.node;
    const change = this.change;
    if (!node || !change || !node.quiet) return;
    this.change = undefined;
    const c = change.decide(node.members!);
    if (c.kind === "adopt") {
      void this.storage.writeIdentity(c.identity); // the simulated disk takes it at once
      node.members!.adopted(c.identity);
      for (const [to, sink] of [...this.sinks]) {
        const no = node.members!.admit(sink.epoch, sink.installer);
        if (!no) continue;
        this.endSession(to);
        probe("sim.acceptor.fencedSession");
        this.host.refused(this.id, to, no);
      }
    }
    change.done(c);
    for (const [from, frame, epoch, installer] of this.waiting.splice(0)) if (this.node) this.receive(from, frame, epoch, installer);
  }

  /** Endpoint `to`'s session ended (its process died, or its link was cut): its watches are gone. */
  endSession(to: number): void {
    const sink = this.sinks.get(to);
    if (!sink) return;
    this.sinks.delete(to);
    sink.closed = true;
    this.node?.detach(sink);
  }

  /** The disk finished a read. */
  readDone(epoch: number): void {
    this.storage.readDone(epoch);
    this.afterEvent();
  }

  /** The disk finished a sync; returns the mutations it made durable (undefined when a crash voided it). */
  syncDone(epoch: number): readonly Mutation[] | undefined {
    const durable = this.storage.syncDone(epoch);
    this.afterEvent();
    return durable;
  }

  /** Crash: lose the node (volatile state, the batch being formed) and the disk's commit in flight. */
  crash(): void {
    assert(this.node, () => `acceptor ${this.id} crashed while down`);
    // Between events the group commit queues submissions only behind a commit in flight: a crash
    // loses unsynced writes exactly when the disk had one.
    if (this.storage.reading) probe("sim.acceptor.crash.lostRead");
    if (this.storage.crash()) probe("sim.acceptor.crash.lostUnsyncedWrites");
    this.node = undefined;
    for (const sink of this.sinks.values()) sink.closed = true;
    this.sinks.clear();
    this.change = undefined;
    this.waiting = [];
  }

  /** Restart from what the disk synced. */
  restart(): void {
    assert(!this.node, () => `acceptor ${this.id} restarted while up`);
    this.node = this.start();
    this.evicted = 0;
  }

  private start(): AcceptorNode {
    return AcceptorNode.fromLoaded(
      { storage: this.storage, identity: { clusterId: CLUSTER, acceptorId: this.id }, checkInvariants: true, counters: this.counters, cacheBytesMax: SIM_CACHE.cacheBytesMax },
      this.storage.loaded(),
    );
  }

  private afterEvent(): void {
    const failure = this.node?.failure;
    if (failure !== undefined) throw failure;
    this.tryChange();
    const evictions = this.node?.cacheStats.evictions ?? 0;
    if (evictions > this.evicted) probe("sim.acceptor.cache.evicted");
    this.evicted = evictions;
    if (this.counters.batched > this.batched) {
      this.batched = this.counters.batched;
      probe("sim.acceptor.groupCommit.batched");
    }
  }
}

/**
 * The acceptor-crash fault (the kernel's, for every world): with chance `p`, crash one acceptor that is up,
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
