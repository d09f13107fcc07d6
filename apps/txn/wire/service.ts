/**
 * The Participant gRPC service (proto/wormspace/v1/txn.proto), hand-written over raw bytes like the
 * Acceptor's and the Sequencer's: grpc-js only moves buffers; bytes become domain values in
 * apps/txn/wire/codec.ts alone. Use CHANNEL_OPTIONS on both ends.
 */
import * as grpc from "@grpc/grpc-js";
import { type UnaryCallback, rawMethod } from "../../../proto/grpc-raw.ts";

const PARTICIPANT_SERVICE_NAME = "wormspace.v1.Participant";

export interface ParticipantHandlers extends grpc.UntypedServiceImplementation {
  /** TxnPrepareRequest bytes in, TxnPrepareReply bytes out. */
  prepare: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** TxnDecideRequest bytes in, TxnDecideReply bytes out. */
  decide: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
}

export const ParticipantService: grpc.ServiceDefinition<ParticipantHandlers> = {
  prepare: rawMethod(`/${PARTICIPANT_SERVICE_NAME}/Prepare`, "Prepare", false),
  decide: rawMethod(`/${PARTICIPANT_SERVICE_NAME}/Decide`, "Decide", false),
};

export interface ParticipantClient extends grpc.Client {
  prepare(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
  decide(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
}

interface ParticipantClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ChannelOptions>): ParticipantClient;
}

export const makeParticipantClient = grpc.makeGenericClientConstructor(ParticipantService, PARTICIPANT_SERVICE_NAME) as unknown as ParticipantClientConstructor;
