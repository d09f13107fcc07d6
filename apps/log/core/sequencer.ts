/**
 * The sequencer (DESIGN.md §4.1): soft state that hands out tokens (slot, capture) in batches.
 * Sans-IO: the driver calls `request`/`tick`, answers the register steps from `takeOutputs()`, and
 * sends the grants. Embedded in an appender it is the single-writer mode (tokens cost nothing);
 * behind a server it serves many appenders.
 *
 * Lifecycle: recover (find the last allocated segment, seal the last `sealSegments` of them so no
 * token an older sequencer issued there can still land, learn stream tails and keys from what they
 * hold) → ready (issue tokens from claimed segments, claiming `aheadSegments` ahead of demand).
 * An appender fenced by a ballot above ours, or a segment claim lost to another sequencer, makes us
 * recover again with a higher ballot.
 *
 * Standby (./standby.ts): a sequencer that serves at an address finds, when it would recover, whether
 * another one serving elsewhere owns the log's last segment; then it stands by and answers every
 * request with a redirect there, instead of fencing it. It takes the log over only when a request
 * carries a takeover hint naming that sequencer. A ready sequencer told that a slot it issued holds
 * someone else's value looks the owner up the same way. An embedded sequencer never stands by.
 */
import { type Ballot, compareBallots } from "../../../paxos/ballot.ts";
import type { Capture } from "../../../wor/core/results.ts";
import { assert } from "../../../verify/runtime/assert.ts";
import { PREV_NONE, PREV_UNKNOWN, decodeSlot, keyString } from "./entry.ts";
import { type ClaimResult, type SegmentConfig, claim, lastAllocated, seal } from "./segments.ts";
import { type LastOwner, lastOwner, ownerOf, redirect } from "./standby.ts";
import { type ActiveSequencer, type LogFailure, type GrantRequest, type LogResult, type RegGen, type RegisterStep, type StepResult, type TokenAsk, isTransient, logFail, logOk, sleep } from "./steps.ts";
import { TaskRunner } from "./tasks.ts";
import { type Grant, SEQUENCER_PRIORS_MAX, type Token } from "./tokens.ts";

export interface SequencerConfig extends SegmentConfig {
  /** Written in each segment's allocation metadata: unique per sequencer incarnation. */
  readonly owner: string;
  /** Where this sequencer serves ("host:port"), written with `owner`: a standby redirects clients
   *  here. None: embedded in an appender, never standing by. */
  readonly address?: string;
  /** Claimed segments kept ahead of the next slot. */
  readonly aheadSegments: number;
  /** Segments sealed on recovery: at least `aheadSegments + 1` of every sequencer of this log. */
  readonly sealSegments: number;
  /** Idempotency keys remembered (every slot issued per key). */
  readonly keysMax: number;
  /** Slots remembered per key; a key asking for more tokens than this is refused, not forgotten. */
  readonly priorsMax: number;
  /** Stream tails remembered; beyond, the oldest is forgotten (its next backpointer is unknown). */
  readonly streamsMax: number;
  /** Tokens one request may ask for. */
  readonly asksMax: number;
  /** A request that cannot be granted by then fails with a timeout. */
  readonly askTimeoutMs: number;
}

export const SEQUENCER_DEFAULTS = {
  aheadSegments: 1,
  sealSegments: 2,
  keysMax: 1 << 20,
  priorsMax: SEQUENCER_PRIORS_MAX,
  streamsMax: 1 << 16,
  asksMax: 4_096,
  askTimeoutMs: 5_000,
  retryMs: 50,
  preemptRetriesMax: 32,
} as const;

export interface SequencerOutputs {
  readonly steps: readonly { readonly id: number; readonly step: RegisterStep }[];
  readonly grants: readonly { readonly id: number; readonly result: LogResult<Grant> }[];
}

type Phase = "idle" | "recovering" | "ready" | "standby";

/** What recovery found: the last allocated segment, and the values of the sealed ones from `from`;
 *  or that another sequencer serves the log. */
type Recovered = Sealed | { readonly kind: "standby"; readonly active: ActiveSequencer };
interface Sealed {
  readonly kind: "sealed";
  readonly last: number;
  readonly sealed: ReadonlyMap<number, Uint8Array>;
  readonly from: number;
}

interface Queued {
  readonly id: number;
  readonly req: GrantRequest;
  readonly deadline: number;
}

export class SequencerCore {
  private readonly tasks = new TaskRunner<RegisterStep, StepResult>();
  private phase: Phase = "idle";
  /** Bumped by every recovery: work started under an older epoch is discarded. */
  private epoch = 0;
  private captures: Capture[] = [];
  private next = 0;
  /** The first slot issued since the last recovery. */
  private issuedFrom = 0;
  private nextSegment = 0;
  private claiming = false;
  /** Finding out who owns the last segment (after a token found its slot taken). */
  private checking = false;
  private readonly streams = new Map<string, number>();
  /** Every stream's whole history is known (a fresh log, or sealed back to its start). */
  private streamsComplete = false;
  private readonly keys = new Map<string, number[]>();
  private queue: Queued[] = [];
  private grants: { id: number; result: LogResult<Grant> }[] = [];
  private recoveries = 0;
  /** While standing by: the sequencer clients are redirected to. */
  private active: ActiveSequencer | undefined;

