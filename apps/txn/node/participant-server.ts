/**
 * A participant served over gRPC (proto/wormspace/v1/txn.proto): a coordinator in another process
 * reaches it with `remoteParticipants` (remote-participants.ts). Prepare runs the participant's
 * prepare (it casts its own vote) and answers with the vote chosen; Decide tells it the outcome.
 * Both are idempotent, as the `Participant` interface is.
 */
import * as grpc from "@grpc/grpc-js";
import { type ListeningServer, type ServeOptions, bindServer, newServer, shutdownServer, statusError, tokenCheck, unauthenticated } from "../../../wor/node/grpc-serving.ts";
import { decodeDecideRequest, decodePrepareRequest, encodeDecideReply, encodePrepareReply } from "../wire/codec.ts";
import { type ParticipantHandlers, ParticipantService } from "../wire/service.ts";
import type { Participant } from "./participant.ts";

export interface ParticipantServerOptions extends ServeOptions {
  readonly participant: Participant;
}

export type ParticipantServer = ListeningServer;

export async function startParticipantServer(o: ParticipantServerOptions): Promise<ParticipantServer> {
  const server = newServer();
  const authorized = tokenCheck(o.token);
  const handlers: ParticipantHandlers = {
    prepare(call, callback) {
      if (!authorized(call.metadata)) return callback(unauthenticated());
      const req = decodePrepareRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      o.participant.prepare(req.value).then(
        (r) => callback(null, encodePrepareReply(r)),
        (e: unknown) => callback(statusError(grpc.status.INTERNAL, (e as Error).message)),
      );
    },
    decide(call, callback) {
      if (!authorized(call.metadata)) return callback(unauthenticated());
      const req = decodeDecideRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      const { space, txn, outcome } = req.value;
      (outcome === "committed" ? o.participant.commit(space, txn) : o.participant.abort(space, txn)).then(
        () => callback(null, encodeDecideReply()),
        (e: unknown) => callback(statusError(grpc.status.INTERNAL, (e as Error).message)),
      );
    },
  };
  server.addService(ParticipantService, handlers);
  const port = await bindServer(server, o);
  let closing: Promise<void> | undefined;
  return { port, close: () => (closing ??= shutdownServer(server)) };
}
