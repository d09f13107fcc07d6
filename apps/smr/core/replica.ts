/**
 * A replica of the SMR (docs/ARCHITECTURE.md §4.2), sans-IO: the driver feeds it clients' requests,
 * peers' messages, values the log pushes, register-step results and time, and carries out what
 * `takeOutputs` returns. Every replica applies the log in slot order; one of them leads (./leader.ts)
 * and writes it. A follower forwards proposals and read-index requests to the leader it hears
 * heartbeats from, and takes over after `electionTimeoutMs` (plus jitter) without one. Every
 * `checkpointCommands` commands or `checkpointBytes` bytes each replica snapshots its state; the
 * driver stores it and reports its digest, and the replica publishes a record of it through the
 * leader (again, until it applies it from the log); the leader trims the log below the position a
 * majority of replicas checkpointed (less `trailingSlots`). A replica whose next slot is trimmed
 * catches up from a peer's checkpoint (./catch-up.ts).
 */
import { Prng } from "../../../verify/runtime/prng.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import type { OpResult, ReadResult } from "../../../wor/core/results.ts";
import { type RegGen, type Step, type StepGen, run } from "../../../wor/core/steps.ts";
import { type Issued, TaskRunner } from "../../../wor/core/tasks.ts";
import { DecodeError } from "../../log/core/bytes.ts";
import { decodeSlot } from "../../log/core/entry.ts";
import type { TokensStep } from "../../log/core/steps.ts";
import { CatchUp, heardTail } from "./catch-up.ts";
import { CheckpointRecords } from "./checkpoint-records.ts";
import { Leader, type LeaderHost } from "./leader.ts";
import type { AnyMachine } from "./machine.ts";
import { type PeerMessage, type ReplicaConfig, type ReplicaObserver, type ReplicaOutputs, type ReplicaStatus, type SmrReply, smrFail } from "./messages.ts";
import { type Proposal, SMR_LIMITS, decodeRecord, keyOf, proposalProblem } from "./records.ts";
import { type ReadWaiter, Requests, type Waiter } from "./requests.ts";
import { Router, type StepSource } from "./router.ts";
import { ReplicatedState } from "./state.ts";

export class ReplicaCore implements LeaderHost<ReadWaiter> {
  readonly state: ReplicatedState;
  private readonly tasks = new TaskRunner<Step, unknown>();
  private readonly router = new Router();
  private readonly own: StepSource;
  private readonly requests: Requests;
  private readonly catchUp: CatchUp;
  private readonly prng: Prng;
  private time: number;
  private leader: Leader<ReadWaiter> | undefined;
  private term = 0;
  private following: { readonly address: string; readonly segment: number } | undefined;
  private electionAt: number;
  private heartbeatAt = 0;
  private heardTail = 0;
  private readonly records: CheckpointRecords;
  private readonly known = new Map<number, Uint8Array>();
  private reading = false;
  private missingSince: number | undefined;
  private lastRead = Number.NEGATIVE_INFINITY;
  private storing = false;
  private stored: number | undefined;
  private sweepAt = 0;
  private out: { checkpoint?: ReplicaOutputs["checkpoint"]; fetch?: ReplicaOutputs["fetch"]; watch?: number } = { watch: 0 };

  constructor(
    readonly config: ReplicaConfig,
    private readonly machine: AnyMachine,
    now: number,
    private readonly observer: ReplicaObserver = {},
  ) {
    this.state = new ReplicatedState(machine, config);
    this.requests = new Requests(config.incarnation);
    this.prng = new Prng(config.seed);
    this.records = new CheckpointRecords(config);
    this.time = now;
    this.electionAt = this.electionDeadline();
    this.own = { takeSteps: () => this.ownSteps(), onResult: (id, r) => this.tasks.onResult(id, r) };
    this.catchUp = new CatchUp({
      config,
      state: this.state,
      now: () => this.time,
      start: <T>(gen: StepGen<Step, T>, done: (v: T) => void) => this.tasks.start(gen, done),
      fetch: (f) => {
        this.out.fetch = f;
      },
      installed: (position, digest) => {
        for (const slot of this.known.keys()) if (slot < position) this.known.delete(slot);
        this.missingSince = undefined;
        this.lastRead = Number.NEGATIVE_INFINITY;
        this.out.watch = position;
        this.observer.installed?.(position, digest);
      },
    });
  }

  now(): number {
    return this.time;
  }
  // ---- Inputs. ----