  constructor(readonly config: SequencerConfig) {
    assert(config.aheadSegments >= 1 && config.sealSegments > config.aheadSegments, "sealSegments > aheadSegments ≥ 1");
  }

  /** Ask for one token per ask; the grant leaves through `takeOutputs()`, now or later. */
  request(id: number, req: GrantRequest, now: number): void {
    if (req.asks.length > this.config.asksMax) {
      this.grants.push({ id, result: logFail("tooLarge", `${req.asks.length} tokens asked (limit ${this.config.asksMax})`) });
      return;
    }
    if (this.phase === "standby" && req.takeover !== this.active?.address) {
      this.grants.push({ id, result: redirect(this.config, this.config.log, this.active!) });
      return;
    }
    this.queue.push({ id, req, deadline: now + this.config.askTimeoutMs });
    for (const a of req.asks) {
      if (a.preemptedBy) this.fencedBy(a.preemptedBy);
      if (a.taken !== undefined) this.takenAt(a.taken);
    }
    if (this.phase === "idle" || this.phase === "standby") this.recover();
    this.pump();
  }

  onResult(stepId: number, result: StepResult): void {
    this.tasks.onResult(stepId, result);
    this.pump();
  }

  /** Expire requests past their deadline. */
  tick(now: number): void {
    const [late, keep] = partition(this.queue, (q) => q.deadline <= now);
    this.queue = keep;
    for (const q of late) this.grants.push({ id: q.id, result: logFail("timeout", `no token within ${this.config.askTimeoutMs} ms (sequencer ${this.phase})`) });
  }

  nextWakeup(): number | undefined {
    return this.queue.length > 0 ? Math.min(...this.queue.map((q) => q.deadline)) : undefined;
  }

  takeOutputs(): SequencerOutputs {
    const grants = this.grants;
    this.grants = [];
    return { steps: this.tasks.takeSteps(), grants };
  }

  /** The next slot a token would get, once ready. */
  get tail(): number | undefined {
    return this.phase === "ready" ? this.next : undefined;
  }
  get status(): { phase: Phase; next: number; captured: number; recoveries: number; queued: number; streams: number; active?: string } {
    const capturedEnd = this.captures.at(-1)?.to ?? this.next;
    const s = { phase: this.phase, next: this.next, captured: capturedEnd - this.next, recoveries: this.recoveries, queued: this.queue.length, streams: this.streams.size };
    return this.active ? { ...s, active: this.active.address } : s;
  }
  /** The last slot issued for `tag` (a backpointer: none / unknown when not remembered). */
  private streamTail(tag: string): number {
    return this.streams.get(tag) ?? (this.streamsComplete ? PREV_NONE : PREV_UNKNOWN);
  }

  private fencedBy(by: Ballot): void {
    if (this.phase !== "ready") return;
    if (this.captures.some((c) => compareBallots(c.ballot, by) < 0)) this.recover();
  }

  /** A slot we issued since we last recovered holds another value: a hole filler, or a sequencer
   *  that captured over us. Find who owns the last segment: stand by, fence it, or carry on. */
  private takenAt(slot: number): void {
    if (this.phase !== "ready" || this.checking || slot < this.issuedFrom || slot >= this.next) return;
    this.checking = true;
    const epoch = this.epoch;
    this.tasks.start(lastOwner(this.config, this.config, (a) => this.hinted(a)), (r) => {
      if (epoch !== this.epoch) return;
      this.checking = false;
      if (!r.ok || r.value === "ours") return;
      if (r.value === "fence") this.recover();
      else this.standBy(r.value);
    });
  }

  /** A queued request asks us to take over from the sequencer at `address`. */
  private hinted(address: string): boolean {
    return this.queue.some((q) => q.req.takeover === address);
  }

  private recover(): void {
    this.epoch++;
    this.recoveries++;
    this.phase = "recovering";
    this.active = undefined;
    this.captures = [];
    this.claiming = false;
    this.checking = false;
    const epoch = this.epoch;
    this.tasks.start(this.recoverTask(), (r) => {
      if (epoch !== this.epoch) return;
      if (!r.ok) {
        this.phase = "idle";
        this.failQueued(r.failure);
        return;
      }
      if (r.value.kind === "standby") this.standBy(r.value.active);
      else this.adopt(r.value);
      this.pump();
    });
  }

  /** Recover, retrying while the cluster is unreachable or another sequencer keeps preempting. */
  private *recoverTask(): RegGen<LogResult<Recovered>> {
    for (;;) {
      const r = yield* this.tryRecover();
      if (r.ok || !isTransient(r.failure.code)) return r;
      yield* sleep(this.config.retryMs);
    }
  }

