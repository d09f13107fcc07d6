/**
 * The WOR client core (DESIGN.md §3.1, §7.1): pure and synchronous. The shell (wor/node/client.ts)
 * or the simulator calls the API methods, feeds replies and ticks with a clock reading, and drains
 * `takeOutputs()`: frames to send and completed operations. It never reads a clock or a socket.
 */
import { assert } from "../../verify/runtime/assert.ts";
import { type Ballot, OWNER_BALLOT, maxBallot, nextBallot } from "../../paxos/ballot.ts";
import { bytesEqual } from "../../paxos/acceptor.ts";
import { LIMITS } from "../../paxos/limits.ts";
import { isValidQuorum } from "../../paxos/quorum.ts";
import type { Entry, Reply, SpaceName } from "../../paxos/messages.ts";
import type { ClientFrame } from "../../proto/frames.ts";
import * as ops from "./ops.ts";
import type { OpContext, OpGen } from "./ops.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, CreateSpaceResult, OpResult, ReadResult, SpaceMetaResult, WriteResult } from "./results.ts";
import type { SpaceMeta } from "./space-meta.ts";
import { type Round, RoundTally, type RoundOutcome, roundRequest } from "./rounds.ts";
import { ValueCache } from "./value-cache.ts";

export interface ClientCoreConfig {
  readonly acceptors: number;
  readonly quorum: number;
  /** Unique per client instance, > 0: the second half of every ballot this client makes. */
  readonly proposerId: number;
  readonly segmentSize: number;
  /** A round that has no verdict by then fails (timeout). */
  readonly roundTimeoutMs: number;
  /** Unanswered requests are sent again after this long (requests are idempotent). */
  readonly resendMs: number;
  readonly cacheEntriesMax: number;
  readonly preemptRetriesMax: number;
  /** Owner writes remembered to assert single ownership. */
  readonly ownerWritesMax: number;
}

export const CLIENT_DEFAULTS = {
  roundTimeoutMs: 5_000,
  resendMs: 1_000,
  cacheEntriesMax: 100_000,
  preemptRetriesMax: 16,
  ownerWritesMax: 100_000,
} as const;

declare const opBrand: unique symbol;
/** A submitted operation; its completion carries an `OpResult<T>`. */
export type Op<T> = number & { readonly [opBrand]: T };

export interface Send {
  readonly to: number;
  readonly frame: ClientFrame;
}
export interface Completion {
  readonly op: number;
  readonly result: OpResult<unknown>;
}
export interface Outputs {
  readonly sends: Send[];
  readonly completions: Completion[];
}

interface Running {
  readonly gen: OpGen<unknown>;
  round?: ActiveRound;
  wakeAt?: number;
}

/** A round in flight; accept rounds may be shared by several write ops (batching). */
interface ActiveRound {
  readonly tally: RoundTally;
  readonly participants: readonly number[];
  /** Frame id sent to each acceptor; an acceptor is removed once it answered. */
  readonly unanswered: Map<number, number>;
  readonly frames: Map<number, ClientFrame>;
  readonly deadline: number;
  resendAt: number;
}

/** Accept rounds of one (space, ballot) issued in the same tick, merged into one round at flush. */
interface FormingBatch {
  readonly space: SpaceName;
  readonly ballot: Ballot;
  readonly entries: Entry[];
  readonly indexes: Set<number>;
  readonly participants: number[];
}

export class WorClientCore {
  private readonly running = new Map<number, Running>();
  /** frame id → (round, acceptor) for the rounds in flight. */
  private readonly inflight = new Map<number, { round: ActiveRound; acceptor: number }>();
  private readonly forming = new Map<string, FormingBatch[]>();
  private readonly cache: ValueCache;
  private readonly ownerWrites = new Map<string, Uint8Array>();
  private readonly commits = new Map<string, { space: SpaceName; ballot: Ballot; indexes: number[] }>();
  private sends: Send[] = [];
  private completions: Completion[] = [];
  private seen: Ballot = OWNER_BALLOT;
  private nextOp = 1;
  private nextFrame = 1;
  private now = 0;
  private readonly ctx: OpContext;

  constructor(readonly config: ClientCoreConfig) {
    assert(isValidQuorum(config.quorum, config.acceptors), "quorum must intersect and be reachable");
    assert(Number.isSafeInteger(config.proposerId) && config.proposerId > 0, "proposerId must be a positive integer");
    this.cache = new ValueCache(config.cacheEntriesMax);
    this.ctx = {
      nextBallot: () => (this.seen = nextBallot(this.seen, config.proposerId)),
      learnBallot: (b) => {
        this.seen = maxBallot(this.seen, b);
      },
      cached: (s, i) => this.cache.get(s, i),
      remember: (s, i, v) => this.cache.put(s, i, v),
      commit: (space, ballot, indexes) => this.queueCommit(space, ballot, indexes),
      forgetBelow: (s, below) => this.cache.trim(s, below),
      segmentSize: config.segmentSize,
      proposerId: config.proposerId,
      preemptRetriesMax: config.preemptRetriesMax,
    };
  }

