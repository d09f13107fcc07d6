/**
 * How an acceptor's replies leave, whatever the transport (the gRPC server, the in-memory
 * transport): through a `StreamWriter` that packs frames into envelopes by an estimate of their
 * size and follows the stream's backpressure. A reply too large for any envelope (a prepare or read
 * of a range holding many large values) is replaced by a `tooLarge` error reply saying so
 * (`REPLY_TOO_LARGE`): the client asks again for less (wor/core/chunks.ts).
 */
import { REPLY_TOO_LARGE } from "../core/chunks.ts";
import { encodeServerFrames } from "../wire/codec.ts";
import type { ServerFrame } from "../core/frames.ts";
import { type FrameStream, StreamWriter, type StreamWriterOptions } from "./stream-writer.ts";

/** A writer of server frames onto `stream`; `options` are the session's (failure, backpressure). */
export function replyWriter(stream: FrameStream, options: Pick<StreamWriterOptions<ServerFrame>, "onFail" | "onPendingChange" | "queuedFramesMax">): StreamWriter<ServerFrame> {
  return new StreamWriter<ServerFrame>(stream, {
    ...options,
    encode: encodeServerFrames,
    frameBytes: serverFrameBytes,
    oversize: (f, bytes) => (f.kind === "reply" ? { id: f.id, kind: "reply", reply: { kind: "error", code: "tooLarge", message: `reply of ${bytes} bytes ${REPLY_TOO_LARGE}` } } : undefined),
  });
}

/** An upper-ish estimate of a server frame's encoded size: its byte values plus per-item overhead. */
export function serverFrameBytes(f: ServerFrame): number {
  if (f.kind !== "reply") return 64 + f.space.length + (f.value?.byteLength ?? 0);
  const r = f.reply;
  const values = (list: readonly { accepted?: { value: Uint8Array } }[]) => list.reduce((n, a) => n + 64 + (a.accepted?.value.byteLength ?? 0), 0);
  switch (r.kind) {
    case "promise":
      return 48 + values(r.accepted);
    case "states":
      return 48 + values(r.addresses) + 48 * r.ranges.length;
    case "voted":
      return 48 + r.refused.reduce((n, x) => n + 48 + (x.chosen?.byteLength ?? 0), 0);
    case "error":
      return 32 + r.message.length * 3;
    default:
      return 48;
  }
}
