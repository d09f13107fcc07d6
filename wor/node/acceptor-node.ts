/**
 * The acceptor node (docs/ARCHITECTURE.md §3.3): the shell around the pure acceptor core. It owns the core
 * state, runs `step` for every request frame, hands `persist` to the group commit, and releases the
 * replies only with the receipt of the batch that made them durable (paxos/held.ts). Replies on a
 * session leave in request order; all replies one receipt releases for one session go in one send.
 *
 * Memory is bounded by a cache, not by the data (address-cache.ts): the core state holds every
 * space's trim mark and range promises, and the addresses of the blocks the cache holds. Before a
 * frame's step, the node reads the blocks it touches and does not hold (footprint.ts) through the
 * storage's callback `read`; frames are served strictly in arrival order, across sessions, so a
 * frame waiting for a read holds back every later one (nothing overtakes it). A restart reads only
 * the identity, the spaces, their trim marks and range promises.
 *
 * Identity (node-identity.ts): a directory that is not this acceptor's, wiped or damaged is refused.
 * Membership (membership.ts): each envelope is admitted in its turn by the session's epoch.
 */
import { type AcceptorState, step } from "../../paxos/acceptor.ts";
import { checkAcceptorState, checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import type { Reply, SpaceName } from "../../paxos/messages.ts";
import type { AcceptorStatus, InspectRequest } from "../wire/admin.ts";
import type { DecodedClientFrame } from "../core/frames.ts";
import { WIRE_LIMITS } from "../../proto/limits.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { AddressCache, type BlockRun, CACHE_LIMITS } from "./address-cache.ts";
import { footprint, priorStates, readBudget } from "./footprint.ts";
import { inspectRefusal, inspected, statusOf } from "./node-admin.ts";
import { Membership } from "./membership.ts";
import { type InspectResult, type Work, newPart } from "./node-inbox.ts";
import { IdentityRefused, checkIdentity, damagedRefusal, loadIdentity } from "./node-identity.ts";
import { GroupCommit, type GroupCommitCounters, type GroupCommitOptions } from "./group-commit.ts";
import { type FrameSink, NodeReplies, errorReply } from "./node-replies.ts";
import { type AcceptorStorage, type Loaded, replay } from "./storage.ts";
import type { CodecError } from "../../proto/codec-kernel.ts";

export type { FrameSink };
export { IdentityRefused, damagedRefusal };

const ACCEPTOR_VERSION = "wormspace-ts/0.1.0";

/** The group commit's batching: its mutation limit, its counters, and (a node) its idle-disk wait. */
export interface AcceptorNodeOptions extends Pick<GroupCommitOptions, "batchMutationsMax" | "counters" | "nextTurn"> {
  readonly storage: AcceptorStorage;
  /** Who this node is configured to be (from the cluster file). */
  readonly identity: { readonly clusterId: string; readonly acceptorId: number };
  /** Initialise a data directory that holds no acceptor state yet. Never for a wiped acceptor. */
  readonly init?: boolean;
  /** Initialise it as a replacement that serves only its installer until activated (docs/ARCHITECTURE.md §3.5). */
  readonly join?: boolean;
  /** Check the acceptor invariants after every step (tests, simulation). */
  readonly checkInvariants?: boolean;
  /** A failed commit: the node stopped serving; the owner must close it (and usually exit). */
  readonly onFatal?: (error: unknown) => void;
  readonly now?: () => Date;
  /** Estimated bytes of addresses the node keeps in memory (address-cache.ts; default `CACHE_LIMITS.bytesMax`). */
  readonly cacheBytesMax?: number;
}

const codecReply = (e: CodecError): Reply => errorReply(e.code === "tooLarge" ? "tooLarge" : "invalid", e.message);
const STOPPED = "the acceptor stopped after a storage failure";

export class AcceptorNode {
  private state: AcceptorState | undefined;
  private membership: Membership | undefined;
  private readonly commit: GroupCommit;
  private readonly cache: AddressCache;
  private readonly replies = new NodeReplies();
  private readonly inbox: Work[] = [];
  /** A read (or an exclusive run) for the inbox's first work is in flight. */
  private loading = false;
  /** Submissions handed to the group commit, and the last of them known durable. */
  private submitted = 0;
  private durable = 0;
  private readonly drainWaiters: (() => void)[] = [];
  private fatal: { error: unknown } | undefined;
  private readonly fatalListeners = new Set<(error: unknown) => void>();
  private closing = false;

  /** Construct and load; throws `IdentityRefused` when the data directory is not this acceptor's. */
  static async open(options: AcceptorNodeOptions): Promise<AcceptorNode> {
    const node = new AcceptorNode(options);
    await node.load();
    return node;
  }

  /** A node over loaded state, built synchronously (the simulator restarts an acceptor so). */
  static fromLoaded(options: Omit<AcceptorNodeOptions, "init">, loaded: Loaded): AcceptorNode {
    const node = new AcceptorNode(options);
    node.adopt(loaded);
    return node;
  }

  /** A node that answers `notReady` until `load()` finished. */
  constructor(private readonly options: AcceptorNodeOptions) {
    this.cache = new AddressCache(options.storage.blockSize, options.cacheBytesMax ?? CACHE_LIMITS.bytesMax);
    const { batchMutationsMax, counters, nextTurn } = options;
    this.commit = new GroupCommit(options.storage, {
      ...{ batchMutationsMax, counters, nextTurn },
      afterBatch: () => {
        this.replies.flush();
        this.evict();
      },
      onFatal: (error) => this.stop(error),
    });
  }

  get ready(): boolean {
    return this.state !== undefined && !this.fatal && !this.closing;
  }

  /** Nothing waits and everything served is durable (the simulator changes membership then). */
  get quiet(): boolean {
    return this.inbox.length === 0 && !this.loading && this.submitted === this.durable;
  }

  get counters(): GroupCommitCounters {
    return this.commit.counters;
  }

  /** What the address cache holds and has evicted (tests, benchmarks). */
  get cacheStats(): { readonly bytes: number; readonly blocks: number; readonly evictions: number } {
    return { bytes: this.cache.bytes, blocks: this.cache.blocks, evictions: this.cache.evictions };
  }

  /** The error of the commit or read that stopped this node, if one did. */
  get failure(): unknown { return this.fatal?.error; }

  /** Be told when a commit or read fails and the node stops serving; returns the unsubscribe. */
  onFailure(listener: (error: unknown) => void): () => void {
    if (this.fatal) listener(this.fatal.error);
    else this.fatalListeners.add(listener);
    return () => this.fatalListeners.delete(listener);
  }

  /** The core state as it is, possibly ahead of the disk (checkers and the simulator read it, never
   *  write it): only the cached addresses; the others are as the storage has them. */
  get core(): AcceptorState | undefined {
    return this.state;
  }

  /** The cluster this node is configured to belong to. */
  get clusterId(): string {
    return this.options.identity.clusterId;
  }

  /** Whom the node serves: its identity, epoch, whether it is joining or retired (membership.ts). */
  get members(): Membership | undefined {
    return this.membership;
  }

  /** Run `run` in its turn among the frames, alone: once everything served before is durable, with
   *  later frames waiting until it is done (the storage writes nothing else meanwhile). */
  exclusive<T>(run: (storage: AcceptorStorage) => Promise<T>): Promise<T> {
    if (!this.ready) return Promise.reject(new Error(this.fatal ? STOPPED : "the acceptor is not serving"));
    return new Promise((done, fail) => {
      const go = async () => {
        try {
          done(await this.commit.idle().then(() => run(this.options.storage)));
        } catch (e) {
          fail(e);
          throw e;
        }
      };
      this.inbox.push({ kind: "exclusive", run: go });
      this.drain();
    });
  }

  async load(): Promise<void> {
    assert(this.state === undefined, "node loaded twice");
    this.adopt(await loadIdentity(this.options));
  }

  /** Take loaded state as this node's, if its identity is the configured one. */
  private adopt({ identity, mutations }: Loaded): void {
    assert(this.state === undefined, "node loaded twice");
    checkIdentity(identity, this.options.identity);
    assert(!mutations.some((m) => m.kind === "address"), "a storage's load returned addresses (they are read when touched)");
    const state: AcceptorState = { spaces: replay(mutations).spaces, resident: this.cache };
    const violations = checkAcceptorState(state);
    assert(violations.length === 0, () => `loaded state violates invariants: ${violations.join("; ")}`);
    this.membership = new Membership(identity);
    this.state = state;
  }

  /** Serve one envelope's frames from one session (after every frame that arrived before them). */
  handle(frames: readonly DecodedClientFrame[], sink: FrameSink): void {
    if (frames.length === 0) return;
    if (!this.state || this.fatal || this.closing) {
      const [code, why] = this.fatal ? (["internal", STOPPED] as const) : (["notReady", this.state ? "the acceptor is closing" : "the acceptor is loading"] as const);
      sink.send(frames.map((f) => ({ id: f.id, kind: "reply", reply: errorReply(code, why) })));
      return;
    }
    this.inbox.push({ kind: "frames", frames, sink, next: 0, part: newPart() });
    this.drain();
  }

  /** Run `done` once everything handed to the node so far is durable and its frames were sent. */
  barrier(done: () => void): void {
    if (this.fatal || !this.state) {
      done();
      return;
    }
    this.inbox.push({ kind: "barrier", done });
    this.drain();
  }

  /** Forget a session's watches (its stream ended). */
  detach(sink: FrameSink): void {
    this.replies.detach(sink);
  }

  /** Per space: its trim mark and range promises, and what its storage counts durable. */
  status(): AcceptorStatus {
    return statusOf(this.state, this.options.storage, this.membership?.identity ?? this.options.identity, ACCEPTOR_VERSION);
  }

  /** Read the core state as it is, in its turn among the frames (admin only: it may show state whose batch is still syncing). */
  inspect(req: InspectRequest): Promise<InspectResult> {
    const no = !this.state ? ({ code: "notReady", message: "the acceptor is loading" } as const) : this.fatal ? ({ code: "internal", message: STOPPED } as const) : inspectRefusal(this.state, req);
    if (no) return Promise.resolve({ ok: false, ...no });
    return new Promise((done) => {
      this.inbox.push({ kind: "inspect", req, done });
      this.drain();
    });
  }

  /** Stop taking frames, serve what arrived, wait for what is in flight, close the storage. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.inbox.length > 0 || this.loading) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    await this.commit.idle();
    this.replies.clearWatches();
    await this.options.storage.close();
  }

  /** Serve the inbox in order until it is empty or its first work waits for a read. */
  private drain(): void {
    const state = this.state;
    if (this.loading || !state) return;
    while (this.inbox.length > 0 && !this.fatal) {
      if (!this.serve(state, this.inbox[0]!)) return;
      this.inbox.shift();
    }
    this.evict();
    if (this.inbox.length === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Serve one work; false when it waits for a read (started here). */
  private serve(state: AcceptorState, w: Work): boolean {
    switch (w.kind) {
      case "barrier": {
        const seq = ++this.submitted;
        this.commit.submit([], () => {
          this.durable = seq;
          this.replies.flush();
          w.done();
        });
        return true;
      }
      case "inspect": {
        const space = state.spaces.get(w.req.space)!;
        const from = Math.max(w.req.from, space.trimMark);
        const runs = w.refused || from >= w.req.to ? [] : this.cache.missing(w.req.space, [[from, w.req.to]]);
        if (runs.length > 0) {
          const refusal = errorReply("tooLarge", `range holds more than ${WIRE_LIMITS.envelopeBytesMax} bytes; ask for less`);
          this.read(w.req.space, runs, WIRE_LIMITS.envelopeBytesMax, () => (w.refused = refusal));
          return false;
        }
        const r = w.refused;
        w.done(r?.kind === "error" ? { ok: false, code: r.code, message: r.message } : { ok: true, value: inspected(state, w.req) });
        return true;
      }
      case "exclusive":
        if (w.state === undefined) {
          w.state = "running";
          this.loading = true;
          w.run().then(
            () => {
              w.state = "finished";
              this.loading = false;
              this.drain();
            },
            (e: unknown) => this.stop(e),
          );
        }
        return w.state === "finished";
      case "frames": {
        // Admitted in its turn: a session fenced by a configuration adopted before it is refused.
        const no = w.next === 0 ? this.membership!.admit(w.sink.epoch ?? 0, w.sink.installer === true) : undefined;
        if (no) {
          for (const f of w.frames) w.part.releases.push({ kind: "reply", id: f.id, reply: errorReply("notReady", no.message) });
          w.next = w.frames.length;
        }
        for (; w.next < w.frames.length; w.next++) {
          const f = w.frames[w.next]!;
          const fp = f.kind === "request" && !w.refused ? footprint(state, f.request) : undefined;
          if (fp && f.kind === "request") {
            const runs = this.cache.missing(fp.space, fp.ranges);
            if (runs.length > 0) {
              // Nothing is evicted from here until the frame's step (what it touches stays in memory).
              this.loading = true;
              this.submit(w);
              const budget = readBudget(f.request);
              this.read(fp.space, runs, budget.bytesMax, () => (w.refused = budget.refusal));
              return false;
            }
            for (const [from, to] of fp.ranges) this.cache.touch(fp.space, from, to);
          }
          this.serveFrame(state, w, f);
          this.evict();
        }
        this.submit(w);
        return true;
      }
    }
  }

  private serveFrame(state: AcceptorState, w: Work & { kind: "frames" }, f: DecodedClientFrame): void {
    const releases = w.part.releases;
    switch (f.kind) {
      case "invalid":
        releases.push({ kind: "reply", id: f.id, reply: codecReply(f.error) });
        break;
      case "request": {
        if (w.refused || (f.request.kind === "install" && !(w.sink.installer && this.membership!.joining))) {
          releases.push({ kind: "reply", id: f.id, reply: w.refused ?? errorReply("invalid", "install is served to a joining replacement's installer only") });
          w.refused = undefined;
          break;
        }
        const before = this.options.checkInvariants ? snapshotAcceptor(state) : undefined;
        const prior = priorStates(state, f.request);
        const r = step(state, f.request);
        if (before) {
          const violations = checkAcceptorStep(before, r.state, f.request);
          assert(violations.length === 0, () => `acceptor invariants violated by ${f.request.kind}: ${violations.join("; ")}`);
        }
        // Every block this step changed stays in memory until the submission carrying it is durable.
        const pin = this.submitted + 1;
        for (const m of r.persist) {
          w.part.mutations.push(m);
          if (m.kind === "address") this.cache.changed(m.space, m.index, prior?.get(m.index), m.state, pin);
          else if (m.kind === "trim") this.cache.trimmed(m.space, state.spaces.get(m.space)!, m.mark, pin);
        }
        releases.push({ kind: "held", id: f.id, replies: r.replies, learned: r.learned, accepted: r.accepted });
        break;
      }
      case "watch":
        releases.push(this.replies.watch(state.spaces.get(f.space), w.sink, f.id, f.space, f.from, f.skipOwn === true));
        break;
      case "unwatch":
        releases.push({ kind: "unwatch", watchId: f.watchId });
        break;
    }
  }

  /** Hand the frames stepped so far to the group commit; their replies leave with its receipt. */
  private submit(w: Work & { kind: "frames" }): void {
    const { mutations, releases } = w.part;
    if (releases.length === 0) return;
    w.part = newPart();
    const seq = ++this.submitted;
    this.commit.submit(mutations, (receipt) => {
      this.durable = seq;
      this.replies.release(w.sink, releases, receipt);
    });
  }

  /** Read `runs` of blocks of `space` into the cache, then serve on; `tooLarge` refuses the frame that needed them. */
  private read(space: SpaceName, runs: readonly BlockRun[], bytesMax: number, tooLarge: () => void): void {
    this.loading = true;
    this.cache.readIn(this.options.storage, space, this.state!.spaces.get(space)!, runs, bytesMax, (r) => {
      if (this.fatal) return;
      if (r instanceof Error) return this.stop(r);
      if (r === "tooLarge") tooLarge();
      this.loading = false;
      this.drain();
    });
  }

  private evict(): void {
    if (this.loading || !this.state) return;
    this.cache.evict(this.durable, this.state.spaces, (space, block) => this.options.storage.evicted(space, block));
  }

  /** A commit or read failed: stop serving (what waits is dropped; barriers and inspections are told). */
  private stop(error: unknown): void {
    if (this.fatal) return;
    this.fatal = { error };
    this.loading = false;
    for (const w of this.inbox.splice(0)) {
      if (w.kind === "barrier") w.done();
      else if (w.kind === "inspect") w.done({ ok: false, code: "internal", message: STOPPED });
    }
    for (const w of this.drainWaiters.splice(0)) w();
    this.options.onFatal?.(error);
    for (const l of this.fatalListeners) l(error);
  }
}
