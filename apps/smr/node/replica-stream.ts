/**
 * An SMR client's long-lived Session stream to one replica (proto/wormspace/v1/smr.proto): requests
 * carry ids of this client's choosing, the replies name them, in any order; the requests of one tick
 * leave in one envelope through a StreamWriter. A request not answered within its attempt time fails
 * alone (the stream stays). A broken stream (an error, an end, a malformed envelope, an envelope the
 * replica could not read) fails every request in flight on it, and the next request opens a new one.
 * A request cut off may have reached the replica: a proposal's outcome is then unknown (`timeout`), a
 * read just failed (`unavailable`); a refusal of the stream itself (e.g. a wrong token) is `invalid`.
 */
import * as grpc from "@grpc/grpc-js";
import { shortReason } from "../../../wor/node/grpc-reason.ts";
import { StreamWriter } from "../../../wor/node/stream-writer.ts";
import type { SmrReply } from "../core/messages.ts";
import { SMR_LIMITS } from "../core/records.ts";
import { type SmrReplyFrame, type SmrRequestFrame, decodeReplies, encodeRequests } from "../wire/codec.ts";
import type { SmrClientStub } from "../wire/service.ts";
import { OncePerTurn } from "../../../wor/node/once-per-turn.ts";

const REPLICA_STREAM_LIMITS = Object.freeze({
  /** Requests waiting for an answer on one stream; beyond, new ones fail at once as unavailable. */
  pendingMax: 65_536,
});

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
/** A request without its id (the stream assigns it). */
export type SmrRequest = WithoutId<SmrRequestFrame>;

interface Stream {
  readonly call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  readonly writer: StreamWriter<SmrRequestFrame>;
  broken: boolean;
}

interface Pending {
  readonly kind: SmrRequestFrame["kind"];
  readonly stream: Stream;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (r: SmrReply) => void;
}

/** The failure of a request cut off: unknown outcome for a proposal; `lost`: the cut may have let it through. */
function cutOff(kind: SmrRequestFrame["kind"], message: string, lost = true): SmrReply {
  return { ok: false, code: !lost ? "invalid" : kind === "propose" ? "timeout" : "unavailable", message };
}

/** An upper-ish estimate of a request's encoded size (the writer picks an envelope's frames by it). */
const requestBytes = (f: SmrRequestFrame): number => 64 + 3 * f.smr.length + (f.kind === "propose" ? 3 * f.proposal.client.length + f.proposal.command.byteLength : f.query.byteLength);

/** gRPC codes of a stream that broke on the way (anything else: the replica refused the stream). */
const LOST = new Set([grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL]);

export class ReplicaStream {
  /** Streams opened (the first and every re-open). */
  opened = 0;
  private stream: Stream | undefined;
  private readonly pending = new Map<number, Pending>();
  private unsent: SmrRequestFrame[] = [];
  private readonly flusher = new OncePerTurn(() => this.flush());
  private nextId = 1;

  constructor(
    private readonly stub: SmrClientStub,
    private readonly metadata: () => grpc.Metadata,
  ) {}

  /** Send `request`; its reply, or a failure after `ms` or when the stream breaks. */
  request(request: SmrRequest, ms: number): Promise<SmrReply> {
    // Refused here, not by the replica: a frame too large for any envelope would break the stream.
    const [what, bytes, max] = request.kind === "propose" ? ["command", request.proposal.command.byteLength, SMR_LIMITS.commandBytesMax] : ["query", request.query.byteLength, SMR_LIMITS.queryBytesMax];
    if (bytes > max) return Promise.resolve({ ok: false, code: "tooLarge", message: `${what} of ${bytes} bytes (limit ${max})` });
    if (this.pending.size >= REPLICA_STREAM_LIMITS.pendingMax) {
      return Promise.resolve({ ok: false, code: "unavailable", message: `${this.pending.size} requests pending on this stream (limit ${REPLICA_STREAM_LIMITS.pendingMax})` });
    }
    const stream = this.stream ?? this.open();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, cutOff(request.kind, `no answer within ${ms} ms`)), ms);
      this.pending.set(id, { kind: request.kind, stream, timer, resolve });
      this.unsent.push({ ...request, id } as SmrRequestFrame);
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

  private open(): Stream {
    this.opened++;
    const call = this.stub.session(this.metadata());
    const writer = new StreamWriter<SmrRequestFrame>(call, { encode: encodeRequests, frameBytes: requestBytes, onFail: (e) => this.down(stream, `the stream failed (${e.message})`) });
    const stream: Stream = { call, writer, broken: false };
    this.stream = stream;
    call.on("data", (bytes: Uint8Array) => {
      const decoded = decodeReplies(bytes);
      if (!decoded.ok) return void this.down(stream, `a malformed reply envelope (${decoded.error.message})`);
      for (const f of decoded.value) this.onReply(stream, f);
    });
    call.on("error", (e: grpc.ServiceError) => this.down(stream, shortReason(e.details || e.message), LOST.has(e.code)));
    call.on("end", () => this.down(stream, "the replica ended the stream"));
    return stream;
  }

  private onReply(stream: Stream, f: SmrReplyFrame): void {
    // The replica could not read one of our envelopes: which requests it holds is unknown.
    if (f.id === 0) return void this.down(stream, `the replica refused an envelope: ${f.reply.ok ? "?" : f.reply.message}`);
    if (this.pending.get(f.id)?.stream === stream) this.settle(f.id, f.reply);
  }

  private settle(id: number, r: SmrReply): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(r);
  }

  /** Give up on `stream`: fail every request in flight on it; the next request opens a new one. */
  private down(stream: Stream, reason: string, lost = true): void {
    if (stream.broken) return;
    stream.broken = true;
    if (this.stream === stream) {
      this.stream = undefined;
      this.unsent = [];
    }
    stream.writer.close();
    stream.call.cancel();
    for (const [id, p] of this.pending) if (p.stream === stream) this.settle(id, cutOff(p.kind, reason, lost));
  }
}
