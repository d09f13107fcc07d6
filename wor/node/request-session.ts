/**
 * One client's Session stream on a request/reply server (docs/ARCHITECTURE.md §3.3): the log
 * sequencer's (apps/log/node/sequencer-server.ts), the SMR replica's (apps/smr/node/server.ts) and
 * a WormTX participant's (apps/txn/node/participant-server.ts); `RequestSessions` is a server's table of them.
 * Each envelope's request frames are answered by id, in any order; the replies of one tick leave in
 * one envelope through a StreamWriter (backpressure, bounded queue) under the server's session
 * budget (./session-budget.ts): a session whose replies back up is not read until it catches up, and
 * closed with RESOURCE_EXHAUSTED if it stays backed up. An unreadable envelope is answered by one
 * reply of id 0. When the client half-closes, the session ends its side once every request in
 * flight is answered.
 */
import type * as grpc from "@grpc/grpc-js";
import type { CodecError, Decoded } from "../../proto/codec-kernel.ts";
import { exhaustCall } from "./grpc-serving.ts";
import { type BudgetMember, SessionBudget, type SessionBudgetLimits } from "./session-budget.ts";
import { StreamWriter } from "./stream-writer.ts";
import { OncePerTurn } from "./once-per-turn.ts";

const REQUEST_SESSION_LIMITS = Object.freeze({
  /** Requests one session may have in flight; beyond, new ones fail at once (`busy`). */
  requestsInFlightMax: 16_384,
});

export interface RequestSessionOptions<F, R> {
  /** Bytes of one envelope → its request frames (a frame that fails validation stays, with its id). */
  readonly decode: (bytes: Uint8Array) => Decoded<F[]>;
  /** The reply (id 0) to an envelope that could not be read. */
  readonly unreadable: (error: CodecError) => R;
  /** A frame's reply now (it failed validation), or the work that answers it (counted in flight). */
  readonly handle: (frame: F) => R | (() => Promise<R>);
  /** The reply to a frame refused because `inFlight` requests (the `limit`) are already in flight. */
  readonly busy: (frame: F, inFlight: number, limit: number) => R;
  readonly encode: (replies: readonly R[]) => Uint8Array;
  /** An upper-ish estimate of a reply's encoded size (the budget counts queued replies by it). */
  readonly replyBytes: (reply: R) => number;
  /** Requests one session may have in flight (default REQUEST_SESSION_LIMITS); beyond, `busy` answers at once. */
  readonly requestsInFlightMax?: number;
  /** Queue limit of the session's reply writer (frames). */
  readonly queuedFramesMax?: number | undefined;
  readonly budget: SessionBudget;
  /** Called once when the session is torn down. */
  readonly onClosed: () => void;
}

class RequestSession<F, R> {
  private readonly writer: StreamWriter<R>;
  private readonly member: BudgetMember;
  private outbox: R[] = [];
  private readonly flusher = new OncePerTurn(() => this.flush());
  private inFlight = 0;
  private ending = false;
  closed = false;

  constructor(
    call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>,
    private readonly o: RequestSessionOptions<F, R>,
  ) {
    const exhaust = (reason: string) => {
      this.teardown();
      exhaustCall(call, reason);
    };
    this.member = o.budget.join({ pause: () => call.pause(), resume: () => call.resume(), exhaust });
    this.writer = new StreamWriter<R>(call, {
      encode: o.encode,
      frameBytes: o.replyBytes,
      queuedFramesMax: o.queuedFramesMax,
      onFail: (error) => exhaust(error.message),
      onPendingChange: () => this.member.update(this.writer.pendingBytes, this.writer.stalled),
    });
    call.on("data", (bytes: Uint8Array) => this.onEnvelope(bytes));
    // The client half-closed: answer what it sent, then end our side.
    call.on("end", () => this.end());
    for (const event of ["cancelled", "close", "error"]) call.on(event, () => this.teardown());
  }

  /** Stop taking requests; end the stream once every request in flight is answered. */
  end(): void {
    this.ending = true;
    this.maybeEnd();
  }

  teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.close();
    this.member.leave();
    this.o.onClosed();
  }

  private onEnvelope(bytes: Uint8Array): void {
    if (this.closed || this.ending) return;
    const decoded = this.o.decode(bytes);
    if (!decoded.ok) {
      this.reply(this.o.unreadable(decoded.error));
      return;
    }
    for (const f of decoded.value) this.handle(f);
  }

  private handle(f: F): void {
    const work = this.o.handle(f);
    if (typeof work !== "function") return void this.reply(work);
    const limit = this.o.requestsInFlightMax ?? REQUEST_SESSION_LIMITS.requestsInFlightMax;
    if (this.inFlight >= limit) return void this.reply(this.o.busy(f, this.inFlight, limit));
    this.inFlight++;
    void (work as () => Promise<R>)().then((r) => {
      this.inFlight--;
      this.reply(r);
      this.maybeEnd();
    });
  }

  private reply(frame: R): void {
    if (this.closed) return;
    this.outbox.push(frame);
    this.flusher.schedule();
  }

  private flush(): void {
    const frames = this.outbox;
    this.outbox = [];
    if (!this.closed) this.writer.push(frames);
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.ending && !this.closed && this.inFlight === 0 && !this.flusher.scheduled) this.writer.end();
  }
}

/**
 * A server's request sessions: one session budget for all of them, each session served on its call
 * and forgotten once it closes. `shutdown` ends them (each answers what is in flight), stops the
 * server, then tears down whatever is left.
 */
export class RequestSessions<F, R> {
  private readonly open = new Set<RequestSession<F, R>>();
  private readonly budget: SessionBudget;

  constructor(limits?: Partial<SessionBudgetLimits>) {
    this.budget = new SessionBudget(limits);
  }

  serve(call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>, o: Omit<RequestSessionOptions<F, R>, "budget" | "onClosed">): void {
    const session: RequestSession<F, R> = new RequestSession<F, R>(call, { ...o, budget: this.budget, onClosed: () => this.open.delete(session) });
    this.open.add(session);
  }

  async shutdown(stopServer: () => Promise<void>): Promise<void> {
    for (const s of [...this.open]) s.end();
    await stopServer();
    for (const s of [...this.open]) s.teardown();
  }
}
