/**
 * Tokens from a remote sequencer (apps/log/node/sequencer-server.ts) over one long-lived gRPC
 * stream (DESIGN.md §4.1). Every grant asked in one tick leaves in one envelope. Each request has a
 * deadline (a `timeout` failure). When the stream fails or the sequencer is unreachable, every
 * pending request fails as `unavailable` and the source moves to the next configured address
 * (failover list), reconnecting after a short backoff once there is something to send.
 *
 * A failed grant is harmless to retry: tokens issued but never used become holes, which readers fill.
 */
import type * as grpc from "@grpc/grpc-js";
import { decodeGrantReplies, decodeSequencerStatus, encodeGrantRequests, encodeSequencerStatusRequest } from "../../../proto/codec-sequencer.ts";
import type { GrantReplyFrame, GrantRequestFrame, SequencerStatus } from "../../../proto/sequencer-frames.ts";
import { ACCEPTOR_CHANNEL_OPTIONS } from "../../../proto/service.ts";
import { type SequencerClient, makeSequencerClient } from "../../../proto/service-sequencer.ts";
import { assert } from "../../../verify/runtime/assert.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions } from "../../../wor/node/credentials.ts";
import { reconnectDelayMs } from "../../../wor/node/link.ts";
import { StreamWriter } from "../../../wor/node/stream-writer.ts";
import { type GrantRequest, type LogResult, logFail } from "../core/steps.ts";
import type { Grant } from "../core/tokens.ts";
import type { TokenSource } from "./token-source.ts";

export const REMOTE_TOKEN_DEFAULTS = Object.freeze({
  /** A grant not answered by then fails with `timeout`. */
  deadlineMs: 2_000,
  /** Grant requests waiting for an answer; beyond, new ones fail at once as unavailable. */
  pendingMax: 65_536,
});

export interface RemoteTokenOptions extends ClientSecurity {
  /** Sequencer addresses "host:port", in failover order. */
  readonly addresses: readonly string[];
  readonly deadlineMs?: number;
}

interface Pending {
  readonly log: string;
  readonly asks: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (r: LogResult<Grant>) => void;
}

interface Stream {
  readonly call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  readonly writer: StreamWriter<GrantRequestFrame>;
  readonly address: string;
}

export class RemoteTokenCounters {
  envelopes = 0;
  failovers = 0;
  malformedEnvelopes = 0;
}

export class RemoteTokenSource implements TokenSource {
  readonly counters = new RemoteTokenCounters();
  private readonly clients = new Map<string, SequencerClient>();
  private readonly pending = new Map<number, Pending>();
  private unsent: GrantRequestFrame[] = [];
  private stream: Stream | undefined;
  private current = 0;
  private attempt = 0;
  private nextId = 1;
  private flushScheduled = false;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly deadlineMs: number;

  constructor(private readonly options: RemoteTokenOptions) {
    assert(options.addresses.length > 0, "a remote token source needs at least one sequencer address");
    this.deadlineMs = options.deadlineMs ?? REMOTE_TOKEN_DEFAULTS.deadlineMs;
  }

  /** The sequencer currently used (the next one after a failure). */
  get address(): string {
    return this.options.addresses[this.current]!;
  }

