/**
 * A client's long-lived Session stream to one request/reply server (the client half of
 * ./request-session.ts): the SMR client's to a replica (apps/smr/node/replica-stream.ts), a WormTX
 * coordinator's to a participant (apps/txn/node/remote-participants.ts). Requests carry ids of this
 * stream's choosing, the replies name them, in any order; the requests of one tick leave in one
 * envelope through a StreamWriter. The stream opens with the first request. A request not answered
 * within its time fails alone (the stream stays). A broken stream (an error, an end, a malformed
 * envelope, an envelope the server could not read: a reply of id 0) fails every request in flight on
 * it, and the next request opens a new one. How a cut-off request fails is the caller's (`CutOff`).
 */
import * as grpc from "@grpc/grpc-js";
import type { Decoded } from "../../proto/codec-kernel.ts";
import { atDeadline } from "./deadlines.ts";
import { connectionFailure, shortReason } from "./grpc-reason.ts";
import { OncePerTurn } from "./once-per-turn.ts";
import { StreamWriter } from "./stream-writer.ts";

const REQUEST_STREAM_LIMITS = Object.freeze({
  /** Requests waiting for an answer on one stream; beyond, new ones fail at once (`busy`). */
  pendingMax: 65_536,
});

export interface RequestStreamOptions<F extends { readonly id: number }, R> {
  /** The server as failures name it ("the replica", "participant p0"). */
  readonly server: string;
  /** Open the gRPC Session call (with its metadata). */
  readonly open: () => grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  readonly encode: (frames: readonly F[]) => Uint8Array;
  /** An upper-ish estimate of a request's encoded size (the writer picks an envelope's frames by it). */
  readonly frameBytes: (frame: F) => number;
  /** A reply envelope, all or nothing. */
  readonly decode: (bytes: Uint8Array) => Decoded<readonly { readonly id: number; readonly reply: R }[]>;
  /** The reply to `frame` cut off for `message`. */
  readonly cutOff: (frame: F, message: string, why: CutOff) => R;
  /** Why the server refused an envelope (its reply of id 0). */
  readonly refusal: (reply: R) => string;
  /** The reply to a request refused because `pending` requests (the `limit`) already wait. */
  readonly busy: (pending: number, limit: number) => R;
  /** A stream's error (grpc-js's whole reason) that is a refusal although its code says lost (a TLS
   *  mismatch: no request got through, and none will), in its own words; undefined: lost. */
  readonly refused?: (reason: string) => string | undefined;
}

/**
 * Why a request was cut off: no answer in its time (`timeout`), the stream broke on the way (`lost`):
 * either way it may have reached the server; or the server refused the stream itself (`refused`,
 * e.g. a wrong token).
 */
export type CutOff = "timeout" | "lost" | "refused";

interface Stream<F> {
  readonly call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  readonly writer: StreamWriter<F>;
  broken: boolean;
}

interface Pending<F, R> {
  readonly frame: F;
  readonly stream: Stream<F>;
  /** Cancels its deadline. */
  readonly cancel: () => void;
  readonly resolve: (r: R) => void;
}

/** gRPC codes of a stream that broke on the way (anything else: the server refused the stream). */
const LOST = new Set([grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL]);

export class RequestStream<F extends { readonly id: number }, R> {
  /** Streams opened (the first and every re-open). */
  opened = 0;
  private stream: Stream<F> | undefined;
  private readonly pending = new Map<number, Pending<F, R>>();
  private unsent: F[] = [];
  private readonly flusher = new OncePerTurn(() => this.flush());
  private nextId = 1;

  constructor(private readonly o: RequestStreamOptions<F, R>) {}

  /** Send the frame `withId` makes; its reply, or a failure after `ms` or when the stream breaks. */
  request(withId: (id: number) => F, ms: number): Promise<R> {
    if (this.pending.size >= REQUEST_STREAM_LIMITS.pendingMax) return Promise.resolve(this.o.busy(this.pending.size, REQUEST_STREAM_LIMITS.pendingMax));
    const stream = this.stream ?? this.open();
    const frame = withId(this.nextId++);
    return new Promise((resolve) => {
      const cancel = atDeadline(Date.now() + ms, () => this.settle(frame.id, this.o.cutOff(frame, `no answer from ${this.o.server} within ${ms} ms`, "timeout")));
      this.pending.set(frame.id, { frame, stream, cancel, resolve });
      this.unsent.push(frame);
      this.flusher.schedule();
    });
  }

  /** Fail what is pending and cancel the stream. */
  close(): void {
    if (this.stream) this.down(this.stream, "the client closed");
  }

  private flush(): void {
    const frames = this.unsent;
    this.unsent = [];
    this.stream?.writer.push(frames);
  }

  private open(): Stream<F> {
    this.opened++;
    const call = this.o.open();
    const writer = new StreamWriter<F>(call, { encode: this.o.encode, frameBytes: this.o.frameBytes, onFail: (e) => this.down(stream, `the stream failed (${e.message})`) });
    const stream: Stream<F> = { call, writer, broken: false };
    this.stream = stream;
    call.on("data", (bytes: Uint8Array) => {
      const decoded = this.o.decode(bytes);
      if (!decoded.ok) return void this.down(stream, `a malformed reply envelope (${decoded.error.message})`);
      for (const f of decoded.value) this.onReply(stream, f.id, f.reply);
    });
    call.on("error", (e: grpc.ServiceError) => {
      const reason = e.details || e.message;
      const refusal = this.o.refused?.(reason);
      if (refusal !== undefined) return this.down(stream, refusal, "refused");
      // A connection that failed says nothing of whom it was to: name the server.
      const failed = connectionFailure(reason);
      this.down(stream, failed ? `${this.o.server}: ${failed}` : shortReason(reason), LOST.has(e.code) ? "lost" : "refused");
    });
    call.on("end", () => this.down(stream, `${this.o.server} ended the stream`));
    return stream;
  }

  private onReply(stream: Stream<F>, id: number, reply: R): void {
    // The server could not read one of our envelopes: which requests it holds is unknown.
    if (id === 0) return void this.down(stream, `${this.o.server} refused an envelope: ${this.o.refusal(reply)}`);
    if (this.pending.get(id)?.stream === stream) this.settle(id, reply);
  }

  private settle(id: number, r: R): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.cancel();
    p.resolve(r);
  }

  /** Give up on `stream`: fail every request in flight on it; the next request opens a new one. */
  private down(stream: Stream<F>, reason: string, why: CutOff = "lost"): void {
    if (stream.broken) return;
    stream.broken = true;
    if (this.stream === stream) {
      this.stream = undefined;
      this.unsent = [];
    }
    stream.writer.close();
    stream.call.cancel();
    for (const [id, p] of this.pending) if (p.stream === stream) this.settle(id, this.o.cutOff(p.frame, reason, why));
  }
}
