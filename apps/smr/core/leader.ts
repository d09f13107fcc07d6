/**
 * The leader (docs/ARCHITECTURE.md §4.2): the log's single writer. Its embedded sequencer
 * (apps/log/core/sequencer.ts) takes the log over by the log's recovery (seal what older owners
 * left open under a higher ballot, finishing partial writes and filling holes, then claim fresh
 * segments, each one range capture) and hands out slots; each slot gets a batch of commands in one
 * accept round, `writesInFlightMax` batches at a time. Lease-free: a wrongful takeover fences the
 * old leader (its next write is preempted, or a claim lost) and costs time, never safety.
 *
 * Linearizable reads go by **read index**: the tail when the read's round starts, confirmed by one
 * round that checks the allocation register past our last claimed segment. A newer leader must
 * claim a segment there before it can write a command, so if it is still unallocated no command we
 * do not know of was acknowledged, and a state applied up to the index answers the read. Reads
 * arriving during a round share the next one.
 */
import { bytesEqual } from "../../../verify/runtime/bytes.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { type RegGen, type Step, run, sleep } from "../../../wor/core/steps.ts";
import { TaskRunner } from "../../../wor/core/tasks.ts";
import { encodeEntry } from "../../log/core/entry.ts";
import { SEQUENCER_DEFAULTS, SequencerCore } from "../../log/core/sequencer.ts";
import { segmentAbove } from "../../log/core/tail-check.ts";
import type { GrantRequest, LogResult } from "../../log/core/steps.ts";
import type { Grant, Token } from "../../log/core/tokens.ts";
import type { ReplicaConfig } from "./messages.ts";
import { CHECKPOINT_STREAM, type CheckpointRecord, type Proposal, encodeRecord, keyOf, proposalBytes } from "./records.ts";
import { Router, type StepSource } from "./router.ts";

export interface LeaderHost<W> {
  readonly config: ReplicaConfig;
  now(): number;
  /** Slot `slot` holds `value`, chosen (we wrote it, or found it there). */
  chosen(slot: number, value: Uint8Array): void;
  /** Another replica serves the log (its address): follow it. */
  follow(address: string): void;
  /** This leadership is over: fenced by a newer leader, or it could not start. */
  deposed(why: string): void;
  /** The read-index round of `reads` is over: every acknowledged command lies below `index`
   *  (undefined: not confirmed, the reads fail). */
  confirmed(reads: readonly W[], index: number | undefined): void;
}

type Item = { readonly kind: "batch"; readonly proposals: Proposal[] } | { readonly kind: "record"; readonly record: CheckpointRecord };

/** Attempts of one read-index round before its reads fail. */
const CONFIRM_ATTEMPTS_MAX = 3;

export class Leader<W> implements StepSource {
  readonly owner: string;
  readonly seq: SequencerCore;
  /** The first slot this leadership issues, once recovered. */
  firstSlot: number | undefined;
  private readonly tasks = new TaskRunner<Step, unknown>();
  private readonly router = new Router();
  private readonly seqSteps: StepSource;
  private readonly asked = new Map<number, (r: LogResult<Grant>) => void>();
  private nextAsk = 1;
  private queue: Proposal[] = [];
  private records: CheckpointRecord[] = [];
  /** Keys queued or written in this leadership and not applied yet: a retry of one waits for it,
   *  not a second copy (once applied, the session table answers retries). */
  private readonly inLog = new Set<string>();
  /** Batches asked for or being written. */
  private writes = 0;
  private batches = 0;
  private reads: W[] = [];
  private round: W[] = [];
  private trimmedTo = 0;
  private trimming = false;
  private stopped = false;

  constructor(
    private readonly host: LeaderHost<W>,
    term: number,
    /** The leader we gave up on: a sequencer standing by for it takes over. */
    takeover: string | undefined,
  ) {
    const c = host.config;
    this.owner = `${c.incarnation}.${term}`;
    const seqConfig = { ...SEQUENCER_DEFAULTS, dedupeSegments: 1, keysMax: 1_024, ...c.sequencer };
    this.seq = new SequencerCore({ ...seqConfig, log: c.smr, owner: this.owner, address: c.id, segmentSize: c.segmentSize, yieldToRivals: true });
    this.seqSteps = { takeSteps: () => this.drainSequencer(), onResult: (id, r) => this.seq.onResult(id, r) };
    this.ask({ asks: [], ...(takeover !== undefined ? { takeover } : {}) }, (g) => {
      if (this.stopped) return;
      if (g.ok) this.firstSlot = g.value.tail;
      else if (g.failure.code === "redirect") this.host.follow(g.failure.active.address);
      else this.host.deposed(`taking over failed: ${g.failure.message}`);
    });
  }

