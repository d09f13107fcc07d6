/**
 * A participant served over gRPC (proto/wormspace/v1/txn.proto): a coordinator in another process
 * reaches it with `remoteParticipants` (remote-participants.ts), on one long-lived Session stream,
 * served by wor/node/request-session.ts (requests answered by id in any order, one tick's replies in
 * one envelope, backpressure and the session budget, a bounded number in flight). A prepare runs the
 * participant's prepare (it casts its own vote) and is answered with the vote chosen; a decide tells
 * it the outcome. Both are idempotent, as the `Participant` interface is. A coordinator without the
 * cluster's token, or of another cluster (`clusterId`), is refused before anything (grpc-serving.ts).
 */
import { type ListeningServer, type SessionServeOptions, admission, bindServer, newServer, shutdownServer } from "../../../wor/node/grpc-serving.ts";
import { RequestSessions } from "../../../wor/node/request-session.ts";
import type { TxnFailure, TxnResult } from "../core/steps.ts";
import { type DecodedTxnRequestFrame, type TxnReplyFrame, decodeRequests, encodeReplies, replyFrameBytes } from "../wire/codec.ts";
import { type ParticipantHandlers, ParticipantService } from "../wire/service.ts";
import type { Participant } from "./participant.ts";

export interface ParticipantServerOptions extends SessionServeOptions {
  readonly participant: Participant;
}

export type ParticipantServer = ListeningServer;

const failure = (code: TxnFailure["code"], message: string): TxnResult<never> => ({ ok: false, failure: { code, message } });

/** The participant service (its definition and handlers), to serve on a server of one's own or
 *  beside other services (a KV node serves its partition's); `shutdown` ends its sessions. */
export function participantService(o: ParticipantServerOptions): { readonly definition: typeof ParticipantService; readonly handlers: ParticipantHandlers; shutdown(closeServer: () => Promise<void>): Promise<void> } {
  const admit = admission(o, "participant");
  const sessions = new RequestSessions<DecodedTxnRequestFrame, TxnReplyFrame>(o.budget);
  const p = o.participant;
  /** A request's reply now (it failed validation), or the work that answers it. */
  const handle = (f: DecodedTxnRequestFrame): TxnReplyFrame | (() => Promise<TxnReplyFrame>) => {
    if (f.kind === "invalid") return { id: f.id, reply: failure(f.error.code === "tooLarge" ? "tooLarge" : "invalid", f.error.message) };
    const internal = (e: unknown): TxnReplyFrame => ({ id: f.id, reply: failure("internal", (e as Error).message) });
    if (f.kind === "prepare") return () => p.prepare(f.prepare).then((reply) => ({ id: f.id, reply }), internal);
    const { space, txn, outcome } = f.decide;
    return () => (outcome === "committed" ? p.commit(space, txn) : p.abort(space, txn)).then(() => ({ id: f.id, reply: { ok: true, value: undefined } }), internal);
  };
  const handlers: ParticipantHandlers = {
    session(call) {
      const refused = admit(call.metadata);
      if (refused) return void call.emit("error", refused);
      sessions.serve(call, {
        decode: decodeRequests,
        unreadable: (e) => ({ id: 0, reply: failure("invalid", e.message) }),
        handle,
        busy: (f, n, limit) => ({ id: f.id, reply: failure("unavailable", `${n} requests in flight on this session (limit ${limit})`) }),
        encode: encodeReplies,
        replyBytes: replyFrameBytes,
        queuedFramesMax: o.queuedFramesMax,
      });
    },
  };
  return { definition: ParticipantService, handlers, shutdown: (closeServer) => sessions.shutdown(closeServer) };
}

export async function startParticipantServer(o: ParticipantServerOptions): Promise<ParticipantServer> {
  const server = newServer();
  const service = participantService(o);
  server.addService(service.definition, service.handlers);
  const port = await bindServer(server, o);
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () => (closing ??= service.shutdown(() => shutdownServer(server))),
  };
}
