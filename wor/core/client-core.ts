/**
 * The WOR client core (docs/ARCHITECTURE.md §3.1, §7.1): pure and synchronous. The shell (wor/node/client.ts)
 * or the simulator calls the API methods, feeds replies and ticks with a clock reading, and drains
 * `takeOutputs()`: frames to send and completed operations. It never reads a clock or a socket.
 *
 * Every API method checks its arguments first (wor/core/validate.ts): bad ones complete the
 * operation at once with `invalid` or `tooLarge`, before any round trip. The shell reports links
 * going down (`onLinkDown`) and coming back (`onReconnect`): a round waits only for acceptors that
 * can answer, so one that cannot reach a quorum is decided at once. Every rejection a round meets
 * raises the ballot the next round starts above.
 */
import { assert } from "../../verify/runtime/assert.ts";
import { planted } from "../../verify/runtime/planted.ts";
import { type Ballot, OWNER_BALLOT, isOwnerBallot, maxBallot, nextBallot } from "../../paxos/ballot.ts";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { isValidQuorum } from "../../paxos/quorum.ts";
import type { Entry, Reply, SpaceName } from "../../paxos/messages.ts";
import type { ClientFrame } from "./frames.ts";
import * as ops from "./ops.ts";
import type { OpContext, OpGen } from "./ops.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, CreateSpaceResult, OpResult, ReadResult, SpaceMetaResult, WorFailure, WriteResult } from "./results.ts";
import { type SpaceMeta, spaceMetaProblem } from "./space-meta.ts";
import { type Round, RoundTally, type RoundOutcome, roundRequest } from "./rounds.ts";
import * as check from "./validate.ts";
import { LruMap } from "./lru-map.ts";
import { ValueCache } from "./value-cache.ts";
import { AcceptBatches, CommitQueue } from "./batches.ts";
import type { ClientCoreConfig } from "./client-config.ts";
import type { Completion, LinkAttempt, Outputs, Send } from "./client-io.ts";

export { CLIENT_DEFAULTS, type ClientCoreConfig } from "./client-config.ts";
export type { Completion, LinkAttempt, Outputs, Send } from "./client-io.ts";

declare const opBrand: unique symbol;
/** A submitted operation; its completion carries an `OpResult<T>`. */
export type Op<T> = number & { readonly [opBrand]: T };

interface Running {
  readonly gen: OpGen<unknown>;
  round?: ActiveRound;
  wakeAt?: number;
}

/** A round in flight; accept rounds may be shared by several write ops (batching). */
interface ActiveRound {
  tally: RoundTally;
  /** When the round was sent: a link failure counts against it only if it happened in its time. */
  readonly startedAt: number;
  readonly participants: readonly number[];
  /** Frame id sent to each acceptor; an acceptor is removed once it answered. */
  readonly unanswered: Map<number, number>;
  readonly frames: Map<number, ClientFrame>;
  readonly deadline: number;
  resendAt: number;
}

export class WorClientCore {
  private readonly running = new Map<number, Running>();
  /** frame id → (round, acceptor) for the rounds in flight. */
  private readonly inflight = new Map<number, { round: ActiveRound; acceptor: number }>();
  private readonly forming = new AcceptBatches();
  private readonly cache: ValueCache;
  private readonly ownerWrites = new LruMap<string, Uint8Array>();
  private readonly commits = new CommitQueue();
  private sends: Send[] = [];
  private completions: Completion[] = [];
  private seen: Ballot = OWNER_BALLOT;
  private nextOp = 1;
  /** Configurations followed (`onReconfigured`): a capture is good in the generation it was taken in. */
  private generation = 0;
  private nextFrame = 1;
  private now = 0;
  private readonly ctx: OpContext;

  /** The acceptors (slots) and quorum change when the client follows an addition or a removal. */
  private shape: ClientCoreConfig;
  get config(): ClientCoreConfig {
    return this.shape;
  }

