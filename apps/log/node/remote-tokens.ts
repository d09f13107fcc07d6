/**
 * Tokens from a remote sequencer (apps/log/node/sequencer-server.ts) over one long-lived gRPC
 * stream (docs/ARCHITECTURE.md §4.1). Every grant asked in one tick leaves in one envelope.
 *
 * Failover: when the stream fails, the sequencer is unreachable, or a grant misses its deadline (a
 * paused sequencer answers nothing, and only keepalive would notice), the source gives up on that
 * sequencer at once: every pending request fails (`timeout` / `unavailable`, both retryable), the
 * source moves to the next configured address, reconnecting after a short backoff once there is
 * something to send, and its requests carry a takeover hint naming the sequencer given up on, until
 * a sequencer answers. A standby sequencer answers with a redirect to the log's active one: the
 * source resends what is pending there (at most `redirectsMax` hops without an answer); when that
 * one fails, it goes back to the one that redirected it, with the hint, so it takes over. A
 * sequencer of another cluster refuses the stream (the source sends its cluster id): what is
 * pending fails `invalid` at once, naming the sequencer and both ids, not retried as unavailable.
 *
 * A failed grant is harmless to retry: tokens issued but never used become holes, which readers fill.
 */
import * as grpc from "@grpc/grpc-js";
import { decodeGrantReplies, decodeSequencerStatus, encodeGrantRequests, encodeSequencerStatusRequest } from "../wire/codec.ts";
import type { GrantReplyFrame, GrantRequestFrame, SequencerStatus } from "../wire/frames.ts";
import { type SequencerClient, makeSequencerClient } from "../wire/service.ts";
import { assert } from "../../../verify/runtime/assert.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions, foreignCluster } from "../../../wor/node/credentials.ts";
import { shortReason } from "../../../wor/node/grpc-reason.ts";
import { reconnectDelayMs } from "../../../wor/node/link.ts";
import { StreamWriter } from "../../../wor/node/stream-writer.ts";
import { type ActiveSequencer, type GrantRequest, type LogResult, logFail } from "../core/steps.ts";
import type { Grant } from "../core/tokens.ts";
import type { TokenSource } from "./token-source.ts";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { OncePerTurn } from "../../../wor/node/once-per-turn.ts";

export const REMOTE_TOKEN_DEFAULTS = Object.freeze({
  /** A grant not answered by then fails with `timeout`, and the source gives up on that sequencer. */
  deadlineMs: 2_000,
  /** Grant requests waiting for an answer; beyond, new ones fail at once as unavailable. */
  pendingMax: 65_536,
  /** Redirects followed without an answer; beyond, pending requests fail as unavailable. */
  redirectsMax: 4,
});

export interface RemoteTokenOptions extends ClientSecurity {
  /** Sequencer addresses "host:port", in failover order. */
  readonly addresses: readonly string[];
  readonly deadlineMs?: number;
}

interface Pending {
  readonly frame: GrantRequestFrame;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (r: LogResult<Grant>) => void;
}

interface Stream {
  readonly call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  readonly writer: StreamWriter<GrantRequestFrame>;
  readonly address: string;
}

class RemoteTokenCounters {
  envelopes = 0;
  failovers = 0;
  redirects = 0;
  malformedEnvelopes = 0;
}

export class RemoteTokenSource implements TokenSource {
  readonly counters = new RemoteTokenCounters();
  private readonly clients = new Map<string, SequencerClient>();
  private readonly pending = new Map<number, Pending>();
  private unsent: GrantRequestFrame[] = [];
  private stream: Stream | undefined;
  private current = 0;
  /** A sequencer a redirect sent us to, outside the configured list. */
  private redirected: string | undefined;
  /** The sequencer given up on, named in requests until a sequencer answers. */
  private takeover: string | undefined;
  /** Redirects followed since the last answer. */
  private hops = 0;
  private attempt = 0;
  private nextId = 1;
  private readonly flusher = new OncePerTurn(() => this.flush());
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly deadlineMs: number;

  constructor(private readonly options: RemoteTokenOptions) {
    assert(options.addresses.length > 0, "a remote token source needs at least one sequencer address");
    this.deadlineMs = options.deadlineMs ?? REMOTE_TOKEN_DEFAULTS.deadlineMs;
  }

  /** The sequencer currently used (the next one after a failure, the active one after a redirect). */
  get address(): string {
    return this.redirected ?? this.options.addresses[this.current]!;
  }

  grant(log: string, request: GrantRequest): Promise<LogResult<Grant>> {
    if (this.closed) return Promise.resolve(logFail("unavailable", "remote token source closed"));
    if (this.pending.size >= REMOTE_TOKEN_DEFAULTS.pendingMax) {
      return Promise.resolve(logFail("unavailable", `${this.pending.size} grant requests pending (limit ${REMOTE_TOKEN_DEFAULTS.pendingMax})`));
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      const frame: GrantRequestFrame = { id, kind: "grant", log, request };
      const timer = setTimeout(() => this.missed(id), this.deadlineMs);
      this.pending.set(id, { frame, timer, resolve });
      this.unsent.push(frame);
      this.flusher.schedule();
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
    if (this.stream) this.drop(this.stream);
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private flush(): void {
    if (this.closed || this.unsent.length === 0) return;
    if (!this.stream) {
      if (!this.retry) this.open();
      return;
    }
    const hint = this.takeover;
    const frames = hint === undefined ? this.unsent : this.unsent.map((f) => ({ ...f, request: { ...f.request, takeover: hint } }));
    this.unsent = [];
    this.counters.envelopes++;
    this.stream.writer.push(frames);
  }

  private client(address: string): SequencerClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new makeSequencerClient(address, channelCredentials(this.options), { ...CHANNEL_OPTIONS, ...channelOptions(this.options) });
      this.clients.set(address, c);
    }
    return c;
  }

