/**
 * The sequencer (docs/ARCHITECTURE.md §4.1): soft state that hands out tokens (slot, capture) in batches.
 * Sans-IO: the driver calls `request`/`tick`, answers the register steps from `takeOutputs()`, and
 * sends the grants. Embedded in an appender it is the single-writer mode (tokens cost nothing);
 * behind a server it serves many appenders.
 *
 * Lifecycle: recover (core/recovery.ts: seal everything an older sequencer left unsealed, so no
 * token it issued can still land, and learn keys and stream tails from the dedupe window) → ready
 * (issue tokens from claimed segments, claiming `aheadSegments` ahead of demand, and seal each
 * segment whose tokens are all issued `sealAfterMs` later; each claim records in the segment's
 * allocation metadata how far behind it everything is sealed, which bounds the next recovery).
 * An appender fenced by a ballot above ours, or a segment claim lost to another sequencer, makes us
 * recover again with a higher ballot. A tail query (a request with no asks) is answered once a tail
 * check started after it found no other owner's segment above ours (./tail-check.ts): otherwise we
 * recover first, so the tail is above every append acknowledged before the query.
 *
 * Standby (./standby.ts): a sequencer that serves at an address finds, when it would recover, whether
 * another one serving elsewhere owns the log's last segment; then it stands by and answers every
 * request with a redirect there, instead of fencing it. It takes the log over only when a request
 * carries a takeover hint naming that sequencer. A ready sequencer told that a slot it issued holds
 * someone else's value looks the owner up the same way. An embedded sequencer never stands by.
 * With `yieldToRivals` (an SMR leader, apps/smr) a claim lost to another owner deposes it instead.
 * With `yieldsTo` (a KV node gives way to one of a newer map), finding such a rival's segment last
 * where it would recover or look the owner up deposes it instead.
 */
import { type Ballot, compareBallots } from "../../../paxos/ballot.ts";
import type { Capture } from "../../../wor/core/results.ts";
import { type ClaimResult, type SegmentConfig, claim, seal } from "../../../wor/core/segments.ts";
import { type RegGen, type RegisterStep, sleep } from "../../../wor/core/steps.ts";
import { TaskRunner } from "../../../wor/core/tasks.ts";
import { assert } from "../../../verify/runtime/assert.ts";
import { FILL_BYTES, isFill, keyString } from "./entry.ts";
import { GrantQueue, type Queued, isQuery } from "./grant-queue.ts";
import { KeyTable } from "./key-table.ts";
import type { Recovered, RecoveryConfig } from "./recovery.ts";
import { SealBehind } from "./seal-behind.ts";
import { LOG_SEGMENT_META, type LogSegmentFields, segmentsOf } from "./segments.ts";
import { type SequencerSelf, givingWay, lastOwner, recoverOrStandBy, redirect } from "./standby.ts";
import { TAIL_CHECK_ATTEMPTS_MAX, TailChecks, segmentAbove } from "./tail-check.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { probe } from "../../../verify/runtime/probe.ts";
import { type ActiveSequencer, type LogFailure, type GrantRequest, type LogResult, type TokenAsk, isTransient, logFail, logOk } from "./steps.ts";
import { type Grant, SEQUENCER_PRIORS_MAX, type Token } from "./tokens.ts";
import { StreamTails } from "./stream-tails.ts";

/** Its owner (unique per incarnation), where it serves and whom it gives way to: ./standby.ts. */
export interface SequencerConfig extends RecoveryConfig, SequencerSelf {
  /** Claimed segments kept ahead of the next slot, maybe a fraction (1/16: the next is claimed when
   *  the last has a sixteenth left; 0: when it is used up). Less ahead, less for a new owner to seal. */
  readonly aheadSegments: number;
  /** A segment whose tokens are all issued is sealed this long after its last one was issued
   *  (an appender still writing with a token there by then is fenced and settles its slot). */
  readonly sealAfterMs: number;
  /** Slots remembered per key; a key asking for more tokens than this is refused, not forgotten. */
  readonly priorsMax: number;
  /** Stream tails remembered; beyond, the oldest is forgotten (its next backpointer is unknown). */
  readonly streamsMax: number;
  /** Tokens one request may ask for. */
  readonly asksMax: number;
  /** A request that cannot be granted by then fails with a timeout. */
  readonly askTimeoutMs: number;
  /** A claim lost to another owner deposes this sequencer (phase `deposed`: queued and later
   *  requests fail `contended`) instead of making it recover: its owner decides whether to take the
   *  log back (an SMR leader, apps/smr, steps down and follows the winner). Default: recover. */
  readonly yieldToRivals?: boolean;
}

