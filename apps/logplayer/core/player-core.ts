/**
 * The player's side of delivery (docs/ARCHITECTURE.md §4.4), pure and synchronous: the sender of the
 * sans-IO pair (core/shard-core.ts is the receiver). The shell (apps/logplayer/node/player.ts), the
 * simulator and the model checker feed it log records, re-read results, shard replies, stream
 * failures and clock readings, and drain `takeOutputs(now)`: streams to open and close, frames to
 * send, log ranges to re-read, where to start the subscription, where to trim the log.
 *
 * Per shard (core/player-shard.ts): one delivery stream at a time, opened with a hello at the
 * player's epoch; the shard's `state` reply says what it has durably applied, and the chain of
 * items starts there. The log is read once by the subscription; each record is routed by its keys
 * (`route`) and queued for every following shard it goes to. Batches leave whenever the shard's
 * window has room, so what queued while the window was full is the next batch (self-clocking). A
 * shard whose queue is full, or that comes back late, falls **behind** and is re-read from the log
 * in chunks until it catches up; an idle shard gets a **watermark** every `watermarkMs` so its
 * applied position keeps up with the log. The log is trimmed below the lowest position every
 * shard has durably applied. The player keeps nothing durable but its epoch: after a crash (a new
 * player, a new epoch) or any stream failure it asks the shard where it stands and resumes there.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { DELIVERY_LIMITS, type Item, type LogRecord, type PlayerFrame, type ShardReply, route } from "./items.ts";
import { ShardSender } from "./player-shard.ts";

export interface PlayerConfig {
  readonly epoch: number;
  readonly player: string;
  /** The player group (the space of its epochs): shards remember which group they serve. */
  readonly group: string;
  readonly shards: number;
  /** Items in flight (sent, not acknowledged) per shard. */
  readonly windowMax: number;
  /** Data bytes in flight per shard. */
  readonly windowBytesMax: number;
  readonly batchItemsMax: number;
  readonly batchBytesMax: number;
  /** Items queued for a shard; past it the shard falls behind and is re-read later. */
  readonly queueMax: number;
  /** Positions one re-read covers. */
  readonly readChunkMax: number;
  /** An idle shard gets a watermark after this long without a send. */
  readonly watermarkMs: number;
  /** A stream whose hello or window waits this long for a reply is given up. */
  readonly replyTimeoutMs: number;
  /** Pause before opening a stream again (and before retrying a failed re-read). */
  readonly reconnectMs: number;
  /** The subscription starts when every shard answered, or this long after the start (once one did). */
  readonly startGraceMs: number;
  /** Trim the log when the position every shard has applied moved this far. */
  readonly trimEvery: number;
}

/** What a player's operator may tune (everything but who it is and where it delivers). */
export type PlayerTuning = Omit<PlayerConfig, "epoch" | "player" | "group" | "shards">;

export const PLAYER_DEFAULTS = Object.freeze({
  windowMax: 8_192,
  windowBytesMax: 16 << 20,
  batchItemsMax: 1_024,
  batchBytesMax: 1 << 20,
  queueMax: 65_536,
  readChunkMax: 1_024,
  watermarkMs: 100,
  replyTimeoutMs: 5_000,
  reconnectMs: 200,
  startGraceMs: 1_000,
  trimEvery: 4_096,
});

export type PlayerStop =
  | { readonly reason: "fenced"; readonly shard: number; readonly epoch: number }
  | { readonly reason: "refused"; readonly shard: number; readonly message: string };

export interface PlayerOutputs {
  /** Open a new delivery stream to the shard (its hello is among `sends`). */
  readonly opens: { readonly shard: number; readonly stream: number }[];
  /** Give up a stream (a timeout or a rewind): close it; its replies no longer count. */
  readonly closes: { readonly shard: number; readonly stream: number }[];
  readonly sends: { readonly shard: number; readonly stream: number; readonly frame: PlayerFrame }[];
  /** Read the log's records in [from, to) and answer with `reread(shard, id, records)`. */
  readonly reads: { readonly shard: number; readonly id: number; readonly from: number; readonly to: number }[];
  /** Start the subscription here (once). */
  subscribe: number | undefined;
  /** Trim the log below this position. */
  trim: number | undefined;
  /** Shards that reported a new durable applied position. */
  readonly acks: { readonly shard: number; readonly applied: number }[];
  /** The player must stop: a newer player fenced it, or a shard refused it. */
  stopped: PlayerStop | undefined;
}