  // ---- API: each returns an op; its result arrives as a completion. ----
  capture(space: SpaceName, from: number, to: number, now: number): Op<CaptureResult> {
    return this.start(ops.capture(this.ctx, space, from, to), now);
  }
  write(held: Capture, entries: readonly Entry[], now: number): Op<Map<number, WriteResult>> {
    return this.start(ops.write(this.ctx, held, entries), now);
  }
  /** Owner-ballot write. Safe only for the address's single owner: asserted per client. */
  unsafeWrite(space: SpaceName, entries: readonly Entry[], now: number): Op<Map<number, WriteResult>> {
    for (const e of entries) {
      const key = `${space}\u0000${e.index}`;
      const prev = this.ownerWrites.get(key);
      assert(!prev || bytesEqual(prev, e.value), () => `unsafeWrite of two different values at ${space}[${e.index}]: not its single owner`);
      if (!prev) this.ownerWrites.set(key, e.value);
      if (this.ownerWrites.size > this.config.ownerWritesMax) this.ownerWrites.delete(this.ownerWrites.keys().next().value!);
    }
    return this.start(ops.unsafeWrite(this.ctx, space, entries), now);
  }
  read(space: SpaceName, from: number, to: number, recover: boolean, now: number): Op<Map<number, ReadResult>> {
    return this.start(ops.read(this.ctx, space, from, to, recover), now);
  }
  trim(space: SpaceName, below: number, now: number): Op<number> {
    return this.start(ops.trim(this.ctx, space, below), now);
  }
  createSpace(space: SpaceName, meta: SpaceMeta, now: number): Op<CreateSpaceResult> {
    return this.start(ops.createSpace(this.ctx, space, meta), now);
  }
  spaceMeta(space: SpaceName, now: number): Op<SpaceMetaResult> {
    return this.start(ops.spaceMeta(this.ctx, space), now);
  }
  alloc(space: SpaceName, segment: number, meta: Uint8Array, now: number): Op<AllocResult> {
    return this.start(ops.alloc(this.ctx, space, segment, meta), now);
  }
  check(space: SpaceName, segment: number, now: number): Op<CheckResult> {
    return this.start(ops.check(this.ctx, space, segment), now);
  }

  // ---- Driving. ----
  onReply(acceptor: number, frameId: number, reply: Reply, now: number): void {
    this.now = Math.max(this.now, now);
    const f = this.inflight.get(frameId);
    if (!f || f.acceptor !== acceptor) return; // late, duplicate, or a commit's ack
    const round = f.round;
    if (round.unanswered.get(acceptor) !== frameId) return;
    round.unanswered.delete(acceptor);
    this.inflight.delete(frameId);
    round.tally.add(acceptor, reply);
    const outcome = round.tally.decide(round.unanswered.size === 0);
    if (outcome) this.finish(round, outcome);
  }

  /** Advance time: resend what went unanswered, fail rounds past their deadline, wake sleepers. */
  tick(now: number): void {
    this.now = Math.max(this.now, now);
    const due = new Set<ActiveRound>();
    for (const [id, run] of [...this.running]) {
      if (run.wakeAt !== undefined && run.wakeAt <= this.now) {
        run.wakeAt = undefined;
        this.resume(id, run, { kind: "slept" });
      } else if (run.round) due.add(run.round);
    }
    for (const r of due) {
      if (r.deadline <= this.now) this.finish(r, r.tally.decide(true)!);
      else if (r.resendAt <= this.now) this.resend(r);
    }
  }

  /** A link to `acceptor` came back: send it everything it has not answered. */
  onReconnect(acceptor: number): void {
    const rounds = new Set<ActiveRound>();
    for (const run of this.running.values()) if (run.round?.unanswered.has(acceptor)) rounds.add(run.round);
    for (const r of rounds) this.sends.push({ to: acceptor, frame: r.frames.get(acceptor)! });
  }

  /** The earliest time `tick` has work to do, if any. */
  nextWakeup(): number | undefined {
    let t: number | undefined;
    for (const run of this.running.values()) {
      const at = run.wakeAt ?? (run.round ? Math.min(run.round.deadline, run.round.resendAt) : undefined);
      if (at !== undefined && (t === undefined || at < t)) t = at;
    }
    return t;
  }