export const SEQUENCER_DEFAULTS = {
  aheadSegments: 1,
  sealAfterMs: 2_000,
  dedupeSegments: 64,
  // Slots one seal round reads (and captures where they are open): one default segment.
  sealChunkMax: 4_096,
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

type Phase = "idle" | "recovering" | "ready" | "standby" | "deposed";

export class SequencerCore {
  private readonly tasks = new TaskRunner<RegisterStep, unknown>();
  /** The log's space, as segment ownership (wor/core/segments.ts) sees it. */
  private readonly segments: SegmentConfig;
  private phase: Phase = "idle";
  /** Bumped by every recovery: work started under an older epoch is discarded. */
  private epoch = 0;
  /** The latest time the driver told us (`request`, `tick`). */
  private now = 0;
  private captures: Capture[] = [];
  private next = 0;
  /** The first slot issued since the last recovery. */
  private issuedFrom = 0;
  private nextSegment = 0;
  private claiming = false;
  /** Finding out who owns the last segment (after a token found its slot taken). */
  private checking = false;
  /** Tail checks: which tail queries may be answered. */
  private readonly tailChecks = new TailChecks();
  /** Sealing our full segments behind us, and what each claim records of it. */
  private readonly behind: SealBehind;
  private readonly streams: StreamTails;
  private keys: KeyTable;
  private readonly queue = new GrantQueue();
  private grants: { id: number; result: LogResult<Grant> }[] = [];
  private recoveries = 0;
  /** While standing by: the sequencer clients are redirected to. */
  private active: ActiveSequencer | undefined;

  constructor(readonly config: SequencerConfig) {
    assert(config.aheadSegments >= 0 && config.dedupeSegments >= 1 && config.sealAfterMs >= 0, "aheadSegments ≥ 0, dedupeSegments ≥ 1, sealAfterMs ≥ 0");
    this.keys = new KeyTable(config.keysMax, 0);
    this.segments = segmentsOf(config);
    this.behind = new SealBehind(config.sealAfterMs, config.dedupeSegments);
    this.streams = new StreamTails(config.streamsMax);
  }

  /** Ask for one token per ask; the grant leaves through `takeOutputs()`, now or later. */
  request(id: number, req: GrantRequest, now: number): void {
    this.now = Math.max(this.now, now);
    if (req.asks.length > this.config.asksMax) {
      this.grants.push({ id, result: logFail("tooLarge", `${req.asks.length} tokens asked (limit ${this.config.asksMax})`) });
      return;
    }
    if (this.phase === "standby" && req.takeover !== this.active?.address) {
      this.grants.push({ id, result: redirect(this.config, this.config.log, this.active!) });
      return;
    }
    if (this.phase === "deposed") {
      this.grants.push({ id, result: logFail("contended", `sequencer ${this.config.owner} was deposed: another owner claimed the log`) });
      return;
    }
    this.queue.push({ id, req, deadline: this.now + this.config.askTimeoutMs, ticket: this.tailChecks.ticket });
    for (const a of req.asks) {
      if (a.preemptedBy) this.fencedBy(a.preemptedBy);
      if (a.taken !== undefined) this.takenAt(a.taken);
    }
    if (this.phase === "idle" || this.phase === "standby") this.recover();
    this.pump();
  }

  onResult(stepId: number, result: unknown): void {
    this.tasks.onResult(stepId, result);
    this.pump();
  }

  /** Expire requests past their deadline; seal behind us what is due. */
  tick(now: number): void {
    this.now = Math.max(this.now, now);
    for (const q of this.queue.expire(now)) this.grants.push({ id: q.id, result: logFail("timeout", `no token within ${this.config.askTimeoutMs} ms (sequencer ${this.phase})`) });
    this.pump();
  }

  /** `slot`, at or above the next one we would issue, holds a value: someone captured our segments
   *  (a rival's recovery sealed them), so our captures are fenced. Act on it now, as on a claim
   *  lost to a rival (recover, or with `yieldToRivals` be deposed), rather than at the next write:
   *  the tail we answer must never be below what the log holds. */
  overtaken(slot: number): void {
    if (this.phase !== "ready" || slot < this.next) return;
    probe("log.sequencer.overtaken");
    this.rival(`slot ${slot}, above the tokens issued, holds a value`);
  }

  nextWakeup(): number | undefined {
    const queued = this.queue.nextDeadline();
    const seal = this.phase === "ready" ? this.behind.due() : undefined;
    if (seal === undefined) return queued;
    return queued === undefined ? seal : Math.min(queued, seal);
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
  get status(): { phase: Phase; next: number; captured: number; recoveries: number; queued: number; streams: number; sealedBelow: number; dedupeFrom: number; active?: string } {
    const { phase, next, recoveries, capturedEnd } = this;
    const counts = { recoveries, queued: this.queue.size, streams: this.streams.size, sealedBelow: this.behind.sealedBelow, dedupeFrom: this.keys.from };
    return { phase, next, captured: capturedEnd - next, ...counts, ...(this.active ? { active: this.active.address } : {}) };
  }
  /** The end of the slots claimed and not issued yet. */
  private get capturedEnd(): number {
    return this.captures.at(-1)?.to ?? this.next;
  }

  private fencedBy(by: Ballot): void {
    if (this.phase !== "ready") return;
    // Our own ballots (a seal behind us fencing a slow appender) do not fence our live segments.
    if (this.captures.some((c) => c.ballot.proposer === by.proposer)) return;
    if (this.captures.some((c) => compareBallots(c.ballot, by) < 0)) this.recover();
  }

  /** A slot we issued since we last recovered holds another value (a hole filler, or a sequencer that captured over us): find who owns the last segment; stand by, fence it, or carry on. */
  private takenAt(slot: number): void {
    if (this.phase !== "ready" || this.checking || slot < this.issuedFrom || slot >= this.next) return;
    this.checking = true;
    const epoch = this.epoch;
    this.tasks.start(lastOwner(this.config.log, this.config, (a) => this.hinted(a)), (r) => {
      if (epoch !== this.epoch) return;
      this.checking = false;
      if (!r.ok || r.value === "ours") return;
      if (r.value === "fence") this.recover();
      else if ("yieldTo" in r.value) this.depose(givingWay(r.value.yieldTo));
      else this.standBy(r.value);
    });
  }

  /** A queued request asks us to take over from the sequencer at `address`. */
  private hinted(address: string): boolean {
    return this.queue.some((q) => q.req.takeover === address);
  }

  /** Enter `phase`: captures, seals and claims under way are dropped (their results discarded). */
  private enter(phase: "recovering" | "standby" | "deposed", active?: ActiveSequencer): void {
    this.epoch++;
    this.phase = phase;
    this.active = active;
    this.captures = [];
    this.behind.stop();
    this.tailChecks.stop();
    this.claiming = false;
    this.checking = false;
  }

  private recover(): void {
    this.recoveries++;
    this.enter("recovering");
    const epoch = this.epoch;
    this.tasks.start(recoverOrStandBy(this.config, (a) => this.hinted(a)), (r) => {
      if (epoch !== this.epoch) return;
      if (!r.ok) {
        this.phase = "idle";
        this.failQueued(r.failure);
        return;
      }
      if (r.value.kind === "standby") this.standBy(r.value.active);
      else if (r.value.kind === "yield") this.depose(givingWay(r.value.owner));
      else this.adopt(r.value);
      this.pump();
    });
  }

  private standBy(active: ActiveSequencer): void {
    this.enter("standby", active);
    for (const q of this.queue.take()) this.grants.push({ id: q.id, result: redirect(this.config, this.config.log, active) });
  }

  /** Another owner claimed the log and we yield to it (`yieldToRivals`, `yieldsTo`): stop issuing. */
  private depose(why: string): void {
    this.enter("deposed");
    this.failQueued({ code: "contended", message: `sequencer ${this.config.owner} was deposed: ${why}` });
  }

  private adopt(r: Recovered): void {
    this.streams.reset(r.streams, r.from === 0);
    this.keys = r.keys;
    this.behind.recovered(r.last, r.from, r.entrySegments);
    this.nextSegment = r.last + 1;
    this.next = this.nextSegment * this.config.segmentSize;
    this.issuedFrom = this.next;
    this.phase = "ready";
  }

  private claimAhead(): void {
    if (this.phase !== "ready" || this.claiming) return;
    // Enough for the first ask waiting, or `aheadSegments` of slack if more.
    const want = Math.max(1, this.queue.firstAsk()?.req.asks.length ?? 0, this.config.aheadSegments * this.config.segmentSize);
    if (this.capturedEnd - this.next >= want) return;
    this.claiming = true;
    const epoch = this.epoch;
    const segment = this.nextSegment;
    // What the next owner need not seal or read back.
    const meta = { ...(this.config.address !== undefined ? { address: this.config.address } : {}), ...this.behind.claimMeta() };
    this.tasks.start(this.claimTask(segment, meta), (r) => {
      if (epoch !== this.epoch) return;
      this.claiming = false;
      if (!r.ok) {
        this.failQueued(r.failure);
        return;
      }
      if (r.value.kind === "rival") this.rival(r.value.why);
      else {
        this.captures.push(r.value.capture);
        this.nextSegment = segment + 1;
      }
    });
  }

  /** Another owner holds a segment we need or one above ours: recover over it, or yield to it. */
  private rival(why: string): void {
    if (this.config.yieldToRivals) this.depose(why);
    else this.recover();
  }

  /** Answer the tail queries a tail check confirmed; start a check for those still waiting. */
  private answerQueries(): void {
    // Planted bug: the tail is answered without its check.
    for (const q of this.queue.takeQueries((x) => planted("unconfirmedTail") || this.tailChecks.covers(x.ticket))) {
      this.grants.push({ id: q.id, result: logOk({ tokens: [], tail: this.next, streamTails: this.streamTails(q.req) }) });
    }
    if (!this.queue.hasQueries) return;
    const n = this.tailChecks.start();
    if (n === undefined) return;
    const epoch = this.epoch;
    const { log: space, owner, retryMs } = this.config;
    this.tasks.start(segmentAbove({ space, owner, retryMs, attemptsMax: TAIL_CHECK_ATTEMPTS_MAX }, this.nextSegment), (r) => {
      if (epoch !== this.epoch) return;
      this.tailChecks.done(n, r.kind === "free");
      if (r.kind === "unknown") this.failQueued({ code: "unavailable", message: `the tail of log ${space} could not be confirmed: ${r.why}` }, isQuery);
      else if (r.kind === "rival") this.rival(r.why);
    });
  }

  private streamTails(req: GrantRequest): number[] {
    return (req.streams ?? []).map((tag) => this.streams.tail(tag));
  }

  private *claimTask(segment: number, meta: LogSegmentFields & { sealedBelow: number }): RegGen<LogResult<ClaimResult>> {
    for (;;) {
      const r = yield* claim(this.segments, LOG_SEGMENT_META, segment, { owner: this.config.owner, ...meta });
      if (r.ok || !isTransient(r.failure.code)) return r;
      yield* sleep(this.config.retryMs);
    }
  }

  /** Seal the oldest fully issued segment once it is due, one at a time, in order. */
  private sealBehind(): void {
    const segment = this.phase === "ready" ? this.behind.start(this.now) : undefined;
    if (segment === undefined) return;
    const epoch = this.epoch;
    let entries = false;
    const visit = (_slot: number, v: Uint8Array): void => {
      entries ||= !isFill(v);
    };
    this.tasks.start(seal(this.segments, segment, segment, FILL_BYTES, visit), (r) => {
      if (epoch !== this.epoch) return;
      if (r.ok) this.behind.sealed(segment, entries);
      else this.behind.failed(segment, this.now);
    });
  }

  private pump(): void {
    for (;;) {
      this.claimAhead();
      if (this.phase !== "ready") return;
      this.sealBehind();
      this.answerQueries();
      // Token asks in arrival order (tail queries waiting for their check do not hold them up).
      const q = this.queue.firstAsk();
      if (!q) return;
      if (this.capturedEnd - this.next < q.req.asks.length) return;
      this.queue.shiftAsk();
      const refused = this.keys.refusal(q.req.asks, this.config.priorsMax);
      if (refused) {
        this.grants.push({ id: q.id, result: refused });
        continue;
      }
      const tokens = q.req.asks.map((a) => this.issue(a));
      this.grants.push({ id: q.id, result: logOk({ tokens, tail: this.next, streamTails: this.streamTails(q.req) }) });
    }
  }

  private issue(ask: TokenAsk): Token {
    const capture = this.captures[0];
    assert(capture !== undefined && capture.from <= this.next && this.next < capture.to, () => `a claimed capture covers the next slot ${this.next}`);
    const slot = this.next++;
    if (this.next === capture.to) {
      this.captures.shift();
      this.behind.issued(Math.floor(slot / this.config.segmentSize), this.now);
    }
    const prev = ask.streams.map((tag) => {
      const p = this.streams.tail(tag);
      this.streams.note(tag, slot);
      return p;
    });
    const k = keyString(ask.key);
    const priors = [...this.keys.priors(k)];
    this.keys.note(k, slot);
    return { slot, capture, prev, priors };
  }

  /** Fail the queued requests `which` picks (all by default). */
  private failQueued(f: LogFailure, which: (q: Queued) => boolean = () => true): void {
    for (const q of this.queue.take(which)) this.grants.push({ id: q.id, result: { ok: false, failure: f } });
  }
}