const noOutputs = (): PlayerOutputs => ({ opens: [], closes: [], sends: [], reads: [], subscribe: undefined, trim: undefined, acks: [], stopped: undefined });

export interface ShardStatus {
  readonly shard: number;
  readonly phase: string;
  /** What the shard last reported durable (undefined: not heard from yet). */
  readonly applied: number | undefined;
  readonly inflight: number;
  readonly windowMax: number;
  readonly queued: number;
  readonly behind: boolean;
  readonly streams: number;
  readonly rewinds: number;
}

export class PlayerCore {
  private senders: ShardSender[];
  /** The next position the subscription offers (undefined before it starts). */
  private headAt: number | undefined;
  private trimmed = 0;
  private stop: PlayerStop | undefined;
  private out = noOutputs();

  constructor(
    readonly config: PlayerConfig,
    private readonly startedAt: number,
  ) {
    const c = config;
    assert(Number.isSafeInteger(c.epoch) && c.epoch > 0, "a player's epoch is a positive integer");
    assert(Number.isSafeInteger(c.shards) && c.shards >= 1 && c.shards <= DELIVERY_LIMITS.shardsMax, () => `a player delivers to 1..${DELIVERY_LIMITS.shardsMax} shards`);
    assert(c.windowMax >= 1 && c.batchItemsMax >= 1 && c.batchItemsMax <= DELIVERY_LIMITS.itemsPerBatchMax, "window and batch sizes must be positive, batches within the wire's limit");
    assert(c.batchBytesMax <= DELIVERY_LIMITS.batchBytesMax && c.readChunkMax >= 1 && c.queueMax >= 2 * c.readChunkMax, "a queue holds at least two re-read chunks");
    this.senders = Array.from({ length: c.shards }, (_, s) => {
      const x = new ShardSender(s);
      x.retryAt = startedAt;
      return x;
    });
  }

  get head(): number | undefined {
    return this.headAt;
  }
  get stopped(): PlayerStop | undefined {
    return this.stop;
  }
  /** What shard `s` last reported durable (undefined: not heard from). */
  acked(s: number): number | undefined {
    const x = this.senders[s]!;
    return x.known ? x.acked : undefined;
  }

  /** The current stream to shard `s`, and whether it is open (handshaking or live). */
  streamOf(s: number): number {
    return this.senders[s]!.stream;
  }
  streamOpen(s: number): boolean {
    const p = this.senders[s]!.phase;
    return p === "hello" || p === "live";
  }

  /** The subscription delivers the next record (positions increase; fills are skipped). */
  offer(record: LogRecord): void {
    const head = this.headAt;
    assert(head !== undefined && record.position >= head, () => `the subscription offered position ${record.position} at ${head}`);
    const p = record.position;
    this.headAt = p + 1;
    const targets = route(record, this.config.shards);
    for (const s of this.senders) {
      if (s.phase !== "live" || s.behind || s.cursor > p) continue;
      if (!targets.includes(s.shard)) s.cursor = p + 1;
      else if (s.queue.length >= this.config.queueMax) s.behind = true;
      else {
        s.queue.push({ position: p, data: record.payload });
        s.cursor = p + 1;
      }
    }
  }

  /** Re-read `id` of shard `s` answered: the log's records in its range, ascending. */
  reread(shard: number, id: number, records: readonly LogRecord[]): void {
    const s = this.senders[shard]!;
    if (s.phase !== "live" || s.reading !== id) return;
    s.reading = 0;
    for (const r of records) {
      assert(r.position >= s.readFrom && r.position < s.readTo, () => `re-read [${s.readFrom}, ${s.readTo}) returned position ${r.position}`);
      if (r.position >= s.cursor && route(r, this.config.shards).includes(shard)) s.queue.push({ position: r.position, data: r.payload });
    }
    s.cursor = Math.max(s.cursor, s.readTo);
    if (s.cursor >= this.headAt!) s.behind = false;
  }

  readFailed(shard: number, id: number, now: number): void {
    const s = this.senders[shard]!;
    if (s.reading !== id) return;
    s.reading = 0;
    s.readRetryAt = now + this.config.reconnectMs;
  }

