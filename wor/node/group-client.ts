/**
 * The client of one acceptor group (docs/ARCHITECTURE.md §3.6; `WorClient`, client.ts, routes each
 * space to its group's): drives the pure client core (wor/core/client-core.ts) with a real clock
 * and one link per acceptor. Batches everything issued in the same tick into one envelope per
 * acceptor, arms one timer for the core's next deadline, and resolves promises on completions.
 *
 * Completions are resolved as soon as the replies that decide them arrive, while frames wait for
 * the flush after the turn: the commit notices of finished writes then leave in the same envelope
 * as the writes their callers issue next (one event-loop hop per round, not two).
 */
import type { Entry, Reply, SpaceName } from "../../paxos/messages.ts";
import type { ClientFrame, ServerFrame } from "../core/frames.ts";
import { CLIENT_DEFAULTS, type ClientCoreConfig, type Completion, type Op, WorClientCore } from "../core/client-core.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, CreateSpaceResult, OpResult, ReadResult, SpaceMetaResult, WriteResult } from "../core/results.ts";
import { type SpaceKind, type SpaceMeta, kindNoun } from "../core/space-meta.ts";
import { type RegisterOpStep, startRegisterOp } from "../core/step-ops.ts";
import type { RegisterResults } from "../core/steps.ts";
import { checkMark, checkSpace } from "../core/validate.ts";
import { shortReason } from "./grpc-reason.ts";
import type { AcceptorLink, Transport } from "./link.ts";
import { WatchFeed } from "./watch-feed.ts";
import { OncePerTurn } from "./once-per-turn.ts";
import { WorError } from "./wor-error.ts";

/** A watch the client holds: where it starts at the acceptors (raised to a trim mark one reported),
 *  and the acceptors that refused it with an error. */
interface Watching {
  readonly space: SpaceName;
  readonly feed: WatchFeed;
  start: number;
  readonly skipOwn: boolean;
  readonly refused: Set<number>;
}

export interface GroupClientOptions extends Partial<Omit<ClientCoreConfig, "acceptors" | "quorum" | "proposerId" | "segmentSize">> {
  readonly transport: Transport;
  readonly acceptors: number;
  readonly quorum?: number;
  readonly segmentSize: number;
  /** Defaults to a random 48-bit id: proposer ids must be unique per client instance. */
  readonly proposerId?: number;
  readonly watchBufferMax?: number;
}

/** What a single-address capture found. */
export type CaptureOne =
  | { readonly _tag: "Captured"; readonly capture: Capture }
  | { readonly _tag: "Written"; readonly value: Uint8Array }
  | Exclude<CaptureResult, { _tag: "Captured" }>;

const WATCH_ID_BASE = 2 ** 52;

export class GroupClient {
  private readonly core: WorClientCore;
  private readonly links: AcceptorLink[] = [];
  private readonly waiting = new Map<number, { resolve: (r: OpResult<unknown>) => void }>();
  private readonly feeds = new Map<number, Watching>();
  private nextWatch = WATCH_ID_BASE;
  /** Frames taken from the core, per acceptor, waiting for the flush. */
  private readonly outbox: ClientFrame[][] = [];
  private readonly flusher = new OncePerTurn(() => this.flush());
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;
  /** Acceptors that make a quorum (another after following an addition or a removal). */
  private quorum: number;

  constructor(readonly options: GroupClientOptions) {
    const quorum = options.quorum ?? Math.floor(options.acceptors / 2) + 1;
    this.quorum = quorum;
    this.core = new WorClientCore({
      ...CLIENT_DEFAULTS,
      ...stripUndefined(options),
      acceptors: options.acceptors,
      quorum,
      segmentSize: options.segmentSize,
      proposerId: options.proposerId ?? 1 + Math.floor(Math.random() * 2 ** 48),
    });
    options.transport.onReconfigured?.((c) => this.follow(c.acceptors.length, c.quorum));
    for (let a = 0; a < options.acceptors; a++) this.connect(a);
  }

