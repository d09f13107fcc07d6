/**
 * The sequencer's gRPC server (docs/ARCHITECTURE.md §4.1): appenders hold one long-lived bidirectional Session
 * stream each, carrying batched grant requests; the server answers each from its `SequencerNode`
 * and batches the replies of one tick into one envelope. Plus the unary Status call.
 *
 * Bytes become frames only through apps/log/wire/codec.ts: a frame that fails validation is
 * answered alone with an `invalid` / `tooLarge` failure, an unreadable envelope with a failure of id 0.
 * Replies leave through a StreamWriter (backpressure, bounded queue) under the acceptor server's
 * session budget (wor/node/session-budget.ts): a session whose replies back up is not read until it
 * catches up, and closed with RESOURCE_EXHAUSTED if it stays backed up. TLS, the token and
 * cluster-id checks (an appender of another cluster is refused before it is served), binding and
 * shutdown are the acceptor server's (wor/node/grpc-serving.ts). The server does not own the
 * sequencer: closing it leaves the sequencer to its owner.
 */
import * as grpc from "@grpc/grpc-js";
import { decodeGrantRequests, decodeSequencerStatusRequest, encodeGrantReplies, encodeSequencerStatus } from "../wire/codec.ts";
import type { DecodedGrantRequestFrame, GrantReplyFrame } from "../wire/frames.ts";
import { type SequencerHandlers, SequencerService } from "../wire/service.ts";
import { type ListeningServer, type SessionServeOptions, admission, bindServer, newServer, shutdownServer, statusError } from "../../../wor/node/grpc-serving.ts";
import { RequestSessions } from "../../../wor/node/request-session.ts";
import { logFail } from "../core/steps.ts";
import type { SequencerNode } from "./sequencer-node.ts";
import type { CodecError } from "../../../proto/codec-kernel.ts";

export interface SequencerServerOptions extends SessionServeOptions {
  readonly sequencer: SequencerNode;
}

export type SequencerServer = ListeningServer;

const codecFailure = (id: number, e: CodecError): GrantReplyFrame => ({ id, result: logFail(e.code === "tooLarge" ? "tooLarge" : "invalid", e.message) });

/** An upper-ish estimate of a grant reply's encoded size (the session budget counts queued replies by it). */
export function grantReplyBytes(f: GrantReplyFrame): number {
  const r = f.result;
  if (!r.ok) return 32 + 3 * r.failure.message.length;
  let n = 32 + 12 * r.value.streamTails.length;
  for (const t of r.value.tokens) n += 64 + 3 * t.capture.space.length + 24 * t.prev.length + 12 * t.priors.length;
  return n;
}

/** One appender's session: grant requests answered from the sequencer, by id. */
function sequencerSession(
  sessions: RequestSessions<DecodedGrantRequestFrame, GrantReplyFrame>,
  call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>,
  sequencer: SequencerNode,
  options: SequencerServerOptions,
): void {
  sessions.serve(call, {
    decode: decodeGrantRequests,
    unreadable: (e) => codecFailure(0, e),
    handle: (f) => (f.kind === "invalid" ? codecFailure(f.id, f.error) : async () => ({ id: f.id, result: await sequencer.grant(f.log, f.request) })),
    busy: (f, n, limit) => ({ id: f.id, result: logFail("unavailable", `${n} grant requests in flight on this session (limit ${limit})`) }),
    encode: encodeGrantReplies,
    replyBytes: grantReplyBytes,
    queuedFramesMax: options.queuedFramesMax,
  });
}

export async function startSequencerServer(options: SequencerServerOptions): Promise<SequencerServer> {
  const sessions = new RequestSessions<DecodedGrantRequestFrame, GrantReplyFrame>(options.budget);
  const server = newServer();
  const admit = admission(options, "sequencer");

  const handlers: SequencerHandlers = {
    session(call) {
      const refused = admit(call.metadata);
      if (refused) {
        call.emit("error", refused);
        return;
      }
      sequencerSession(sessions, call, options.sequencer, options);
    },
    status(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const req = decodeSequencerStatusRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      callback(null, encodeSequencerStatus({ logs: options.sequencer.status() }));
    },
  };
  server.addService(SequencerService, handlers);
  const port = await bindServer(server, options);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= sessions.shutdown(() => shutdownServer(server)));
  return { port, close };
}
