/**
 * The Participant gRPC service (proto/wormspace/v1/txn.proto), hand-written over raw bytes like the
 * Acceptor's and the Sequencer's: grpc-js only moves buffers; bytes become domain values in
 * apps/txn/wire/codec.ts alone. Use CHANNEL_OPTIONS on both ends.
 */
import * as grpc from "@grpc/grpc-js";
import { rawMethod } from "../../../proto/grpc-raw.ts";

const PARTICIPANT_SERVICE_NAME = "wormspace.v1.Participant";

export interface ParticipantHandlers extends grpc.UntypedServiceImplementation {
  /** TxnRequestEnvelope bytes in, TxnReplyEnvelope bytes out. */
  session: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
}

export const ParticipantService: grpc.ServiceDefinition<ParticipantHandlers> = {
  session: rawMethod(`/${PARTICIPANT_SERVICE_NAME}/Session`, "Session", true),
};

export interface ParticipantClient extends grpc.Client {
  session(metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
}

interface ParticipantClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ChannelOptions>): ParticipantClient;
}

export const makeParticipantClient = grpc.makeGenericClientConstructor(ParticipantService, PARTICIPANT_SERVICE_NAME) as unknown as ParticipantClientConstructor;