  /** A client's proposal (request `req`). */
  propose(req: number, p: Proposal, now: number): void {
    this.at(now);
    const problem = proposalProblem(p) ?? (this.machine.command.decode(p.command) instanceof DecodeError ? "the command is not one this state machine knows" : undefined);
    if (problem) return void this.reply(req, smrFail(p.command.length > SMR_LIMITS.commandBytesMax ? "tooLarge" : "invalid", problem));
    const w = { req, deadline: now + this.config.requestTimeoutMs };
    if (this.answered(p, w)) return;
    if (this.leader) {
      this.requests.wait(keyOf(p), w);
      this.leader.propose(p);
    } else if (this.following) {
      this.requests.send(this.following.address, { kind: "propose", id: this.requests.forward(req, w.deadline, { key: keyOf(p) }), proposal: p });
    } else this.reply(req, smrFail("unavailable", "no leader known yet (an election is under way)"));
  }

  /** A client's query (request `req`): linearizable, or `stale` (this replica's state now). */
  read(req: number, query: Uint8Array, stale: boolean, now: number): void {
    this.at(now);
    if (query.length > SMR_LIMITS.queryBytesMax) return void this.reply(req, smrFail("tooLarge", `query of ${query.length} bytes (limit ${SMR_LIMITS.queryBytesMax})`));
    if (this.machine.query.decode(query) instanceof DecodeError) return void this.reply(req, smrFail("invalid", "the query is not one this state machine knows"));
    const deadline = now + this.config.requestTimeoutMs;
    if (stale) this.reply(req, this.answer(query));
    else if (this.leader) this.leader.readIndex({ req, deadline, query });
    else if (this.following) this.requests.send(this.following.address, { kind: "readIndex", id: this.requests.forward(req, deadline, { query }) });
    else this.reply(req, smrFail("unavailable", "no leader known yet (an election is under way)"));
  }

  /** A message from replica `from`. */
  deliver(from: string, msg: PeerMessage, now: number): void {
    this.at(now);
    const deadline = now + this.config.requestTimeoutMs;
    const notLeader = (id: string) => this.requests.send(from, { kind: "reply", id, reply: smrFail("unavailable", `${this.config.id} does not lead`) });
    switch (msg.kind) {
      case "heartbeat":
        return void this.heartbeat(from, msg);
      case "propose": {
        const w = { to: from, id: msg.id, deadline };
        if (!this.leader) return void notLeader(msg.id);
        if (this.answered(msg.proposal, w)) return;
        this.requests.wait(keyOf(msg.proposal), w);
        return void this.leader.propose(msg.proposal);
      }
      case "publish":
        return void this.leader?.publish(msg.record);
      case "readIndex":
        return void (this.leader ? this.leader.readIndex({ to: from, id: msg.id, deadline }) : notLeader(msg.id));
      case "reply":
        return void this.requests.replied(msg.id, msg.reply);
    }
  }

  /** A value the log pushed: slot `slot` holds `value`, chosen. */
  learned(slot: number, value: Uint8Array): void {
    if (slot >= this.state.position && slot < this.state.position + this.config.knownMax) this.known.set(slot, value);
  }

  /** The result of step `id`, arriving at `now` (what it sets off, a step-down's election deadline say, counts from then). */
  onResult(id: number, result: unknown, now: number): void {
    this.at(now);
    this.router.answer(id, result);
  }

  tick(now: number): void {
    this.at(now);
    this.leader?.tick(now);
  }

  /** The snapshot of `position` the driver was asked to store is stored, with `digest`. */
  checkpointed(position: number, digest: string, bytes: number): void {
    this.storing = false;
    this.stored = position;
    this.records.unpublished = { position, digest, holder: this.config.id, bytes };
    this.publish();
  }

  /** Replace the state with the snapshot of `position` (a local checkpoint at start): feed its
   *  chunks to `installChunk` with the id returned, then `installEnd`. */
  install(position: number, digest: string): number {
    return this.catchUp.install(position, digest);
  }
  installChunk(id: number, bytes: Uint8Array): void {
    this.catchUp.chunk(id, bytes);
  }
  installEnd(id: number): void {
    this.catchUp.end(id);
  }
  installFailed(id: number, why: string): void {
    this.catchUp.failed(id, why);
  }

  takeOutputs(): ReplicaOutputs {
    const steps: Issued<Step>[] = [];
    // Until two passes in a row find nothing (an answer inside one pass may resume an operation).
    for (let idle = 0; idle < 2; ) {
      this.pump();
      const s = this.router.take(this.leader ? [this.own, this.leader] : [this.own]);
      idle = s.length === 0 ? idle + 1 : 0;
      steps.push(...s);
    }
    const { replies, sends } = this.requests;
    this.requests.replies = [];
    this.requests.sends = [];
    const out = this.out;
    this.out = {};
    return { steps, replies, sends, ...out };
  }