  onReply(shard: number, stream: number, reply: ShardReply, now: number): void {
    const s = this.senders[shard]!;
    if (stream !== s.stream || s.phase === "idle" || s.phase === "stopped") return;
    switch (reply.kind) {
      case "state":
        if (s.phase !== "hello") return;
        this.noted(s, reply.applied);
        s.start(reply.applied, this.headAt, now);
        return;
      case "ack":
        if (s.phase !== "live") return;
        this.noted(s, reply.applied);
        if (s.ackUpTo(reply.applied)) s.waitingSince = s.inflight.length > 0 ? now : undefined;
        return;
      case "rewind":
        // The shard holds something this stream's chain did not expect: start over from a handshake.
        this.noted(s, reply.applied);
        s.rewinds++;
        this.out.closes.push({ shard, stream });
        // PLANTED BUG (verify/runtime/planted.ts) when on: the shard is never reconnected.
        s.drop(planted("rewindWithoutReconnect") ? Number.POSITIVE_INFINITY : now);
        return;
      case "fenced":
        this.halt({ reason: "fenced", shard, epoch: reply.epoch });
        return;
      case "refused":
        this.halt({ reason: "refused", shard, message: reply.message });
        return;
    }
  }

  /** Stream `stream` of `shard` failed (the transport says so). */
  streamDown(shard: number, stream: number, now: number): void {
    const s = this.senders[shard]!;
    if (stream === s.stream && (s.phase === "hello" || s.phase === "live")) s.drop(now + this.config.reconnectMs);
  }

  /** Give up the current stream of `shard`: its reply is overdue (the shell's timer, or the model checker). */
  timeout(shard: number, now: number): void {
    const s = this.senders[shard]!;
    if (s.phase !== "hello" && s.phase !== "live") return;
    this.out.closes.push({ shard, stream: s.stream });
    s.drop(now + this.config.reconnectMs);
  }

  /** Everything due by `now`: reconnects, overdue replies, the subscription's start, batches,
   *  watermarks, re-reads, a trim. Then the outputs gathered since the last call. */
  takeOutputs(now: number): PlayerOutputs {
    if (!this.stop) {
      for (const s of this.senders) {
        if ((s.phase === "hello" || s.phase === "live") && s.waitingSince !== undefined && now >= s.waitingSince + this.config.replyTimeoutMs) this.timeout(s.shard, now);
        if (s.phase === "idle" && now >= s.retryAt) this.open(s, now);
      }
      this.maybeSubscribe(now);
      for (const s of this.senders) if (s.phase === "live") this.feed(s, now);
      this.maybeTrim();
    }
    const out = this.out;
    this.out = noOutputs();
    return out;
  }

  /** When `takeOutputs` has something to do next without any input (undefined: nothing). */
  nextWakeup(): number | undefined {
    if (this.stop) return undefined;
    const c = this.config;
    // The grace period ends the wait for the other shards' handshakes once one shard answered.
    let at = this.headAt === undefined && this.senders.some((s) => s.known) ? this.startedAt + c.startGraceMs : Number.POSITIVE_INFINITY;
    for (const s of this.senders) {
      if (s.phase === "idle") at = Math.min(at, s.retryAt);
      if (s.waitingSince !== undefined) at = Math.min(at, s.waitingSince + c.replyTimeoutMs);
      if (s.phase !== "live") continue;
      if (this.watermarkDue(s)) at = Math.min(at, s.lastSendAt + c.watermarkMs);
      if (s.behind && s.reading === 0) at = Math.min(at, s.readRetryAt);
    }
    return Number.isFinite(at) ? at : undefined;
  }

  status(): ShardStatus[] {
    return this.senders.map((s) => ({
      shard: s.shard,
      phase: s.phase,
      applied: s.known ? s.acked : undefined,
      inflight: s.inflight.length,
      windowMax: this.config.windowMax,
      queued: s.queue.length,
      behind: s.behind,
      streams: s.opened,
      rewinds: s.rewinds,
    }));
  }

  /** A copy sharing nothing mutable (the model checker branches on it). Outputs must be drained. */
  clone(): PlayerCore {
    const c = Object.assign(Object.create(PlayerCore.prototype) as PlayerCore, this);
    c.senders = this.senders.map((s) => s.clone());
    c.out = noOutputs();
    return c;
  }

  /** A canonical description of the player's state (the model checker's encoding). */
  describe(): string {
    return `h${this.headAt ?? "-"} t${this.trimmed}${this.stop ? ` stop:${this.stop.reason}` : ""} ${this.senders.map((s) => s.describe()).join(" | ")}`;
  }