  /** Recovered and issuing. Not once its sequencer is deposed (a claim lost to a rival): between
   *  that result and the drain that tells the host, there is no tail to announce or to read at. */
  get ready(): boolean {
    return this.firstSlot !== undefined && !this.stopped && this.seq.tail !== undefined;
  }
  /** The next slot to issue. */
  get tail(): number | undefined {
    return this.ready ? this.seq.tail : undefined;
  }
  get segment(): number {
    return Math.floor((this.firstSlot ?? 0) / this.host.config.segmentSize);
  }

  propose(p: Proposal): void {
    const key = keyOf(p);
    if (this.inLog.has(key)) return;
    this.inLog.add(key);
    this.queue.push(p);
  }
  /** Command `key` was applied: forget it (bounds `inLog` by the commands in flight). */
  applied(key: string): void {
    this.inLog.delete(key);
  }
  /** Every slot below `position` is applied. Past what we issued, a rival's recovery filled our
   *  segments before it yielded: our sequencer recovers at once (sequencer.ts `overtaken`). */
  appliedTo(position: number): void {
    if (this.ready && position > this.tail!) this.seq.overtaken(position - 1);
  }
  publish(record: CheckpointRecord): void {
    this.records.push(record);
  }
  readIndex(w: W): void {
    this.reads.push(w);
  }
  /** Ask the sequencer (a stream's tail for a stream read). When the leadership ends first, `done`
   *  gets an `unavailable` failure. */
  ask(request: GrantRequest, done: (r: LogResult<Grant>) => void): void {
    const id = this.nextAsk++;
    this.asked.set(id, done);
    this.seq.request(id, request, this.host.now());
  }

  /** Trim the log below `below` (monotone; one trim at a time). */
  trim(below: number): void {
    if (this.trimming || below <= this.trimmedTo) return;
    this.trimming = true;
    this.tasks.start(run({ kind: "trim", space: this.host.config.smr, below }), (r) => {
      this.trimming = false;
      if (r.ok) this.trimmedTo = Math.max(this.trimmedTo, r.value);
    });
  }

  /** Leadership ends: what was queued and never written, and the reads not confirmed. */
  stop(): { readonly unwritten: Proposal[]; readonly reads: W[] } {
    this.stopped = true;
    for (const done of this.asked.values()) done({ ok: false, failure: { code: "unavailable", message: "the leadership ended" } });
    this.asked.clear();
    const out = { unwritten: this.queue, reads: [...this.round, ...this.reads] };
    this.queue = [];
    this.reads = [];
    this.round = [];
    return out;
  }

  tick(now: number): void {
    this.seq.tick(now);
  }
  nextWakeup(): number | undefined {
    return this.seq.nextWakeup();
  }

  takeSteps() {
    this.pump();
    return this.router.take([this.seqSteps, this.tasks]);
  }
  onResult(id: number, result: unknown): void {
    this.router.answer(id, result);
  }

  private drainSequencer() {
    const steps = [];
    for (;;) {
      const out = this.seq.takeOutputs();
      steps.push(...out.steps);
      if (out.grants.length === 0) break;
      for (const g of out.grants) {
        const done = this.asked.get(g.id);
        this.asked.delete(g.id);
        done?.(g.result);
      }
    }
    if (this.seq.status.phase === "deposed" && !this.stopped) this.host.deposed(`sequencer ${this.owner} lost a claim to another owner`);
    return steps;
  }

  private pump(): void {
    if (!this.ready) return;
    while (this.writes < this.host.config.writesInFlightMax && (this.records.length > 0 || this.queue.length > 0)) this.write(this.nextItem());
    if (this.round.length === 0 && this.reads.length > 0) this.confirmRound();
  }

