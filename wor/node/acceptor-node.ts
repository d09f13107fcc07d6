/**
 * The acceptor node (docs/ARCHITECTURE.md §3.3): the shell around the pure acceptor core. It owns the core
 * state, runs `step` for every request frame, hands `persist` to the group commit, and releases the
 * replies only with the receipt of the batch that made them durable (paxos/held.ts). Replies on a
 * session leave in request order; all replies one receipt releases for one session go in one send.
 *
 * Identity: a data directory records which acceptor of which cluster it belongs to. A node refuses
 * to start on a directory that holds no identity unless told to initialise it (`init: true`), and
 * refuses a directory that belongs to another acceptor or cluster. An acceptor whose disk was wiped
 * must never rejoin under its old id: it forgot its promises and accepted values, so a proposer
 * could assemble a quorum that misses a chosen value and get a second value chosen. The same holds
 * for a directory whose storage finds it damaged (storage.ts, `StorageDamaged`): it is refused too.
 */
import { type AcceptorState, effectivePromise, forEachOwn, step } from "../../paxos/acceptor.ts";
import { checkAcceptorState, checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import { type Held, type Receipt, release } from "../../paxos/held.ts";
import { LIMITS, isIndex, isSpaceName } from "../../paxos/limits.ts";
import type { ErrorCode, Learned, Mutation, Reply, ReportedAddress, SpaceName } from "../../paxos/messages.ts";
import type { AcceptorStatus, InspectReply, InspectRequest, SpaceSummary } from "../wire/admin.ts";
import type { DecodedClientFrame, ServerFrame } from "../core/frames.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { GroupCommit, type GroupCommitCounters } from "./group-commit.ts";
import { type AcceptorStorage, type Loaded, type NodeIdentity, StorageDamaged, replay } from "./storage.ts";
import type { CodecError } from "../../proto/codec-kernel.ts";

const ACCEPTOR_VERSION = "wormspace-ts/0.1.0";

const NODE_LIMITS = Object.freeze({
  /** Committed values one watch may ask to catch up on; beyond it the client reads instead. */
  watchCatchUpMax: 16_384,
  /** Watches one session may hold. */
  watchesPerSessionMax: 1_024,
});

/** Where a session's server frames go (a stream writer in production, an array in tests). */
export interface FrameSink {
  send(frames: ServerFrame[]): void;
  readonly closed: boolean;
}

export interface AcceptorNodeOptions {
  readonly storage: AcceptorStorage;
  /** Who this node is configured to be (from the cluster file). */
  readonly identity: { readonly clusterId: string; readonly acceptorId: number };
  /** Initialise a data directory that holds no acceptor state yet. Never for a wiped acceptor. */
  readonly init?: boolean;
  /** Check the acceptor invariants after every step (tests, simulation). */
  readonly checkInvariants?: boolean;
  readonly batchMutationsMax?: number;
  readonly counters?: GroupCommitCounters;
  /** A failed commit: the node stopped serving; the owner must close it (and usually exit). */
  readonly onFatal?: (error: unknown) => void;
  readonly now?: () => Date;
}

/** The node refused its data directory. */
export class IdentityRefused extends Error {
  override readonly name = "IdentityRefused";
  constructor(
    readonly reason: "noIdentity" | "stateWithoutIdentity" | "mismatch" | "damaged",
    message: string,
  ) {
    super(message);
  }
}

/** The refusal of a data directory whose storage is damaged: what was found, and what to do. */
export function damagedRefusal(e: StorageDamaged): IdentityRefused {
  return new IdentityRefused(
    "damaged",
    `the data directory is damaged: ${e.message}. It may have forgotten promises and accepted values, which could let a ` +
      "second value be chosen, so it must not rejoin under its old id: replace it through reconfiguration with a new id " +
      "(keep the directory for inspection)",
  );
}

export type InspectResult = { readonly ok: true; readonly value: InspectReply } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

interface Watcher {
  readonly sink: FrameSink;
  readonly id: number;
  readonly space: SpaceName;
  readonly from: number;
}

/** What one frame contributes when its receipt comes, in frame order. */
type Release =
  | { readonly kind: "held"; readonly id: number; readonly replies: Held<readonly Reply[]>; readonly learned: readonly Learned[] }
  | { readonly kind: "reply"; readonly id: number; readonly reply: Reply }
  | { readonly kind: "watch"; readonly watcher: Watcher; readonly catchUp: readonly ServerFrame[] }
  | { readonly kind: "unwatch"; readonly watchId: number };

const errorReply = (code: ErrorCode, message: string): Reply => ({ kind: "error", code, message });
const codecReply = (e: CodecError): Reply => errorReply(e.code === "tooLarge" ? "tooLarge" : "invalid", e.message);

export class AcceptorNode {
  private state: AcceptorState | undefined;
  private stored: NodeIdentity | undefined;
  private readonly commit: GroupCommit;
  private readonly watchers = new Map<SpaceName, Set<Watcher>>();
  private readonly outbox = new Map<FrameSink, ServerFrame[]>();
  private fatal: { error: unknown } | undefined;
  private readonly fatalListeners = new Set<(error: unknown) => void>();
  private closing = false;

  /** Construct and load; throws `IdentityRefused` when the data directory is not this acceptor's. */
  static async open(options: AcceptorNodeOptions): Promise<AcceptorNode> {
    const node = new AcceptorNode(options);
    await node.load();
    return node;
  }

  /**
   * A node over state its storage already loaded, built synchronously (the simulator restarts an
   * acceptor this way, inside one event). It never initialises a data directory, which takes a
   * write: that is `open`'s. Throws `IdentityRefused` like `open`.
   */
  static fromLoaded(options: Omit<AcceptorNodeOptions, "init">, loaded: Loaded): AcceptorNode {
    const node = new AcceptorNode(options);
    node.adopt(loaded);
    return node;
  }

  /** A node that answers `notReady` until `load()` finished. */
  constructor(private readonly options: AcceptorNodeOptions) {
    this.commit = new GroupCommit(options.storage, {
      batchMutationsMax: options.batchMutationsMax,
      counters: options.counters,
      afterBatch: () => this.flush(),
      onFatal: (error) => {
        this.fatal = { error };
        this.options.onFatal?.(error);
        for (const l of this.fatalListeners) l(error);
      },
    });
  }

  get ready(): boolean {
    return this.state !== undefined && !this.fatal && !this.closing;
  }

  get counters(): GroupCommitCounters {
    return this.commit.counters;
  }

  /** The error of the commit that stopped this node, if one did. */
  get failure(): unknown {
    return this.fatal?.error;
  }

  /** Be told when a commit fails and the node stops serving; returns the unsubscribe. */
  onFailure(listener: (error: unknown) => void): () => void {
    if (this.fatal) listener(this.fatal.error);
    else this.fatalListeners.add(listener);
    return () => this.fatalListeners.delete(listener);
  }

  /** The core state as it is, possibly ahead of the disk (checkers and the simulator read it; never write it). */
  get core(): AcceptorState | undefined {
    return this.state;
  }

  get identity(): NodeIdentity | undefined {
    return this.stored;
  }

  /** The cluster this node is configured to belong to. */
  get clusterId(): string {
    return this.options.identity.clusterId;
  }

  async load(): Promise<void> {
    assert(this.state === undefined, "node loaded twice");
    let loaded: Loaded;
    try {
      loaded = await this.options.storage.load();
    } catch (e) {
      throw e instanceof StorageDamaged ? damagedRefusal(e) : e;
    }
    if (!loaded.identity && this.options.init) {
      if (loaded.mutations.length > 0) {
        throw new IdentityRefused("stateWithoutIdentity", "the data directory holds acceptor state but no identity; refusing to adopt it");
      }
      const created: NodeIdentity = { ...this.options.identity, createdAt: (this.options.now?.() ?? new Date()).toISOString() };
      await this.options.storage.writeIdentity(created);
      loaded = { identity: created, mutations: [] };
    }
    this.adopt(loaded);
  }

  /** Take loaded state as this node's, if its identity is the configured one. */
  private adopt({ identity, mutations }: Loaded): void {
    assert(this.state === undefined, "node loaded twice");
    const want = this.options.identity;
    if (!identity) {
      throw new IdentityRefused(
        "noIdentity",
        `the data directory holds no acceptor state for acceptor ${want.acceptorId} of cluster ${want.clusterId}. ` +
          "If this is a new acceptor, start it once with init. If this acceptor's data was lost or wiped, it must not " +
          "rejoin under its old id: it forgot its promises and accepted values, which could let a second value be " +
          "chosen; replace it through reconfiguration with a new id.",
      );
    }
    if (identity.clusterId !== want.clusterId || identity.acceptorId !== want.acceptorId) {
      throw new IdentityRefused(
        "mismatch",
        `the data directory belongs to acceptor ${identity.acceptorId} of cluster ${identity.clusterId}, ` +
          `but this node is configured as acceptor ${want.acceptorId} of cluster ${want.clusterId}`,
      );
    }
    const state = replay(mutations);
    const violations = checkAcceptorState(state);
    assert(violations.length === 0, () => `loaded state violates invariants: ${violations.join("; ")}`);
    this.stored = identity;
    this.state = state;
  }

  /** Serve one envelope's frames from one session. */
  handle(frames: readonly DecodedClientFrame[], sink: FrameSink): void {
    if (frames.length === 0) return;
    const state = this.state;
    if (!state || this.fatal || this.closing) {
      const [code, why] = this.fatal ? (["internal", "the acceptor stopped after a storage failure"] as const) : (["notReady", state ? "the acceptor is closing" : "the acceptor is loading"] as const);
      sink.send(frames.map((f) => ({ id: f.id, kind: "reply", reply: errorReply(code, why) })));
      return;
    }
    const mutations: Mutation[] = [];
    const releases: Release[] = [];
    for (const f of frames) {
      switch (f.kind) {
        case "invalid":
          releases.push({ kind: "reply", id: f.id, reply: codecReply(f.error) });
          break;
        case "request": {
          const before = this.options.checkInvariants ? snapshotAcceptor(state) : undefined;
          const r = step(state, f.request);
          if (before) {
            const violations = checkAcceptorStep(before, r.state, f.request);
            assert(violations.length === 0, () => `acceptor invariants violated by ${f.request.kind}: ${violations.join("; ")}`);
          }
          for (const m of r.persist) mutations.push(m);
          releases.push({ kind: "held", id: f.id, replies: r.replies, learned: r.learned });
          break;
        }
        case "watch":
          releases.push(this.watch(state, sink, f.id, f.space, f.from));
          break;
        case "unwatch":
          releases.push({ kind: "unwatch", watchId: f.watchId });
          break;
      }
    }
    this.commit.submit(mutations, (receipt) => this.release(sink, releases, receipt));
  }

  /** Run `done` once everything handed to the node so far is durable and its frames were sent. */
  barrier(done: () => void): void {
    if (this.fatal || !this.state) {
      done();
      return;
    }
    this.commit.submit([], () => {
      this.flush();
      done();
    });
  }

  /** Forget a session's watches (its stream ended). */
  detach(sink: FrameSink): void {
    for (const set of this.watchers.values()) for (const w of set) if (w.sink === sink) set.delete(w);
    this.outbox.delete(sink);
  }

  status(): AcceptorStatus {
    const spaces: SpaceSummary[] = [];
    for (const [name, s] of this.state?.spaces ?? []) {
      let highestAccepted = -1;
      for (const [i, a] of s.addresses) if (a.accepted && i > highestAccepted) highestAccepted = i;
      spaces.push({ name, trimMark: s.trimMark, addresses: s.addresses.size, ranges: s.ranges.length, highestAccepted });
    }
    spaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { clusterId, acceptorId } = this.options.identity;
    return { acceptorId, clusterId, version: ACCEPTOR_VERSION, spaces };
  }

  /** Read the core state as it is (admin only: it may show state whose batch is still syncing). */
  inspect(req: InspectRequest): InspectResult {
    if (!this.state) return { ok: false, code: "notReady", message: "the acceptor is loading" };
    if (!isSpaceName(req.space)) return { ok: false, code: "invalid", message: `invalid space name ${JSON.stringify(req.space)}` };
    const space = this.state.spaces.get(req.space);
    if (!space) return { ok: false, code: "unknownSpace", message: `unknown space ${JSON.stringify(req.space)}` };
    if (!isIndex(req.from) || !isIndex(req.to) || req.from >= req.to) return { ok: false, code: "invalid", message: `invalid range [${req.from}, ${req.to})` };
    if (req.to - req.from > LIMITS.rangeMax) return { ok: false, code: "tooLarge", message: `range exceeds ${LIMITS.rangeMax} addresses` };
    const addresses: ReportedAddress[] = [];
    forEachOwn(space, req.from, req.to, (index, s) => {
      const promised = effectivePromise(space, index);
      addresses.push(s.accepted ? { index, promised, accepted: s.accepted, committed: s.committed } : { index, promised, committed: s.committed });
    });
    const ranges = space.ranges.filter((r) => r.from < req.to && req.from < r.to);
    return { ok: true, value: { trimMark: space.trimMark, addresses, ranges } };
  }

  /** Stop taking frames, wait for what is in flight, close the storage. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.commit.idle();
    this.watchers.clear();
    await this.options.storage.close();
  }

  private watch(state: AcceptorState, sink: FrameSink, id: number, name: SpaceName, from: number): Release {
    const refuse = (code: ErrorCode, message: string): Release => ({ kind: "reply", id, reply: errorReply(code, message) });
    if (!isSpaceName(name)) return refuse("invalid", `invalid space name ${JSON.stringify(name)}`);
    if (!isIndex(from)) return refuse("invalid", `invalid watch start ${from}`);
    const space = state.spaces.get(name);
    if (!space) return refuse("unknownSpace", `unknown space ${JSON.stringify(name)}`);
    if (from < space.trimMark) return { kind: "reply", id, reply: { kind: "trimmed", mark: space.trimMark } };
    let held = 0;
    for (const set of this.watchers.values()) for (const w of set) if (w.sink === sink) held++;
    if (held >= NODE_LIMITS.watchesPerSessionMax) return refuse("tooLarge", `a session may hold ${NODE_LIMITS.watchesPerSessionMax} watches`);
    // The values committed as of this frame (a later frame's commit is pushed live, not here).
    const catchUp: ServerFrame[] = [];
    forEachOwn(space, from, LIMITS.indexMax, (index, s) => {
      if (s.committed && s.accepted) catchUp.push({ id, kind: "learned", space: name, index, value: s.accepted.value });
    });
    if (catchUp.length > NODE_LIMITS.watchCatchUpMax) {
      return refuse("tooLarge", `${catchUp.length} values are chosen at or after ${from} (limit ${NODE_LIMITS.watchCatchUpMax}); read them, then watch from a later index`);
    }
    return { kind: "watch", watcher: { sink, id, space: name, from }, catchUp };
  }

  private release(sink: FrameSink, releases: readonly Release[], receipt: Receipt): void {
    const out = this.outboxOf(sink);
    for (const r of releases) {
      switch (r.kind) {
        case "held":
          for (const reply of release(r.replies, receipt)) out.push({ id: r.id, kind: "reply", reply });
          // Published in frame order, so a watch registered by a later frame never sees it twice.
          for (const l of r.learned) this.publish(l);
          break;
        case "reply":
          out.push({ id: r.id, kind: "reply", reply: r.reply });
          break;
        case "watch": {
          for (const f of r.catchUp) out.push(f);
          let set = this.watchers.get(r.watcher.space);
          if (!set) this.watchers.set(r.watcher.space, (set = new Set()));
          set.add(r.watcher);
          break;
        }
        case "unwatch":
          for (const set of this.watchers.values()) for (const w of set) if (w.sink === sink && w.id === r.watchId) set.delete(w);
          break;
      }
    }
  }

  private publish(l: Learned): void {
    const set = this.watchers.get(l.space);
    if (!set) return;
    for (const w of set) {
      if (w.sink.closed) set.delete(w);
      else if (l.index >= w.from) this.outboxOf(w.sink).push({ id: w.id, kind: "learned", space: l.space, index: l.index, value: l.value });
    }
  }

  private outboxOf(sink: FrameSink): ServerFrame[] {
    let out = this.outbox.get(sink);
    if (!out) this.outbox.set(sink, (out = []));
    return out;
  }

  private flush(): void {
    for (const [sink, frames] of this.outbox) if (frames.length > 0 && !sink.closed) sink.send(frames);
    this.outbox.clear();
  }
}