  private open(s: ShardSender, now: number): void {
    s.stream++;
    s.opened++;
    s.phase = "hello";
    s.waitingSince = now;
    const { epoch, player, group, shards } = this.config;
    this.out.opens.push({ shard: s.shard, stream: s.stream });
    this.out.sends.push({ shard: s.shard, stream: s.stream, frame: { kind: "hello", epoch, player, binding: { group, shard: s.shard, shards } } });
  }

  /** Start the subscription once every shard answered, or after the grace period once one did. */
  private maybeSubscribe(now: number): void {
    if (this.headAt !== undefined) return;
    const known = this.senders.filter((s) => s.known);
    if (known.length === 0 || (known.length < this.senders.length && now < this.startedAt + this.config.startGraceMs)) return;
    const from = Math.min(...known.map((s) => s.acked + 1));
    this.headAt = from;
    this.out.subscribe = from;
    for (const s of this.senders) if (s.phase === "live") s.behind = s.cursor < from;
  }

  /** Batches while the window has room, else a watermark when idle; a re-read when behind. */
  private feed(s: ShardSender, now: number): void {
    const c = this.config;
    while (s.queue.length > 0 && s.inflight.length < c.windowMax && s.inflightBytes < c.windowBytesMax) {
      const items: Item[] = [];
      let bytes = 0;
      for (let q = s.queue.peek(); q !== undefined; q = s.queue.peek()) {
        const n = q.data?.byteLength ?? 0;
        if (items.length > 0 && (items.length >= c.batchItemsMax || bytes + n > c.batchBytesMax || s.inflight.length >= c.windowMax)) break;
        s.queue.shift();
        items.push(q.data ? { position: q.position, previous: s.sent, data: q.data } : { position: q.position, previous: s.sent });
        s.sent = q.position;
        s.inflight.push({ position: q.position, bytes: n });
        s.inflightBytes += n;
        bytes += n;
      }
      this.sendBatch(s, items, now);
    }
    if (this.watermarkDue(s) && now >= s.lastSendAt + c.watermarkMs) {
      const at = s.cursor - 1;
      this.sendBatch(s, [{ position: at, previous: s.sent }], now);
      s.sent = at;
      s.inflight.push({ position: at, bytes: 0 });
    }
    if (s.behind && s.reading === 0 && now >= s.readRetryAt && s.queue.length + c.readChunkMax <= c.queueMax) {
      const head = this.headAt!;
      assert(s.cursor < head, "a shard behind the subscription has something to re-read");
      s.reading = ++s.readSeq;
      s.readFrom = s.cursor;
      s.readTo = Math.min(head, s.cursor + c.readChunkMax);
      this.out.reads.push({ shard: s.shard, id: s.reading, from: s.readFrom, to: s.readTo });
    }
  }

  /** Nothing queued or in flight, and positions considered that the shard has not heard of. */
  private watermarkDue(s: ShardSender): boolean {
    return s.queue.length === 0 && s.inflight.length === 0 && s.cursor - 1 > s.sent;
  }

  private sendBatch(s: ShardSender, items: Item[], now: number): void {
    this.out.sends.push({ shard: s.shard, stream: s.stream, frame: { kind: "batch", epoch: this.config.epoch, items } });
    s.lastSendAt = now;
    s.waitingSince ??= now;
  }

  private noted(s: ShardSender, applied: number): void {
    if (s.note(applied)) this.out.acks.push({ shard: s.shard, applied });
  }

  /** Trim below the position every shard has durably applied, once it moved `trimEvery` on. */
  private maybeTrim(): void {
    let safe = Number.POSITIVE_INFINITY;
    for (const s of this.senders) safe = Math.min(safe, s.known ? s.acked + 1 : Number.NEGATIVE_INFINITY);
    if (safe >= this.trimmed + this.config.trimEvery) {
      this.trimmed = safe;
      this.out.trim = safe;
    }
  }

  private halt(stop: PlayerStop): void {
    this.stop = stop;
    this.out.stopped = stop;
    for (const s of this.senders) {
      if (s.phase === "hello" || s.phase === "live") this.out.closes.push({ shard: s.shard, stream: s.stream });
      s.drop(Number.POSITIVE_INFINITY);
      s.phase = "stopped";
    }
  }
}