  nextWakeup(): number | undefined {
    const due = [this.leader?.ready ? this.heartbeatAt : this.leader ? undefined : this.electionAt, this.leader?.nextWakeup(), this.catchUp.wakeup];
    if (this.requests.pending > 0) due.push(this.sweepAt);
    if (this.records.unpublished) due.push(this.records.publishAt);
    if (this.missingSince !== undefined && !this.reading) due.push(this.missingSince + this.missingMs());
    else if (!this.reading && this.readsLog()) due.push(this.lastRead + this.config.idleReadMs);
    const times = due.filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.max(this.time, Math.min(...times)) : undefined;
  }

  status(): ReplicaStatus {
    const tail = this.leader?.tail ?? (this.heardTail > 0 ? this.heardTail : undefined);
    const leader = this.leader?.ready ? this.config.id : this.following?.address;
    return {
      role: this.leader ? (this.leader.ready ? "leader" : "candidate") : "follower",
      ...(leader !== undefined ? { leader } : {}),
      applied: this.state.position,
      ...(tail !== undefined ? { tail } : {}),
      term: this.term,
      ...(this.stored !== undefined ? { checkpoint: this.stored } : {}),
      checkpoints: this.records.holders(),
      catchingUp: this.catchUp.busy,
      clients: this.state.clients,
    };
  }

  // ---- LeaderHost. ----

  chosen(slot: number, value: Uint8Array): void {
    if (slot >= this.state.position) this.known.set(slot, value);
  }
  follow(address: string): void {
    this.stepDown();
    this.following = { address, segment: -1 };
  }
  deposed(_why: string): void {
    this.stepDown();
  }
  confirmed(reads: readonly ReadWaiter[], index: number | undefined): void {
    for (const w of reads) this.requests.indexFor(w, index);
  }

  // ---- Internals. ----

  private at(now: number): void {
    this.time = Math.max(this.time, now);
  }

  private reply(req: number, reply: SmrReply): void {
    this.requests.replies.push({ req, reply });
  }

  private answer(query: Uint8Array): SmrReply {
    const a = this.state.query(query);
    return a instanceof DecodeError ? smrFail("invalid", a.message) : { ok: true, value: a, position: this.state.position };
  }

  /** A retry of a command this replica applied already gets its first result now. */
  private answered(p: Proposal, w: Waiter): boolean {
    const first = this.state.find(p.client, p.seq);
    if (first === undefined) return false;
    this.requests.answer(w, first === "expired" ? smrFail("expired", `command ${keyOf(p)} is below what its client acknowledged`) : { ok: true, value: first, position: this.state.position });
    return true;
  }

  private heartbeat(from: string, msg: Extract<PeerMessage, { kind: "heartbeat" }>): void {
    if (this.leader) {
      if (!this.leader.ready || msg.segment <= this.leader.segment) return;
      this.stepDown();
    }
    if (this.following && msg.segment < this.following.segment) return;
    this.following = { address: from, segment: msg.segment };
    this.heardTail = Math.max(this.heardTail, msg.tail);
    this.records.heard(msg.checkpoints);
    this.electionAt = this.electionDeadline();
  }

  private electionDeadline(): number {
    return this.time + this.config.electionTimeoutMs + this.prng.int(this.config.electionTimeoutMs);
  }

  private stepDown(): void {
    const l = this.leader;
    if (!l) return;
    this.leader = undefined;
    this.router.drop(l);
    const { unwritten, reads } = l.stop();
    for (const p of unwritten) this.requests.resolve(keyOf(p), smrFail("unavailable", "leadership changed before the command was written: propose it again"));
    for (const w of reads) this.requests.indexFor(w, undefined);
    this.electionAt = this.electionDeadline();
  }

  private pump(): void {
    if (this.time >= this.sweepAt) {
      this.requests.expire(this.time);
      this.sweepAt = this.time + Math.max(1, this.config.requestTimeoutMs / 20);
    }
    if (this.leader?.ready && this.time >= this.heartbeatAt) {
      this.heartbeatAt = this.time + this.config.heartbeatMs;
      const beat = { kind: "heartbeat", owner: this.leader.owner, segment: this.leader.segment, tail: this.leader.tail!, checkpoints: this.records.slot } as const;
      for (const p of this.config.peers) if (p !== this.config.id) this.requests.send(p, beat);
    }
    if (!this.leader && this.time >= this.electionAt) {
      this.leader = new Leader(this, ++this.term, this.following?.address);
      this.following = undefined;
    }
    this.applyKnown();
    if (this.records.unpublished && this.time >= this.records.publishAt) this.publish();
    this.readLog();
    this.catchUp.pump();
  }

