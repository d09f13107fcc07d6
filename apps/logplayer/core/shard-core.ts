/**
 * The shard's side of delivery (docs/ARCHITECTURE.md §4.4), pure and synchronous: the receiver of
 * the sans-IO pair (core/player-core.ts is the sender). One core per shard serves every delivery
 * stream (session) to it, one frame at a time, so two streams never apply concurrently.
 *
 * The rule, per item of a batch, in order (the epoch first: a batch below the shard's epoch is
 * refused whole, `fenced`):
 *   position ≤ applied          → a duplicate: dropped (the reply re-acks `applied`);
 *   previous = applied          → applied: its data becomes a row, `applied` = position;
 *   otherwise                   → a gap: the rest of the batch is dropped, the reply is `rewind`.
 *
 * Persist before reply, in the types (paxos/held.ts): what a frame changes joins the **forming
 * write**; `takeWrite` hands it to storage as one atomic synced write (rows, applied position,
 * epoch, binding together) while the next one forms behind it (self-clocking group commit: what
 * arrives during a sync is the next write). Replies are `Held` and released only with the receipt
 * of the write that made them true; a reply that changed nothing is released at once when nothing
 * is pending, else with the write it follows.
 *
 * A player's **report** (what its sender holds for this shard: in flight, window, queue, behind),
 * riding a batch or in a frame of its own, is kept in memory only, the latest one of the shard's
 * epoch: a hint for status, never written, never answered, forgotten when a newer epoch arrives.
 */
import { type Held, type Receipt, hold, release } from "../../../paxos/held.ts";
import { assert } from "../../../verify/runtime/assert.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { type Binding, type PlayerFrame, type PlayerReport, type ShardReply, describeBinding, sameBinding } from "./items.ts";

/** What a shard has made durable: its applied position, its epoch and its binding. */
export interface ShardDurable {
  readonly applied: number;
  readonly epoch: number;
  readonly binding?: Binding;
}

/** One entry a shard holds: the log's entry at `position`, as far as this shard is concerned. */
export interface Row {
  readonly position: number;
  readonly data: Uint8Array;
}

/** One atomic write: the rows applied since the last write, with the shard's state after them. */
export interface ShardWrite extends ShardDurable {
  readonly rows: readonly Row[];
}

/** A reply and the session (delivery stream) it goes to. */
export interface Addressed {
  readonly session: number;
  readonly reply: ShardReply;
}

interface HeldReply {
  readonly session: number;
  readonly kind: ShardReply["kind"];
  readonly reply: Held<ShardReply>;
}

interface Pending {
  readonly rows: Row[];
  readonly replies: HeldReply[];
  dirty: boolean;
}

/** What a shard has done since it started (for status and the checkers' events). */
export interface ShardCounters {
  batches: number;
  /** Items applied (entries and watermarks). */
  applied: number;
  watermarks: number;
  duplicates: number;
  rewinds: number;
  fenced: number;
  refused: number;
  writes: number;
}

/** The latest report of a player and the epoch it came from. */
export interface EpochReport {
  readonly epoch: number;
  readonly report: PlayerReport;
}

const zeroCounters = (): ShardCounters => ({ batches: 0, applied: 0, watermarks: 0, duplicates: 0, rewinds: 0, fenced: 0, refused: 0, writes: 0 });

const pending = (): Pending => ({ rows: [], replies: [], dirty: false });

export class ShardCore {
  readonly counters: ShardCounters;
  private appliedAt: number;
  private epochAt: number;
  private boundTo: Binding | undefined;
  private forming = pending();
  private inFlight: Pending | undefined;
  private ready: Addressed[] = [];
  private reported: EpochReport | undefined;

  /** `receipt`: the storage's proof that `durable` (what it loaded) is durable. */
  constructor(
    durable: ShardDurable,
    private lastReceipt: Receipt,
  ) {
    assert(Number.isSafeInteger(durable.applied) && durable.applied >= -1, "a shard's applied position is a slot or -1");
    assert(Number.isSafeInteger(durable.epoch) && durable.epoch >= 0, "a shard's epoch is a non-negative integer");
    this.appliedAt = durable.applied;
    this.epochAt = durable.epoch;
    this.boundTo = durable.binding;
    this.counters = zeroCounters();
  }

  /** Everything applied so far, durable or not. */
  get applied(): number {
    return this.appliedAt;
  }
  get epoch(): number {
    return this.epochAt;
  }
  get binding(): Binding | undefined {
    return this.boundTo;
  }
  /** The latest report of the shard's epoch (volatile: undefined after a restart or a newer epoch). */
  get report(): EpochReport | undefined {
    return this.reported;
  }
  /** A write is with the storage. */
  get writing(): boolean {
    return this.inFlight !== undefined;
  }
  /** `takeWrite` has a write to hand over. */
  get dirty(): boolean {
    return this.inFlight === undefined && this.forming.dirty;
  }

  /** Handle one frame of session `session`. Its reply leaves through `takeReplies` once durable. */
  receive(session: number, frame: PlayerFrame): void {
    if (frame.kind === "hello") this.hello(session, frame);
    else if (frame.kind === "batch") this.batch(session, frame);
    else this.noteReport(frame.epoch, frame.report);
    this.settle();
  }

  /** The rows applied since the last `takeWrite`: the next write's, in order (rows only ever join
   *  it), so a store may act on them before they are durable (apps/kv's shard applies them). */
  get staged(): readonly Row[] {
    return this.forming.rows;
  }