  private *tryRecover(): RegGen<LogResult<Recovered>> {
    const last = yield* lastAllocated(this.config);
    if (!last.ok) return last;
    const owner: LogResult<LastOwner> = yield* ownerOf(this.config, this.config, last.value, (a) => this.hinted(a));
    if (!owner.ok) return owner;
    if (typeof owner.value === "object") return logOk({ kind: "standby", active: owner.value });
    const from = Math.max(0, last.value - this.config.sealSegments + 1);
    const sealed = new Map<number, Uint8Array>();
    for (let s = from; s <= last.value; s++) {
      const r = yield* seal(this.config, s);
      if (!r.ok) return r;
      for (const [i, v] of r.value) sealed.set(i, v);
    }
    return logOk({ kind: "sealed", last: last.value, sealed, from });
  }

  private standBy(active: ActiveSequencer): void {
    this.epoch++;
    this.phase = "standby";
    this.active = active;
    this.captures = [];
    this.claiming = false;
    this.checking = false;
    for (const q of this.queue) this.grants.push({ id: q.id, result: redirect(this.config, this.config.log, active) });
    this.queue = [];
  }

  private adopt(r: Sealed): void {
    this.streams.clear();
    this.keys.clear();
    this.streamsComplete = r.from === 0;
    for (const [slot, bytes] of [...r.sealed].sort(([a], [b]) => a - b)) {
      const v = decodeSlot(bytes);
      if ("_tag" in v || v.kind === "fill") continue;
      for (const s of v.entry.streams) this.noteStream(s.tag, slot);
      this.noteKey(keyString(v.entry.key), slot);
    }
    this.nextSegment = r.last + 1;
    this.next = this.nextSegment * this.config.segmentSize;
    this.issuedFrom = this.next;
    this.phase = "ready";
  }

  private claimAhead(): void {
    if (this.phase !== "ready" || this.claiming) return;
    const capturedEnd = this.captures.at(-1)?.to ?? this.next;
    if (capturedEnd - this.next >= this.config.aheadSegments * this.config.segmentSize) return;
    this.claiming = true;
    const epoch = this.epoch;
    const segment = this.nextSegment;
    this.tasks.start(this.claimTask(segment), (r) => {
      if (epoch !== this.epoch) return;
      this.claiming = false;
      if (!r.ok) {
        this.failQueued(r.failure);
        return;
      }
      if (r.value.kind === "rival") {
        this.recover();
        return;
      }
      this.captures.push(r.value.capture);
      this.nextSegment = segment + 1;
    });
  }

  private *claimTask(segment: number): RegGen<LogResult<ClaimResult>> {
    for (;;) {
      const r = yield* claim(this.config, this.config.owner, segment, this.config.address);
      if (r.ok || !isTransient(r.failure.code)) return r;
      yield* sleep(this.config.retryMs);
    }
  }

  private pump(): void {
    for (;;) {
      this.claimAhead();
      if (this.phase !== "ready") return;
      const q = this.queue[0];
      if (!q) return;
      const capturedEnd = this.captures.at(-1)?.to ?? this.next;
      if (capturedEnd - this.next < q.req.asks.length) return;
      this.queue.shift();
      const spent = q.req.asks.find((a) => (this.keys.get(keyString(a.key))?.length ?? 0) >= this.config.priorsMax);
      if (spent) {
        this.grants.push({ id: q.id, result: logFail("exhausted", `key ${keyString(spent.key)} was issued ${this.config.priorsMax} slots already`) });
        continue;
      }
      const tokens = q.req.asks.map((a) => this.issue(a));
      const streamTails = (q.req.streams ?? []).map((tag) => this.streamTail(tag));
      this.grants.push({ id: q.id, result: logOk({ tokens, tail: this.next, streamTails }) });
    }
  }

  private issue(ask: TokenAsk): Token {
    while (this.captures[0] && this.captures[0].to <= this.next) this.captures.shift();
    const capture = this.captures[0];
    assert(capture !== undefined && capture.from <= this.next, () => `a claimed capture covers the next slot ${this.next}`);
    const slot = this.next++;
    const prev = ask.streams.map((tag) => {
      const p = this.streamTail(tag);
      this.noteStream(tag, slot);
      return p;
    });
    const k = keyString(ask.key);
    const priors = [...(this.keys.get(k) ?? [])];
    this.noteKey(k, slot);
    return { slot, capture, prev, priors };
  }

  private noteStream(tag: string, slot: number): void {
    this.streams.delete(tag);
    this.streams.set(tag, slot);
    if (this.streams.size > this.config.streamsMax) {
      this.streams.delete(this.streams.keys().next().value!);
      this.streamsComplete = false;
    }
  }

  private noteKey(k: string, slot: number): void {
    const slots = this.keys.get(k) ?? [];
    slots.push(slot);
    this.keys.delete(k);
    this.keys.set(k, slots);
    if (this.keys.size > this.config.keysMax) this.keys.delete(this.keys.keys().next().value!);
  }

  private failQueued(f: LogFailure): void {
    for (const q of this.queue) this.grants.push({ id: q.id, result: { ok: false, failure: f } });
    this.queue = [];
  }
}

function partition<T>(xs: readonly T[], p: (x: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const x of xs) (p(x) ? yes : no).push(x);
  return [yes, no];
}