  grant(log: string, request: GrantRequest): Promise<LogResult<Grant>> {
    if (this.closed) return Promise.resolve(logFail("unavailable", "remote token source closed"));
    if (this.pending.size >= REMOTE_TOKEN_DEFAULTS.pendingMax) {
      return Promise.resolve(logFail("unavailable", `${this.pending.size} grant requests pending (limit ${REMOTE_TOKEN_DEFAULTS.pendingMax})`));
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, logFail("timeout", `no grant from sequencer ${this.address} within ${this.deadlineMs} ms`)), this.deadlineMs);
      this.pending.set(id, { log, asks: request.asks.length, timer, resolve });
      this.unsent.push({ id, kind: "grant", log, request });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** The current sequencer's per-log status (unary Status call). */
  status(): Promise<SequencerStatus> {
    return new Promise((resolve, reject) => {
      this.client(this.address).status(encodeSequencerStatusRequest(), callMetadata(this.options), { deadline: Date.now() + this.deadlineMs }, (err, bytes) => {
        if (err || !bytes) return reject(err ?? new Error("empty status reply"));
        const d = decodeSequencerStatus(bytes);
        if (d.ok) resolve(d.value);
        else reject(new Error(`sequencer ${this.address} sent a malformed status: ${d.error.message}`));
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.failAll("unavailable", "remote token source closed");
    this.stream?.writer.close();
    this.stream?.call.cancel();
    this.stream = undefined;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.unsent.length === 0) return;
    if (!this.stream) {
      if (!this.retry) this.open();
      return;
    }
    const frames = this.unsent;
    this.unsent = [];
    this.counters.envelopes++;
    this.stream.writer.push(frames);
  }

  private client(address: string): SequencerClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new makeSequencerClient(address, channelCredentials(this.options), { ...ACCEPTOR_CHANNEL_OPTIONS, ...channelOptions(this.options) });
      this.clients.set(address, c);
    }
    return c;
  }

  private open(): void {
    const address = this.address;
    const call = this.client(address).session(callMetadata(this.options));
    const writer = new StreamWriter<GrantRequestFrame>(call, {
      encode: encodeGrantRequests,
      onFail: (e) => this.down(stream, e.message),
    });
    const stream: Stream = { call, writer, address };
    this.stream = stream;
    call.on("data", (bytes: Uint8Array) => {
      if (this.stream !== stream) return;
      this.attempt = 0;
      const decoded = decodeGrantReplies(bytes);
      if (!decoded.ok) {
        this.counters.malformedEnvelopes++;
        return this.down(stream, `malformed reply envelope (${decoded.error.message})`);
      }
      for (const f of decoded.value) this.onReply(stream, f);
    });
    call.on("error", (e: grpc.ServiceError) => this.down(stream, e.details || e.message));
    call.on("end", () => this.down(stream, "stream ended"));
    this.flush();
  }

  private onReply(stream: Stream, f: GrantReplyFrame): void {
    if (f.id === 0) {
      // The sequencer could not read one of our envelopes: which requests it held is unknown.
      this.down(stream, `sequencer refused an envelope: ${f.result.ok ? "?" : f.result.failure.message}`);
      return;
    }
    const p = this.pending.get(f.id);
    if (p) this.settle(f.id, checked(stream.address, p, f.result)); // else: answered after its deadline
  }

  private settle(id: number, r: LogResult<Grant>): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(r);
  }

  private failAll(code: "unavailable", message: string): void {
    this.unsent = [];
    for (const id of [...this.pending.keys()]) this.settle(id, logFail(code, message));
  }

  /** The stream failed: fail what is pending, move to the next address, reconnect when needed. */
  private down(stream: Stream, reason: string): void {
    if (this.stream !== stream || this.closed) return;
    this.stream = undefined;
    stream.writer.close();
    stream.call.cancel();
    this.failAll("unavailable", `sequencer ${stream.address}: ${reason}`);
    if (this.options.addresses.length > 1) {
      this.current = (this.current + 1) % this.options.addresses.length;
      this.counters.failovers++;
    }
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.unsent.length > 0) this.open();
    }, reconnectDelayMs(this.attempt++));
  }
}

/** A grant must carry one token per ask, each in the log asked about. */
function checked(address: string, p: Pending, r: LogResult<Grant>): LogResult<Grant> {
  if (!r.ok) return r;
  if (r.value.tokens.length !== p.asks) return logFail("internal", `sequencer ${address} granted ${r.value.tokens.length} tokens for ${p.asks} asks`);
  if (r.value.tokens.some((t) => t.capture.space !== p.log)) return logFail("internal", `sequencer ${address} granted a token outside log ${p.log}`);
  return r;
}