  constructor(config: ClientCoreConfig) {
    this.shape = config;
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
      commit: (space, ballot, indexes) => this.commits.add(space, ballot, indexes, this.now + config.commitLingerMs),
      forgetBelow: (s, below) => this.cache.trim(s, below),
      generation: () => this.generation,
      segmentSize: config.segmentSize,
      proposerId: config.proposerId,
      preemptRetriesMax: config.preemptRetriesMax,
    };
  }

  // ---- API: each returns an op; its result arrives as a completion. Arguments are checked first. ----
  capture(space: SpaceName, from: number, to: number, now: number): Op<CaptureResult> {
    const bad = check.checkSpace(space) ?? check.checkRange(from, to);
    return bad ? this.refuse(bad, now) : this.start(ops.capture(this.ctx, space, from, to), now);
  }
  write(held: Capture, entries: readonly Entry[], now: number): Op<Map<number, WriteResult>> {
    const bad = check.checkCapture(held) ?? check.checkEntries(entries, held);
    return bad ? this.refuse(bad, now) : this.start(ops.write(this.ctx, held, entries), now);
  }
  /** Owner-ballot write. Safe only for the address's single owner: a second value at an address
   *  this client owner-wrote is refused (`invalid`). */
  unsafeWrite(space: SpaceName, entries: readonly Entry[], now: number): Op<Map<number, WriteResult>> {
    const bad = check.checkSpace(space) ?? check.checkEntries(entries) ?? this.checkSingleOwner(space, entries);
    if (bad) return this.refuse(bad, now);
    for (const e of entries) {
      const key = `${space}\u0000${e.index}`;
      if (!this.ownerWrites.has(key)) this.ownerWrites.set(key, e.value);
      if (this.ownerWrites.size > this.config.ownerWritesMax) this.ownerWrites.shift();
    }
    return this.start(ops.unsafeWrite(this.ctx, space, entries), now);
  }
  read(space: SpaceName, from: number, to: number, recover: boolean, now: number): Op<Map<number, ReadResult>> {
    const bad = check.checkSpace(space) ?? check.checkRange(from, to) ?? check.checkFlag(recover, "recover");
    return bad ? this.refuse(bad, now) : this.start(ops.read(this.ctx, space, from, to, recover), now);
  }
  trim(space: SpaceName, below: number, now: number): Op<number> {
    const bad = check.checkSpace(space) ?? check.checkMark(below, "trim mark");
    return bad ? this.refuse(bad, now) : this.start(ops.trim(this.ctx, space, below), now);
  }
  createSpace(space: SpaceName, meta: SpaceMeta, now: number): Op<CreateSpaceResult> {
    const problem = typeof meta === "object" && meta !== null ? spaceMetaProblem(meta) : "metadata must be an object";
    const bad = check.checkNewSpace(space) ?? (problem ? ({ code: "invalid", message: `space ${space}: ${problem}` } as const) : undefined);
    return bad ? this.refuse(bad, now) : this.start(ops.createSpace(this.ctx, space, meta), now);
  }
  spaceMeta(space: SpaceName, now: number): Op<SpaceMetaResult> {
    const bad = check.checkNewSpace(space);
    return bad ? this.refuse(bad, now) : this.start(ops.spaceMeta(this.ctx, space), now);
  }
  alloc(space: SpaceName, segment: number, meta: Uint8Array, now: number): Op<AllocResult> {
    const bad = check.checkSpace(space) ?? check.checkAddress(segment, "segment") ?? check.checkValue(meta, "segment metadata");
    return bad ? this.refuse(bad, now) : this.start(ops.alloc(this.ctx, space, segment, meta), now);
  }
  check(space: SpaceName, segment: number, now: number, final = true): Op<CheckResult> {
    const bad = check.checkSpace(space) ?? check.checkAddress(segment, "segment");
    return bad ? this.refuse(bad, now) : this.start(ops.check(this.ctx, space, segment, final), now);
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
    const outcome = round.tally.decide(false);
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
    for (const r of this.waitingOn(acceptor)) {
      r.tally.setDown(acceptor, undefined);
      this.sends.push({ to: acceptor, frame: r.frames.get(acceptor)! });
    }
  }

  /**
   * The link to `acceptor` went down (`reason`: what the transport said). A round waiting on it stops
   * waiting, and is decided now if it cannot reach a quorum without it, when the failure happened in
   * the round's time: the connection had been established and broke (`attempt.established`), or a
   * link that never reached its acceptor failed a connection attempt begun after the round was sent
   * (a refused connection: a fresh client learns of it within one reconnect delay). A link that has
   * reached its acceptor before and fails to reconnect (the acceptor restarting; gRPC also fails
   * calls at once while it backs off, with the last error) does not decide anything: the round waits
   * for the reconnect or its deadline, so a long-lived client rides out an acceptor's restart.
   */
  onLinkDown(acceptor: number, reason: string, now: number, attempt: LinkAttempt = { startedAt: now, established: true, reachedBefore: true }): void {
    assert(Number.isInteger(acceptor) && acceptor >= 0 && acceptor < this.config.acceptors, "link down for an acceptor outside the electorate");
    this.now = Math.max(this.now, now);
    for (const r of this.waitingOn(acceptor)) {
      if (!attempt.established && (attempt.reachedBefore || attempt.startedAt < r.startedAt)) continue;
      r.tally.setDown(acceptor, reason);
      const outcome = r.tally.decide(false);
      if (outcome) this.finish(r, outcome);
    }
  }

  /**
   * The client follows a new configuration (docs/ARCHITECTURE.md §3.5). A reply counted under the old
   * one (a retired acceptor's) must not join a quorum of the new, so every round starts over, but
   * for phase 2 under a capture taken under the old one: that is preempted, and so is every later
   * write under such a capture (its generation is past), so the writer captures again. `shape`:
   * the new configuration's slots and quorum (an addition or a removal changes them).
   */
  onReconfigured(shape?: { readonly acceptors: number; readonly quorum: number }): void {
    this.generation++;
    if (shape) {
      assert(isValidQuorum(shape.quorum, shape.acceptors), "quorum must intersect and be reachable");
      this.shape = { ...this.shape, acceptors: shape.acceptors, quorum: shape.quorum };
      this.sends = this.sends.filter((x) => x.to < shape.acceptors);
    }
    for (const r of new Set([...this.running.values()].flatMap((run) => (run.round ? [run.round] : [])))) {
      const round = r.tally.round;
      if (round.kind === "accept" && !isOwnerBallot(round.ballot) && !planted("phase2AcrossConfigurations")) {
        // Its ballot's phase 1 ran under the old configuration: phase 2 must not go on under the new
        // one (a quorum there need not share an acceptor with it). Preempted: the outcome is unknown.
        this.finish(r, new Map(round.entries.map((e) => [e.index, { kind: "preempted", by: round.ballot } as const])));
        continue;
      }
      r.tally = new RoundTally(round, this.config, this.config.roundTimeoutMs);
      this.dispatch(r);
    }
  }

  /** The earliest time `tick` has work to do, if any. */
  nextWakeup(): number | undefined {
    let t: number | undefined;
    for (const run of this.running.values()) {
      const at = run.wakeAt ?? (run.round ? Math.min(run.round.deadline, run.round.resendAt) : undefined);
      if (at !== undefined && (t === undefined || at < t)) t = at;
    }
    const c = this.commits.due;
    return c !== undefined && (t === undefined || c < t) ? c : t;
  }

  /**
   * The frames to send and the operations completed since the last call. Commit notices go with
   * other frames, or alone once due (`commitLingerMs`), or all now with `final` (the client is
   * closing): a notice is a hint (a watcher hearing a quorum's accepts, or a reader asking a
   * quorum, does without it), and one that rides with the next accept costs the acceptors no
   * envelope, group commit or pushes of its own.
   */
  takeOutputs(final = false): Outputs {
    // Sending a batch can complete ops whose successors form the next one: send until none forms.
    while (this.forming.size > 0) this.sendForming();
    const due = this.commits.due;
    if (due !== undefined && (final || this.sends.length > 0 || due <= this.now)) this.flushCommits();
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
  /** The rounds in flight still waiting for `acceptor`'s answer. */
  private waitingOn(acceptor: number): ActiveRound[] {
    const rounds = new Set<ActiveRound>();
    for (const run of this.running.values()) if (run.round?.unanswered.has(acceptor)) rounds.add(run.round);
    return [...rounds];
  }

  /** An operation refused before any round trip: it completes at once with `failure`. */
  private refuse<T>(failure: WorFailure, now: number): Op<T> {
    this.now = Math.max(this.now, now);
    const id = this.nextOp++;
    this.completions.push({ op: id, result: { ok: false, failure } });
    return id as Op<T>;
  }

  /** An owner writes one value per address: a second, different one is refused. */
  private checkSingleOwner(space: SpaceName, entries: readonly Entry[]): WorFailure | undefined {
    for (const e of entries) {
      const prev = this.ownerWrites.get(`${space}\u0000${e.index}`);
      if (prev && !bytesEqual(prev, e.value)) {
        return { code: "invalid", message: `unsafeWrite of a second value at ${space}[${e.index}]: an owner writes one value per address (is this client its single owner?)` };
      }
    }
    return undefined;
  }

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
    const rejected = round.tally.highestRejection();
    if (rejected) this.ctx.learnBallot(rejected);
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
      this.forming.join(id, round.space, round.ballot, round.entries);
      return;
    }
    run.round = this.send(round, [id]);
  }

  private sendForming(): void {
    for (const b of this.forming.take()) {
      const round = this.send({ kind: "accept", space: b.space, ballot: b.ballot, entries: b.entries }, b.participants);
      for (const op of b.participants) {
        const run = this.running.get(op);
        if (run) run.round = round;
      }
    }
  }

  private send(round: Exclude<Round, { kind: "sleep" }>, participants: readonly number[]): ActiveRound {
    const active: ActiveRound = {
      tally: new RoundTally(round, this.config, this.config.roundTimeoutMs),
      participants,
      unanswered: new Map(),
      frames: new Map(),
      startedAt: this.now,
      deadline: this.now + this.config.roundTimeoutMs,
      resendAt: this.now + this.config.resendMs,
    };
    this.dispatch(active);
    return active;
  }

  /** Send the round's request to every acceptor, each under a fresh frame id (the old ones are forgotten). */
  private dispatch(active: ActiveRound): void {
    const request = roundRequest(active.tally.round);
    for (const id of active.unanswered.values()) this.inflight.delete(id);
    active.unanswered.clear();
    active.frames.clear();
    for (let a = 0; a < this.config.acceptors; a++) {
      const frame: ClientFrame = { id: this.nextFrame++, kind: "request", request };
      active.unanswered.set(a, frame.id);
      active.frames.set(a, frame);
      this.inflight.set(frame.id, { round: active, acceptor: a });
      this.sends.push({ to: a, frame });
    }
  }

  private resend(r: ActiveRound): void {
    r.resendAt = this.now + this.config.resendMs;
    for (const a of r.unanswered.keys()) this.sends.push({ to: a, frame: r.frames.get(a)! });
  }

  /** The queued commit notices go ahead of the frames they ride with, so an acceptor knows a value
   *  is chosen before it answers a later write of the address (AlreadyWritten, not Preempted). */
  private flushCommits(): void {
    const notices: Send[] = [];
    for (const request of this.commits.take()) {
      for (let a = 0; a < this.config.acceptors; a++) notices.push({ to: a, frame: { id: this.nextFrame++, kind: "request", request } });
    }
    this.sends = notices.concat(this.sends);
  }
}