  /** The next write for the storage: everything that changed since the last one. Undefined while
   *  a write is in flight (it forms behind it) or when nothing changed. */
  takeWrite(): ShardWrite | undefined {
    if (this.inFlight || !this.forming.dirty) return undefined;
    this.inFlight = this.forming;
    this.forming = pending();
    this.counters.writes++;
    return { rows: this.inFlight.rows, applied: this.appliedAt, epoch: this.epochAt, ...(this.boundTo ? { binding: this.boundTo } : {}) };
  }

  /** The write in flight is durable: release its replies (and those waiting behind it). */
  durable(receipt: Receipt): void {
    assert(this.inFlight !== undefined, "a shard write completed that was never taken");
    this.lastReceipt = receipt;
    this.releaseAll(this.inFlight, receipt);
    this.inFlight = undefined;
    this.settle();
  }

  /** Replies whose state is durable, in order. */
  takeReplies(): Addressed[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** A copy sharing nothing mutable (the model checker branches on it). */
  clone(): ShardCore {
    const c = new ShardCore({ applied: this.appliedAt, epoch: this.epochAt }, this.lastReceipt);
    Object.assign(c.counters, this.counters);
    c.boundTo = this.boundTo;
    c.reported = this.reported;
    const copy = (p: Pending): Pending => ({ rows: [...p.rows], replies: [...p.replies], dirty: p.dirty });
    c.forming = copy(this.forming);
    c.inFlight = this.inFlight && copy(this.inFlight);
    c.ready = [...this.ready];
    return c;
  }

  /** A canonical description of the shard's volatile state (the model checker's encoding). */
  describe(): string {
    const p = (x: Pending) => `${x.dirty ? "*" : ""}[${x.rows.map((r) => r.position)}](${x.replies.map((h) => `${h.session}:${h.kind}`)})`;
    return `a${this.appliedAt} e${this.epochAt}${this.boundTo ? "" : " unbound"} ${p(this.forming)}${this.inFlight ? ` >${p(this.inFlight)}` : ""}`;
  }

  private hello(session: number, f: Extract<PlayerFrame, { kind: "hello" }>): void {
    if (this.boundTo && !sameBinding(this.boundTo, f.binding)) {
      this.counters.refused++;
      this.reply(session, { kind: "refused", message: `this shard is ${describeBinding(this.boundTo)}, not ${describeBinding(f.binding)}` });
      return;
    }
    if (f.epoch < this.epochAt) {
      this.counters.fenced++;
      this.reply(session, { kind: "fenced", epoch: this.epochAt });
      return;
    }
    if (!this.boundTo) {
      this.boundTo = f.binding;
      this.forming.dirty = true;
    }
    this.raiseEpoch(f.epoch);
    this.reply(session, { kind: "state", applied: this.appliedAt, epoch: this.epochAt });
  }

  private batch(session: number, f: Extract<PlayerFrame, { kind: "batch" }>): void {
    this.counters.batches++;
    if (f.epoch < this.epochAt && !planted("ignoreEpoch")) {
      this.counters.fenced++;
      this.reply(session, { kind: "fenced", epoch: this.epochAt });
      return;
    }
    this.raiseEpoch(f.epoch);
    if (f.report) this.noteReport(f.epoch, f.report);
    for (const item of f.items) {
      if (item.position <= this.appliedAt) {
        this.counters.duplicates++;
        continue;
      }
      if (item.previous !== this.appliedAt && !planted("applyWithoutPrevious")) {
        this.counters.rewinds++;
        this.reply(session, { kind: "rewind", applied: this.appliedAt });
        return;
      }
      assert(item.position > this.appliedAt, "a shard's applied position only grows");
      if (item.data) this.forming.rows.push({ position: item.position, data: item.data });
      else this.counters.watermarks++;
      this.appliedAt = item.position;
      this.forming.dirty = true;
      this.counters.applied++;
    }
    this.reply(session, { kind: "ack", applied: this.appliedAt });
  }

  private raiseEpoch(epoch: number): void {
    if (epoch <= this.epochAt) return;
    this.epochAt = epoch;
    this.forming.dirty = true;
    // A report speaks for its epoch's player only.
    if (this.reported && this.reported.epoch < epoch) this.reported = undefined;
  }

  /** Keep a report of the shard's epoch; one from another (a fenced player's, or one no hello raised the shard to) is ignored. */
  private noteReport(epoch: number, report: PlayerReport): void {
    if (epoch !== this.epochAt) return;
    this.reported = { epoch, report };
  }

  private reply(session: number, reply: ShardReply): void {
    if (planted("ackBeforePersist")) {
      // PLANTED BUG (verify/runtime/planted.ts): the reply leaves before what it reports is durable.
      this.ready.push({ session, reply });
      return;
    }
    const r = this.forming.replies;
    const last = r[r.length - 1];
    // Acks are cumulative: a later ack to the same session replaces one not yet sent.
    if (reply.kind === "ack" && last?.session === session && last.kind === "ack") r.pop();
    r.push({ session, kind: reply.kind, reply: hold(reply) });
  }

  /** Nothing to write and nothing in flight: what formed is true already, release it. */
  private settle(): void {
    if (this.inFlight || this.forming.dirty || this.forming.replies.length === 0) return;
    this.releaseAll(this.forming, this.lastReceipt);
    this.forming = pending();
  }

  private releaseAll(p: Pending, receipt: Receipt): void {
    for (const h of p.replies) this.ready.push({ session: h.session, reply: release(h.reply, receipt) });
  }
}