  private nextItem(): Item {
    const record = this.records.shift();
    if (record) return { kind: "record", record };
    const c = this.host.config;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < c.batchCommandsMax && (n === 0 || bytes + proposalBytes(this.queue[n]!) <= c.batchBytesMax)) bytes += proposalBytes(this.queue[n++]!);
    return { kind: "batch", proposals: this.queue.splice(0, n) };
  }

  private write(item: Item): void {
    this.writes++;
    const streams = item.kind === "record" ? [CHECKPOINT_STREAM] : [];
    const key = { client: this.owner, seq: this.batches++ };
    this.ask({ asks: [{ key, streams }] }, (g) => {
      if (this.stopped) return;
      if (!g.ok) {
        this.writes--;
        if (g.failure.code === "contended") this.host.deposed(g.failure.message);
        else this.requeue(item);
        return;
      }
      const t = g.value.tokens[0]!;
      const payload = encodeRecord(item.kind === "batch" ? item : { kind: "checkpoint", record: item.record });
      const value = encodeEntry({ key, streams: streams.map((tag, i) => ({ tag, prev: t.prev[i]! })), payload });
      this.tasks.start(writeSlot(t, value, this.host.config.retryMs), (r) => {
        this.writes--;
        if (this.stopped) return;
        if (typeof r === "string") return this.host.deposed(r);
        this.host.chosen(t.slot, r);
        // Our own seal behind us got there first and filled the slot: write the batch again.
        if (!bytesEqual(r, value)) this.requeue(item);
      });
    });
  }

  private requeue(item: Item): void {
    if (item.kind === "batch") this.queue.unshift(...item.proposals);
  }

  private confirmRound(): void {
    this.round = this.reads;
    this.reads = [];
    const index = this.seq.tail!;
    if (planted("readWithoutReadIndex")) return void this.confirmedRound(index);
    const s = this.seq.status;
    const segment = Math.ceil((s.next + s.captured) / this.host.config.segmentSize);
    this.tasks.start(confirm(this.host.config, this.owner, segment), (r) => {
      if (this.stopped) return;
      if (r === "deposed") return this.host.deposed("a newer leader claimed a segment");
      this.confirmedRound(r === "leader" ? index : undefined);
    });
  }

  private confirmedRound(index: number | undefined): void {
    const round = this.round;
    this.round = [];
    this.host.confirmed(round, index);
  }
}

/** Write `value` at the token's slot until the slot is decided: what it holds (ours, or what a seal
 *  of our own put there first), or why we were fenced. Retries the same write (idempotent). */
function* writeSlot(t: Token, value: Uint8Array, retryMs: number): RegGen<Uint8Array | string> {
  for (;;) {
    const w = yield* run({ kind: "write", capture: t.capture, entries: [{ index: t.slot, value }] });
    const r = w.ok ? w.value.get(t.slot)! : undefined;
    if (r?._tag === "Ok") return value;
    if (r?._tag === "AlreadyWritten") return r.value;
    if (r?._tag === "Trimmed") return `slot ${t.slot} was trimmed under a write`;
    if (r?._tag === "Preempted") {
      if (r.by.proposer !== t.capture.ballot.proposer) return `a write at slot ${t.slot} was preempted by ballot ${r.by.round}:${r.by.proposer}`;
      const read = yield* run({ kind: "read", space: t.capture.space, from: t.slot, to: t.slot + 1, recover: true });
      const v = read.ok ? read.value.get(t.slot) : undefined;
      if (v?._tag === "Written") return v.value;
    }
    yield* sleep(retryMs);
  }
}

/** The read-index round: is the segment past our last claimed one unallocated (we still lead),
 *  allocated by another owner (deposed), or unknown (no quorum answered, a mixed picture)? */
function* confirm(c: ReplicaConfig, owner: string, from: number): RegGen<"leader" | "deposed" | "unknown"> {
  const r = yield* segmentAbove({ space: c.smr, owner, retryMs: c.retryMs, attemptsMax: CONFIRM_ATTEMPTS_MAX }, from);
  return r.kind === "free" ? "leader" : r.kind === "rival" ? "deposed" : "unknown";
}