  private open(): void {
    const address = this.address;
    const call = this.client(address).session(callMetadata(this.options));
    const writer = new StreamWriter<GrantRequestFrame>(call, {
      encode: encodeGrantRequests,
      onFail: (e) => this.down(stream, "unavailable", `sequencer ${address} failed (${e.message})`),
    });
    const stream: Stream = { call, writer, address };
    this.stream = stream;
    call.on("data", (bytes: Uint8Array) => {
      if (this.stream !== stream) return;
      this.attempt = 0;
      const decoded = decodeGrantReplies(bytes);
      if (!decoded.ok) {
        this.counters.malformedEnvelopes++;
        return this.down(stream, "unavailable", `sequencer ${address} sent a malformed reply envelope (${decoded.error.message})`);
      }
      for (const f of decoded.value) this.onReply(stream, f);
    });
    call.on("error", (e: grpc.ServiceError) => {
      const reason = e.details || e.message;
      // A sequencer of another cluster: no grant will come from it, and it is no suspect to take over from.
      const foreign = foreignCluster(`sequencer ${address}`, reason);
      if (foreign !== undefined) return this.down(stream, "invalid", foreign, false);
      this.down(stream, "unavailable", `sequencer ${address} ${e.code === grpc.status.UNAVAILABLE ? `unreachable (${shortReason(reason)})` : `failed: ${reason}`}`);
    });
    call.on("end", () => this.down(stream, "unavailable", `sequencer ${address} ended the stream`));
    this.flush();
  }

  private onReply(stream: Stream, f: GrantReplyFrame): void {
    if (this.stream !== stream) return;
    if (f.id === 0) {
      // The sequencer could not read one of our envelopes: which requests it held is unknown.
      this.down(stream, "unavailable", `sequencer ${stream.address} refused an envelope: ${f.result.ok ? "?" : f.result.failure.message}`);
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) return; // answered after its deadline
    if (!f.result.ok && f.result.failure.code === "redirect") {
      this.follow(stream, f.result.failure.active);
      return;
    }
    this.takeover = undefined;
    this.hops = 0;
    this.settle(f.id, checked(stream.address, p.frame, f.result));
  }

  /** A grant missed its deadline: give up on this sequencer (it may be paused), not just on the grant. */
  private missed(id: number): void {
    if (!this.pending.has(id)) return;
    if (this.stream) this.down(this.stream, "timeout", `sequencer ${this.stream.address} did not answer within ${this.deadlineMs} ms`);
    else this.settle(id, logFail("timeout", `no sequencer answered within ${this.deadlineMs} ms (last tried: ${this.address})`));
  }

  /** A standby's redirect: resend everything pending to the active sequencer. */
  private follow(stream: Stream, active: ActiveSequencer): void {
    if (++this.hops > REMOTE_TOKEN_DEFAULTS.redirectsMax || active.address === stream.address) {
      this.down(stream, "unavailable", `sequencer ${stream.address} redirected ${this.hops} times without an answer (last: to ${active.owner} at ${active.address})`, false);
      return;
    }
    this.counters.redirects++;
    this.drop(stream);
    const k = this.options.addresses.indexOf(active.address);
    if (k >= 0) this.current = k;
    this.redirected = k >= 0 ? undefined : active.address;
    this.takeover = undefined;
    this.unsent = [...this.pending.values()].map((p) => p.frame);
    this.open();
  }

  private drop(stream: Stream): void {
    this.stream = undefined;
    stream.writer.close();
    stream.call.cancel();
  }

  private settle(id: number, r: LogResult<Grant>): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(r);
  }

  private failAll(code: "unavailable" | "timeout" | "invalid", message: string): void {
    this.unsent = [];
    for (const id of [...this.pending.keys()]) this.settle(id, logFail(code, message));
  }

  /** Give up on this stream's sequencer: fail what is pending, move on (back to the sequencer that
   *  redirected us, or to the next address), name it in a takeover hint (`suspect`), reconnect when needed. */
  private down(stream: Stream, code: "unavailable" | "timeout" | "invalid", message: string, suspect = true): void {
    if (this.stream !== stream || this.closed) return;
    this.drop(stream);
    this.failAll(code, message);
    if (suspect) this.takeover = stream.address;
    this.hops = 0;
    if (this.redirected !== undefined) this.redirected = undefined;
    else if (this.options.addresses.length > 1) this.current = (this.current + 1) % this.options.addresses.length;
    if (this.address !== stream.address) this.counters.failovers++;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.unsent.length > 0) this.open();
    }, reconnectDelayMs(this.attempt++));
  }
}

/** A grant must carry one token per ask, each in the log asked about. */
function checked(address: string, f: GrantRequestFrame, r: LogResult<Grant>): LogResult<Grant> {
  if (!r.ok) return r;
  const asks = f.request.asks.length;
  if (r.value.tokens.length !== asks) return logFail("internal", `sequencer ${address} granted ${r.value.tokens.length} tokens for ${asks} asks`);
  if (r.value.tokens.some((t) => t.capture.space !== f.log)) return logFail("internal", `sequencer ${address} granted a token outside log ${f.log}`);
  return r;
}
