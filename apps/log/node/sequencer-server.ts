/**
 * The sequencer's gRPC server (docs/ARCHITECTURE.md §4.1): appenders hold one long-lived bidirectional Session
 * stream each, carrying batched grant requests; the server answers each from its `SequencerNode`
 * and batches the replies of one tick into one envelope. Plus the unary Status call.
 *
 * Bytes become frames only through apps/log/wire/codec.ts: a frame that fails validation is
 * answered alone with an `invalid` / `tooLarge` failure, an unreadable envelope with a failure of id 0.
 * Replies leave through a StreamWriter (backpressure, bounded queue) under the acceptor server's
 * session budget (wor/node/session-budget.ts): a session whose replies back up is not read until it
 * catches up, and closed with RESOURCE_EXHAUSTED if it stays backed up. TLS, token check, binding and
 * shutdown are the acceptor server's (wor/node/grpc-serving.ts). The server does not own the
 * sequencer: closing it leaves the sequencer to its owner.
 */
import * as grpc from "@grpc/grpc-js";
import { decodeGrantRequests, decodeSequencerStatusRequest, encodeGrantReplies, encodeSequencerStatus } from "../wire/codec.ts";
import type { DecodedGrantRequestFrame, GrantReplyFrame } from "../wire/frames.ts";
import { type SequencerHandlers, SequencerService } from "../wire/service.ts";
import { type ServerTls, bindServer, exhaustCall, newServer, shutdownServer, statusError, tokenCheck, unauthenticated } from "../../../wor/node/grpc-serving.ts";
import { type BudgetMember, SessionBudget, type SessionBudgetLimits } from "../../../wor/node/session-budget.ts";
import { StreamWriter } from "../../../wor/node/stream-writer.ts";
import { logFail } from "../core/steps.ts";
import type { SequencerNode } from "./sequencer-node.ts";
import type { CodecError } from "../../../proto/codec-kernel.ts";

const SEQUENCER_SERVER_LIMITS = Object.freeze({
  /** Grant requests one session may have in flight; beyond, new ones fail at once as unavailable. */
  requestsInFlightMax: 16_384,
});

export interface SequencerServerOptions {
  readonly sequencer: SequencerNode;
  readonly host?: string;
  readonly port?: number;
  readonly tls?: ServerTls;
  readonly token?: string;
  /** Queue limit of each session's reply writer (frames). */
  readonly queuedFramesMax?: number;
  /** Bounds on the reply bytes held for appenders that do not read (defaults: SESSION_BUDGET_LIMITS). */
  readonly budget?: Partial<SessionBudgetLimits>;
}

export interface SequencerServer {
  readonly port: number;
  close(): Promise<void>;
}

const codecFailure = (id: number, e: CodecError): GrantReplyFrame => ({ id, result: logFail(e.code === "tooLarge" ? "tooLarge" : "invalid", e.message) });

/** An upper-ish estimate of a grant reply's encoded size (the session budget counts queued replies by it). */
export function grantReplyBytes(f: GrantReplyFrame): number {
  const r = f.result;
  if (!r.ok) return 32 + 3 * r.failure.message.length;
  let n = 32 + 12 * r.value.streamTails.length;
  for (const t of r.value.tokens) n += 64 + 3 * t.capture.space.length + 24 * t.prev.length + 12 * t.priors.length;
  return n;
}

/** One appender's session: answers its requests, batching the replies of one tick. */
class Session {
  private readonly writer: StreamWriter<GrantReplyFrame>;
  private outbox: GrantReplyFrame[] = [];
  private flushing = false;
  private inFlight = 0;
  private ending = false;
  private readonly member: BudgetMember;
  closed = false;

  constructor(
    call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>,
    private readonly sequencer: SequencerNode,
    queuedFramesMax: number | undefined,
    budget: SessionBudget,
    private readonly onClosed: (s: Session) => void,
  ) {
    const exhaust = (reason: string) => {
      this.teardown();
      exhaustCall(call, reason);
    };
    this.member = budget.join({ pause: () => call.pause(), resume: () => call.resume(), exhaust });
    this.writer = new StreamWriter<GrantReplyFrame>(call, {
      encode: encodeGrantReplies,
      frameBytes: grantReplyBytes,
      queuedFramesMax,
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
    this.onClosed(this);
  }

  private onEnvelope(bytes: Uint8Array): void {
    if (this.closed || this.ending) return;
    const decoded = decodeGrantRequests(bytes);
    if (!decoded.ok) {
      this.reply(codecFailure(0, decoded.error));
      return;
    }
    for (const f of decoded.value) this.handle(f);
  }

  private handle(f: DecodedGrantRequestFrame): void {
    if (f.kind === "invalid") {
      this.reply(codecFailure(f.id, f.error));
      return;
    }
    if (this.inFlight >= SEQUENCER_SERVER_LIMITS.requestsInFlightMax) {
      this.reply({ id: f.id, result: logFail("unavailable", `${this.inFlight} grant requests in flight on this session (limit ${SEQUENCER_SERVER_LIMITS.requestsInFlightMax})`) });
      return;
    }
    this.inFlight++;
    void this.sequencer.grant(f.log, f.request).then((result) => {
      this.inFlight--;
      this.reply({ id: f.id, result });
      this.maybeEnd();
    });
  }

  private reply(frame: GrantReplyFrame): void {
    if (this.closed) return;
    this.outbox.push(frame);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    const frames = this.outbox;
    this.outbox = [];
    if (!this.closed) this.writer.push(frames);
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.ending && !this.closed && this.inFlight === 0 && !this.flushing) this.writer.end();
  }
}

export async function startSequencerServer(options: SequencerServerOptions): Promise<SequencerServer> {
  const sessions = new Set<Session>();
  const server = newServer();
  const authorized = tokenCheck(options.token);
  const budget = new SessionBudget(options.budget);

  const handlers: SequencerHandlers = {
    session(call) {
      if (!authorized(call.metadata)) {
        call.emit("error", unauthenticated());
        return;
      }
      sessions.add(new Session(call, options.sequencer, options.queuedFramesMax, budget, (s) => sessions.delete(s)));
    },
    status(call, callback) {
      if (!authorized(call.metadata)) return callback(unauthenticated());
      const req = decodeSequencerStatusRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      callback(null, encodeSequencerStatus({ logs: options.sequencer.status() }));
    },
  };
  server.addService(SequencerService, handlers);
  const port = await bindServer(server, options.host ?? "127.0.0.1", options.port ?? 0, options.tls);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const s of [...sessions]) s.end();
      await shutdownServer(server);
      for (const s of [...sessions]) s.teardown();
    })());
  return { port, close };
}