  /** Open the link of slot `a`. */
  private connect(a: number): void {
    this.outbox[a] = [];
    // The current connection attempt of the link: when it began, and whether frames came back.
    const attempt = { startedAt: now(), established: false, reachedBefore: false };
    this.links[a] = this.options.transport.connect(a, {
      onFrames: (frames) => {
        attempt.established = true;
        this.onFrames(a, frames);
      },
      onUp: () => {
        attempt.reachedBefore ||= attempt.established;
        attempt.startedAt = now();
        attempt.established = false;
        this.core.onReconnect(a);
        this.resendWatches(a);
        this.scheduleFlush();
      },
      onDown: (reason) => {
        if (this.closed) return;
        this.core.onLinkDown(a, shortReason(reason), now(), { ...attempt });
        this.complete(this.take());
        this.scheduleFlush();
      },
    });
  }

  /**
   * The transport followed a new configuration (docs/ARCHITECTURE.md §3.5) of `acceptors` slots and
   * `quorum`: nothing heard before counts toward a quorum after. Slots an addition made get links;
   * those a removal dropped are closed (the transport renews the rest under the new configuration).
   */
  private follow(acceptors: number, quorum: number): void {
    if (this.closed) return;
    this.quorum = quorum;
    for (const l of this.links.splice(acceptors)) l.close();
    this.outbox.splice(acceptors);
    for (let a = this.links.length; a < acceptors; a++) {
      this.connect(a);
      this.resendWatches(a);
    }
    this.core.onReconfigured({ acceptors, quorum });
    for (const w of this.feeds.values()) {
      w.refused.clear();
      w.feed.reconfigured(quorum);
    }
    this.scheduleFlush();
  }

  get proposerId(): number {
    return this.core.config.proposerId;
  }
  get segmentSize(): number {
    return this.core.config.segmentSize;
  }

  // Every entry point settles through the returned promise, whatever it is given: the core checks
  // the arguments (invalid / tooLarge, before any round trip), and `run` turns anything thrown into
  // a rejection.

  /**
   * Create a space of `kind` (default: a register space with this client's segment size). The first
   * creator's metadata wins: `Exists` carries what the space is, which may be another kind.
   */
  createSpace(space: SpaceName, meta: Partial<SpaceMeta> = {}): Promise<CreateSpaceResult> {
    const group = { ...(meta?.group !== undefined ? { group: meta.group } : {}), ...(meta?.stripe !== undefined ? { stripe: meta.stripe } : {}) };
    return this.run(() => this.core.createSpace(space, { kind: meta?.kind ?? "registers", segmentSize: meta?.segmentSize ?? this.segmentSize, ...group }, now()));
  }
  /** What a space is (kind, segment size), from its write-once metadata register (cached). */
  spaceMeta(space: SpaceName): Promise<SpaceMetaResult> {
    return this.run(() => this.core.spaceMeta(space, now()));
  }
  /** The metadata of a space that must be of `kind`; rejects with `wrongKind` before anything is written. */
  async openSpace(space: SpaceName, kind: SpaceKind): Promise<SpaceMeta> {
    const r = await this.spaceMeta(space);
    if (r._tag === "Untyped") throw new WorError({ code: "wrongKind", message: `space ${space} has no metadata: its creation did not finish (create it again)` });
    if (r.meta.kind !== kind) throw new WorError({ code: "wrongKind", message: `${space} is ${kindNoun(r.meta.kind)}, not ${kindNoun(kind)}` });
    return r.meta;
  }
  /** Phase 1 on one address. `Written` means a value was already there (and is now finished). */
  async capture(space: SpaceName, index: number): Promise<CaptureOne> {
    const r = await this.captureRange(space, index, next(index));
    if (r._tag !== "Captured") return r;
    const v = r.written.get(index);
    return v ? { _tag: "Written", value: v } : { _tag: "Captured", capture: r.capture };
  }
  /** One phase 1 for a whole range: afterwards each write in it is one round trip. A capture
   *  preempted by a higher ballot is retried above it (wor/README.md, "Retries"). */
  captureRange(space: SpaceName, from: number, to: number): Promise<CaptureResult> {
    return this.run(() => this.core.capture(space, from, to, now()));
  }
  async write(held: Capture, index: number, value: Uint8Array): Promise<WriteResult> {
    return (await this.writeMany(held, [{ index, value }])).get(index)!;
  }
  writeMany(held: Capture, entries: readonly Entry[]): Promise<Map<number, WriteResult>> {
    return this.run(() => this.core.write(held, entries, now()));
  }
  /** Owner-ballot write, skipping phase 1: ONLY for the address's single owner (checked per client). */
  async unsafeWrite(space: SpaceName, index: number, value: Uint8Array): Promise<WriteResult> {
    return (await this.run(() => this.core.unsafeWrite(space, [{ index, value }], now()))).get(index)!;
  }
  async read(space: SpaceName, index: number, opts: { recover?: boolean } = {}): Promise<ReadResult> {
    return (await this.readRange(space, index, next(index), opts)).get(index)!;
  }
  readRange(space: SpaceName, from: number, to: number, opts: { recover?: boolean } = {}): Promise<Map<number, ReadResult>> {
    return this.run(() => this.core.read(space, from, to, opts?.recover ?? false, now()));
  }
  /** Trim below `below`; resolves with the mark a quorum holds. */
  trim(space: SpaceName, below: number): Promise<number> {
    return this.run(() => this.core.trim(space, below, now()));
  }
  alloc(space: SpaceName, segment: number, meta: Uint8Array): Promise<AllocResult> {
    return this.run(() => this.core.alloc(space, segment, meta, now()));
  }
  check(space: SpaceName, segment: number): Promise<CheckResult> {
    return this.run(() => this.core.check(space, segment, now()));
  }

