/**
 * What a player knows of one shard (core/player-core.ts): its delivery stream's phase, the shard's
 * durable applied position as last reported, the chain of what was sent on the current stream,
 * the queue of items not sent yet and the window of items sent and not acknowledged.
 *
 *   idle ──open──▶ hello ──state──▶ live ──stream down, timeout, rewind──▶ idle (reconnect later)
 *                    └──────fenced / refused (any phase)──▶ stopped
 *
 * A live shard is **following** (every record the subscription offers for it is queued) or
 * **behind** (some records for it since `cursor` were not queued: its queue was full, or it came
 * back after the subscription moved on): it is then re-read from the log in chunks from `cursor`,
 * until it reaches the subscription's position, and follows again. It never holds the others up.
 */
import { BEFORE_FIRST } from "./items.ts";
import { Fifo } from "../../../wor/core/fifo.ts";

export type SenderPhase = "idle" | "hello" | "live" | "stopped";

/** An item waiting to be sent: its `previous` is given when it leaves (the chain of `sent`). */
export interface Queued {
  readonly position: number;
  readonly data?: Uint8Array;
}

/** An item sent and not yet acknowledged. */
export interface InFlight {
  readonly position: number;
  readonly bytes: number;
}

export class ShardSender {
  phase: SenderPhase = "idle";
  /** The current stream's incarnation (0: none opened yet). */
  stream = 0;
  /** `acked` is what the shard reported durable (in a state, ack or rewind reply). */
  known = false;
  acked = BEFORE_FIRST;
  /** The position of the last item sent on this stream: the `previous` of the next. */
  sent = BEFORE_FIRST;
  /** Every position below was considered for this shard (queued, sent, or not for it). */
  cursor = 0;
  queue = new Fifo<Queued>();
  inflight = new Fifo<InFlight>();
  inflightBytes = 0;
  behind = false;
  /** The id of the re-read outstanding (0: none) and its range; ids count up. */
  reading = 0;
  readSeq = 0;
  readFrom = 0;
  readTo = 0;
  readRetryAt = 0;
  /** Idle: when to open the next stream. */
  retryAt = 0;
  /** Since when a reply is awaited (the hello's, or an ack for items in flight). */
  waitingSince: number | undefined;
  lastSendAt = 0;
  /** Streams opened, rewinds met (for status). */
  opened = 0;
  rewinds = 0;

  constructor(readonly shard: number) {}

  /** The shard reported `applied` durable. Returns true if that is news. */
  note(applied: number): boolean {
    if (this.known && applied <= this.acked) return false;
    this.known = true;
    this.acked = applied;
    return true;
  }

  /** The current stream is over: forget what was sent on it and reconnect at `retryAt`. */
  drop(retryAt: number): void {
    this.phase = "idle";
    this.retryAt = retryAt;
    this.queue.clear();
    this.inflight.clear();
    this.inflightBytes = 0;
    this.behind = false;
    this.reading = 0;
    this.waitingSince = undefined;
  }

  /** The handshake told where the shard stands: the chain starts there. */
  start(applied: number, head: number | undefined, now: number): void {
    this.phase = "live";
    this.sent = applied;
    this.cursor = applied + 1;
    this.behind = head !== undefined && this.cursor < head;
    this.waitingSince = undefined;
    this.lastSendAt = now;
  }

  /** Drop what the shard acknowledged from the window. Returns whether anything left it. */
  ackUpTo(applied: number): boolean {
    let moved = false;
    for (let f = this.inflight.peek(); f !== undefined && f.position <= applied; f = this.inflight.peek()) {
      this.inflight.shift();
      this.inflightBytes -= f.bytes;
      moved = true;
    }
    return moved;
  }

  clone(): ShardSender {
    const c = Object.assign(new ShardSender(this.shard), this);
    c.queue = this.queue.clone();
    c.inflight = this.inflight.clone();
    return c;
  }

  /** A canonical description of everything that steers the sender (the model checker's state). */
  describe(): string {
    const q = this.queue.toArray().map((x) => (x.data ? `${x.position}` : `w${x.position}`));
    const f = this.inflight.toArray().map((x) => x.position);
    const read = this.reading ? `r${this.reading}[${this.readFrom},${this.readTo})` : "";
    return `${this.phase}#${this.stream} a${this.known ? this.acked : "?"} s${this.sent} c${this.cursor} q[${q}] f[${f}]${this.behind ? "B" : ""}${read}`;
  }
}
