/**
 * The Sequencer gRPC service (proto/wormspace/v1/sequencer.proto), hand-written over raw bytes like
 * the Acceptor's (wor/wire/service.ts): grpc-js only moves buffers; bytes become domain values in
 * apps/log/wire/codec.ts alone. Use CHANNEL_OPTIONS on both ends.
 */
import * as grpc from "@grpc/grpc-js";
import { type UnaryCallback, rawMethod } from "../../../proto/grpc-raw.ts";

const SEQUENCER_SERVICE_NAME = "wormspace.v1.Sequencer";

const SEQUENCER_METHOD_PATHS = Object.freeze({
  session: `/${SEQUENCER_SERVICE_NAME}/Session`,
  status: `/${SEQUENCER_SERVICE_NAME}/Status`,
});

export interface SequencerHandlers extends grpc.UntypedServiceImplementation {
  /** GrantRequestEnvelope bytes in, GrantReplyEnvelope bytes out. */
  session: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
  /** SequencerStatusRequest bytes in, SequencerStatus bytes out. */
  status: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
}

export const SequencerService: grpc.ServiceDefinition<SequencerHandlers> = {
  session: rawMethod(SEQUENCER_METHOD_PATHS.session, "Session", true),
  status: rawMethod(SEQUENCER_METHOD_PATHS.status, "Status", false),
};

export interface SequencerClient extends grpc.Client {
  session(metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  status(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
}

export interface SequencerClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ChannelOptions>): SequencerClient;
}

export const makeSequencerClient = grpc.makeGenericClientConstructor(SequencerService, SEQUENCER_SERVICE_NAME) as unknown as SequencerClientConstructor;
