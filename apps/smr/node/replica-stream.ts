/**
 * An SMR client's long-lived Session stream to one replica (proto/wormspace/v1/smr.proto), on
 * wor/node/request-stream.ts: requests carry ids of this client's choosing, the replies name them,
 * in any order; the requests of one tick leave in one envelope. A request not answered within its
 * attempt time fails alone (the stream stays). A broken stream fails every request in flight on it,
 * and the next request opens a new one. A request cut off may have reached the replica: a proposal's
 * outcome is then unknown (`timeout`), a read just failed (`unavailable`); a refusal of the stream
 * itself (a wrong token; a replica of another cluster; TLS on one end only, or certificates the ends
 * do not trust: no request got through) is `invalid`.
 */
import type * as grpc from "@grpc/grpc-js";
import { type CutOff, RequestStream } from "../../../wor/node/request-stream.ts";
import type { SmrReply } from "../core/messages.ts";
import { SMR_LIMITS } from "../core/records.ts";
import { type SmrRequestFrame, decodeReplies, encodeRequests } from "../wire/codec.ts";
import type { SmrClientStub } from "../wire/service.ts";

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
/** A request without its id (the stream assigns it). */
export type SmrRequest = WithoutId<SmrRequestFrame>;

/** Failures made here for requests cut off, not answered by the replica. */
const cutOffs = new WeakSet<SmrReply>();

/** Was `r` made for a request cut off (the replica did not answer it: down, unreachable, too slow)? */
export const wasCutOff = (r: SmrReply): boolean => cutOffs.has(r);

/** The failure of a request cut off: unknown outcome for a proposal that may have got through. */
function cutOff(f: SmrRequestFrame, message: string, why: CutOff): SmrReply {
  const r: SmrReply = { ok: false, code: why === "refused" ? "invalid" : f.kind === "propose" ? "timeout" : "unavailable", message };
  cutOffs.add(r);
  return r;
}

/** An upper-ish estimate of a request's encoded size (the writer picks an envelope's frames by it). */
const requestBytes = (f: SmrRequestFrame): number => 64 + 3 * f.smr.length + (f.kind === "propose" ? 3 * f.proposal.client.length + f.proposal.command.byteLength : f.query.byteLength);

export class ReplicaStream {
  private readonly stream: RequestStream<SmrRequestFrame, SmrReply>;

  /** `refused`: the message of a stream error that is a refusal (a TLS or cluster mismatch), else undefined. */
  constructor(stub: SmrClientStub, metadata: () => grpc.Metadata, refused?: (reason: string) => string | undefined) {
    this.stream = new RequestStream({
      server: "the replica",
      open: () => stub.session(metadata()),
      encode: encodeRequests,
      frameBytes: requestBytes,
      decode: decodeReplies,
      cutOff,
      refusal: (r) => (r.ok ? "?" : r.message),
      busy: (n, limit) => ({ ok: false, code: "unavailable", message: `${n} requests pending on this stream (limit ${limit})` }),
      ...(refused ? { refused } : {}),
    });
  }

  /** Streams opened (the first and every re-open). */
  get opened(): number {
    return this.stream.opened;
  }

  /** Send `request`; its reply, or a failure after `ms` or when the stream breaks. */
  request(request: SmrRequest, ms: number): Promise<SmrReply> {
    // Refused here, not by the replica: a frame too large for any envelope would break the stream.
    const [what, bytes, max] = request.kind === "propose" ? ["command", request.proposal.command.byteLength, SMR_LIMITS.commandBytesMax] : ["query", request.query.byteLength, SMR_LIMITS.queryBytesMax];
    if (bytes > max) return Promise.resolve({ ok: false, code: "tooLarge", message: `${what} of ${bytes} bytes (limit ${max})` });
    return this.stream.request((id) => ({ ...request, id }) as SmrRequestFrame, ms);
  }

  /** Fail what is pending and cancel the stream. */
  close(): void {
    this.stream.close();
  }
}