  /** Answer an app's register step (wor/core/steps.ts, through wor/core/step-ops.ts): resolves
   *  with the step's result, a failure included (wor/node/driver.ts runs app operations with it). */
  step<S extends RegisterOpStep>(step: S): Promise<RegisterResults[S["kind"]]> {
    return this.settle(() => startRegisterOp(this.core, step, now())) as Promise<RegisterResults[S["kind"]]>;
  }

  /**
   * Values as they are learned chosen in `space` at index ≥ from (pushed, not polled; any order).
   * With `skipOwn`, values this client writes are left out (it has them from its writes' results),
   * except where another writer's accept of the address came between.
   */
  watch(space: SpaceName, from = 0, options: { readonly skipOwn?: boolean } = {}): WatchFeed {
    const bad = checkSpace(space) ?? checkMark(from, "watch start");
    if (bad || this.closed) {
      // Bad arguments (or a closed client): a feed whose first `next()` rejects with why.
      const feed = new WatchFeed(0, 0, () => {});
      feed.fail(new WorError(bad ?? { code: "unavailable", message: "client closed" }));
      return feed;
    }
    const id = this.nextWatch++;
    const feed = new WatchFeed(
      from,
      this.options.watchBufferMax ?? 65_536,
      () => {
        this.feeds.delete(id);
        if (!this.closed) for (const l of this.links) l.send([{ id: this.nextWatch++, kind: "unwatch", watchId: id }]);
      },
      this.quorum,
    );
    const skipOwn = options.skipOwn === true;
    this.feeds.set(id, { space, feed, start: from, skipOwn, refused: new Set() });
    for (const l of this.links) l.send([{ id, kind: "watch", space, from, skipOwn }]);
    return feed;
  }