  /** Publish this replica's checkpoint record through the leader (again, until it is applied). */
  private publish(): void {
    const record = this.records.publish(this.time);
    if (this.leader) this.leader.publish(record);
    else if (this.following) this.requests.send(this.following.address, { kind: "publish", record });
  }

  private applyKnown(): void {
    for (let v = this.known.get(this.state.position); v !== undefined && !this.catchUp.busy; v = this.known.get(this.state.position)) {
      const slot = this.state.position;
      this.known.delete(slot);
      this.missingSince = undefined;
      const s = decodeSlot(v);
      const d = "_tag" in s || s.kind === "fill" ? undefined : decodeRecord(s.entry.payload);
      const record = d instanceof DecodeError ? undefined : d;
      this.observer.applied?.(slot, v);
      const due = this.state.apply(record, v.length, (p, o, executed) => {
        if (executed) this.observer.executed?.(keyOf(p), slot);
        this.leader?.applied(keyOf(p));
        this.requests.resolve(keyOf(p), o.ok ? { ok: true, value: o.result, position: slot + 1 } : smrFail(o.code, o.message));
      });
      const below = record?.kind === "checkpoint" ? this.records.applied(slot, record.record) : undefined;
      if (this.leader && below !== undefined) this.leader.trim(below);
      if (due) this.checkpoint();
    }
    this.leader?.appliedTo(this.state.position);
    this.requests.reached(this.state.position, (q) => this.answer(q));
  }

  private checkpoint(): void {
    if (this.storing || this.catchUp.busy) return;
    // Planted bug: the checkpoint is labelled one position later than the state it holds.
    const position = this.state.position + (planted("checkpointWrongPosition") ? 1 : 0);
    this.storing = true;
    this.out.checkpoint = { position, chunks: this.state.snapshot(position) };
  }

  /** Is this the leader at or past its first slot? It learns the slots it writes from their results
   *  and the rest from its watch, so it reads the log only for a slot missing an election timeout. */
  private leading(): boolean {
    return !!this.leader?.ready && this.state.position >= this.leader.firstSlot!;
  }

  /** Does this replica read the log now and then, with nothing known to be missing? */
  private readsLog(): boolean {
    return !this.catchUp.busy && !this.leading();
  }
  /** How long a slot below what is known to exist may be missing before it is read. */
  private missingMs(): number {
    return this.leading() ? this.config.electionTimeoutMs : this.config.pollMs;
  }

  /** Read the next slots: soon when one is missing below what is known to exist, else now and then. */
  private readLog(): void {
    if (this.reading || this.catchUp.busy || this.known.has(this.state.position)) return;
    const from = this.state.position;
    if (this.known.size > 0 || (this.leader?.tail ?? this.heardTail) > from) {
      this.missingSince ??= this.time;
      if (this.time < this.missingSince + this.missingMs()) return;
    } else if (!this.readsLog() || this.time < this.lastRead + this.config.idleReadMs) return;
    this.reading = true;
    this.lastRead = this.time;
    const read: RegGen<OpResult<Map<number, ReadResult>>> = run({ kind: "read", space: this.config.smr, from, to: from + this.config.readChunkMax, recover: false });
    this.tasks.start(read, (r) => {
      this.reading = false;
      if (!r.ok) return;
      for (const [slot, v] of r.value) {
        if (v._tag === "Written") this.learned(slot, v.value);
        else if (v._tag === "Trimmed" && slot === this.state.position) {
          this.known.clear();
          this.catchUp.start();
        }
      }
      if (this.missingSince !== undefined) this.missingSince = this.known.has(this.state.position) ? undefined : this.time;
    });
  }

  /** This replica's own steps; the stream read's tail question (a `tokens` step) is answered here. */
  private ownSteps(): Issued<Step>[] {
    const out: Issued<Step>[] = [];
    for (let steps = this.tasks.takeSteps(); steps.length > 0; steps = this.tasks.takeSteps()) {
      for (const s of steps) {
        if (s.step.kind !== "tokens") out.push(s);
        else if (this.leader) this.leader.ask((s.step as TokensStep).request, (g) => this.tasks.onResult(s.id, g));
        else this.tasks.onResult(s.id, heardTail(this.records.slot));
      }
    }
    return out;
  }
}