  takeOutputs(): Outputs {
    this.sendForming();
    this.flushCommits();
    const out = { sends: this.sends, completions: this.completions };
    this.sends = [];
    this.completions = [];
    return out;
  }

  get pendingOps(): number {
    return this.running.size;
  }
  get highestBallot(): Ballot {
    return this.seen;
  }

  // ---- Internals. ----
  private start<T>(gen: OpGen<T>, now: number): Op<T> {
    this.now = Math.max(this.now, now);
    const id = this.nextOp++;
    const run: Running = { gen: gen as OpGen<unknown> };
    this.running.set(id, run);
    this.advance(id, run, gen.next());
    return id as Op<T>;
  }

  private resume(id: number, run: Running, outcome: RoundOutcome): void {
    run.round = undefined;
    this.advance(id, run, run.gen.next(outcome));
  }

  /** A round has its verdict: forget its frames and resume every op that waited on it. */
  private finish(round: ActiveRound, outcome: RoundOutcome): void {
    for (const frameId of round.unanswered.values()) this.inflight.delete(frameId);
    round.unanswered.clear();
    for (const op of round.participants) {
      const run = this.running.get(op);
      if (run?.round === round) this.resume(op, run, outcome);
    }
  }

  private advance(id: number, run: Running, step: IteratorResult<Round, OpResult<unknown>>): void {
    if (step.done) {
      this.running.delete(id);
      this.completions.push({ op: id, result: step.value });
      return;
    }
    const round = step.value;
    if (round.kind === "sleep") {
      run.wakeAt = this.now + round.ms;
      return;
    }
    if (round.kind === "accept") {
      this.join(id, round.space, round.ballot, round.entries);
      return;
    }
    run.round = this.send(round, [id]);
  }

  /** Add a write op's entries to the batch forming for its (space, ballot). */
  private join(op: number, space: SpaceName, ballot: Ballot, entries: readonly Entry[]): void {
    const key = `${space}\u0000${ballot.round}.${ballot.proposer}`;
    let list = this.forming.get(key);
    if (!list) this.forming.set(key, (list = []));
    let batch = list.find((b) => b.entries.length + entries.length <= LIMITS.entriesMax && entries.every((e) => !b.indexes.has(e.index)));
    if (!batch) list.push((batch = { space, ballot, entries: [], indexes: new Set(), participants: [] }));
    for (const e of entries) {
      batch.entries.push(e);
      batch.indexes.add(e.index);
    }
    batch.participants.push(op);
  }

  private sendForming(): void {
    for (const list of this.forming.values()) {
      for (const b of list) {
        const round = this.send({ kind: "accept", space: b.space, ballot: b.ballot, entries: b.entries }, b.participants);
        for (const op of b.participants) {
          const run = this.running.get(op);
          if (run) run.round = round;
        }
      }
    }
    this.forming.clear();
  }

  private send(round: Exclude<Round, { kind: "sleep" }>, participants: readonly number[]): ActiveRound {
    const request = roundRequest(round);
    const active: ActiveRound = {
      tally: new RoundTally(round, this.config),
      participants,
      unanswered: new Map(),
      frames: new Map(),
      deadline: this.now + this.config.roundTimeoutMs,
      resendAt: this.now + this.config.resendMs,
    };
    for (let a = 0; a < this.config.acceptors; a++) {
      const frame: ClientFrame = { id: this.nextFrame++, kind: "request", request };
      active.unanswered.set(a, frame.id);
      active.frames.set(a, frame);
      this.inflight.set(frame.id, { round: active, acceptor: a });
      this.sends.push({ to: a, frame });
    }
    return active;
  }

  private resend(r: ActiveRound): void {
    r.resendAt = this.now + this.config.resendMs;
    for (const a of r.unanswered.keys()) this.sends.push({ to: a, frame: r.frames.get(a)! });
  }

  private queueCommit(space: SpaceName, ballot: Ballot, indexes: readonly number[]): void {
    const key = `${space}\u0000${ballot.round}.${ballot.proposer}`;
    const c = this.commits.get(key);
    if (c) c.indexes.push(...indexes);
    else this.commits.set(key, { space, ballot, indexes: [...indexes] });
  }

  private flushCommits(): void {
    for (const { space, ballot, indexes } of this.commits.values()) {
      for (let at = 0; at < indexes.length; at += LIMITS.entriesMax) {
        const request = { kind: "commit", space, ballot, indexes: indexes.slice(at, at + LIMITS.entriesMax) } as const;
        for (let a = 0; a < this.config.acceptors; a++) this.sends.push({ to: a, frame: { id: this.nextFrame++, kind: "request", request } });
      }
    }
    this.commits.clear();
  }
}