  /** Stop: queued frames (commit notices) still go out, pending operations fail with `unavailable`. */
  close(): void {
    if (this.closed) return;
    this.flush(true);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const { feed } of this.feeds.values()) feed.fail(new Error("client closed"));
    for (const l of this.links) l.close();
    for (const w of this.waiting.values()) w.resolve({ ok: false, failure: { code: "unavailable", message: "client closed" } });
    this.waiting.clear();
  }

  private run<T>(start: () => Op<T>): Promise<T> {
    return this.settle(start).then((r) => {
      if (!r.ok) throw new WorError(r.failure);
      return r.value;
    });
  }

  /** The operation `start` submits to the core, settled: a failure is a value, not a rejection. */
  private settle<T>(start: () => Op<T>): Promise<OpResult<T>> {
    if (this.closed) return Promise.resolve({ ok: false, failure: { code: "unavailable", message: "client closed" } });
    let op: Op<T>;
    try {
      op = start();
    } catch (e) {
      return Promise.reject(e);
    }
    const p = new Promise<OpResult<unknown>>((resolve) => this.waiting.set(op, { resolve }));
    this.scheduleFlush();
    return p as Promise<OpResult<T>>;
  }

  private onFrames(acceptor: number, frames: readonly ServerFrame[]): void {
    const t = now();
    for (const f of frames) {
      if (f.kind === "reply") {
        const w = this.feeds.get(f.id);
        if (w) this.watchRefused(acceptor, f.id, w, f.reply);
        else this.core.onReply(acceptor, f.id, f.reply, t);
      } else {
        const w = this.feeds.get(f.id);
        if (!w || w.space !== f.space) continue;
        if (f.kind === "learned") w.feed.learned(acceptor, f.index, f.ballot, f.value);
        else w.feed.accepted(acceptor, f.index, f.ballot, f.value);
      }
    }
    this.complete(this.take());
    this.scheduleFlush();
  }

  private resendWatches(acceptor: number): void {
    for (const [id, w] of this.feeds) {
      w.refused.delete(acceptor);
      this.links[acceptor]?.send([{ id, kind: "watch", space: w.space, from: w.start, skipOwn: w.skipOwn }]);
    }
  }

  /** Acceptor `acceptor` refused watch `id` (acceptors answer a watch only to refuse it). Trimmed
   *  above its start: it watches again there from the trim mark (nothing below can be delivered;
   *  what the watcher misses it reads). An error: once fewer than a quorum of acceptors hold the
   *  watch (it can no longer learn by a quorum's accepts, and the rest may be down), the feed fails
   *  with it, so its owner watches again or reads instead of waiting on a watch that may never
   *  deliver. One refusal of three (a space one acceptor missed) leaves it working. */
  private watchRefused(acceptor: number, id: number, w: Watching, reply: Reply): void {
    if (reply.kind === "trimmed") {
      w.start = Math.max(w.start, reply.mark);
      this.links[acceptor]?.send([{ id, kind: "watch", space: w.space, from: w.start, skipOwn: w.skipOwn }]);
    } else if (reply.kind === "error") {
      w.refused.add(acceptor);
      if (this.links.length - w.refused.size >= this.quorum) return;
      w.feed.fail(new WorError({ code: reply.code, message: `the watch of ${w.space} from ${w.feed.from} was refused by ${w.refused.size} acceptors: ${reply.message}` }));
    }
  }

  private scheduleFlush(): void {
    // After every microtask has run: all ops issued in this turn leave in one envelope per acceptor.
    if (!this.closed) this.flusher.schedule();
  }

  private flush(final = false): void {
    if (this.closed) return;
    const completions = this.take(final);
    this.outbox.forEach((frames, a) => {
      if (frames.length === 0) return;
      this.outbox[a] = [];
      this.links[a]!.send(frames);
    });
    this.complete(completions);
    this.arm();
  }

  /** Move the core's outputs: frames into the outbox; the completions are returned. */
  private take(final = false): Completion[] {
    const out = this.core.takeOutputs(final);
    for (const s of out.sends) this.outbox[s.to]!.push(s.frame);
    return out.completions;
  }

  private complete(completions: readonly Completion[]): void {
    for (const c of completions) {
      const w = this.waiting.get(c.op);
      this.waiting.delete(c.op);
      w?.resolve(c.result);
    }
  }

  private arm(): void {
    const at = this.core.nextWakeup();
    if (at === undefined || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.core.tick(now());
      this.flush();
    }, Math.max(0, at - now()));
  }
}

function now(): number {
  return performance.now();
}

/** The end of the one-address range at `index`; garbage stays garbage for the core to refuse. */
const next = (index: unknown): number => (typeof index === "number" ? index + 1 : (index as number));

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
