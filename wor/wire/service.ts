/**
 * The Acceptor gRPC service, hand-written over raw bytes: grpc-js only moves buffers, and bytes
 * become domain values in wor/wire/codec.ts alone (proto/grpc-raw.ts). Deserializers are the identity, so malformed input
 * can never throw inside grpc-js and kill a stream; the handler decodes and answers with a typed error.
 */
import * as grpc from "@grpc/grpc-js";
import { type UnaryCallback, rawMethod } from "../../proto/grpc-raw.ts";

const ACCEPTOR_SERVICE_NAME = "wormspace.v1.Acceptor";

export const ACCEPTOR_METHOD_PATHS = Object.freeze({
  session: `/${ACCEPTOR_SERVICE_NAME}/Session`,
  status: `/${ACCEPTOR_SERVICE_NAME}/Status`,
  inspect: `/${ACCEPTOR_SERVICE_NAME}/Inspect`,
  reconfigure: `/${ACCEPTOR_SERVICE_NAME}/Reconfigure`,
  activate: `/${ACCEPTOR_SERVICE_NAME}/Activate`,
  blocks: `/${ACCEPTOR_SERVICE_NAME}/Blocks`,
});

/** Server handlers: every message is raw bytes, to be passed through wor/wire/codec.ts. */
export interface AcceptorHandlers extends grpc.UntypedServiceImplementation {
  /** ClientEnvelope bytes in, ServerEnvelope bytes out. */
  session: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
  /** StatusRequest bytes in, AcceptorStatus bytes out. */
  status: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** InspectRequest bytes in, InspectReply bytes out. */
  inspect: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** ReconfigureRequest bytes in, ReconfigureReply bytes out. */
  reconfigure: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** ActivateRequest bytes in, ReconfigureReply bytes out. */
  activate: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** BlocksRequest bytes in, BlocksReply bytes out. */
  blocks: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
}

export const AcceptorService: grpc.ServiceDefinition<AcceptorHandlers> = {
  session: rawMethod(ACCEPTOR_METHOD_PATHS.session, "Session", true),
  status: rawMethod(ACCEPTOR_METHOD_PATHS.status, "Status", false),
  inspect: rawMethod(ACCEPTOR_METHOD_PATHS.inspect, "Inspect", false),
  reconfigure: rawMethod(ACCEPTOR_METHOD_PATHS.reconfigure, "Reconfigure", false),
  activate: rawMethod(ACCEPTOR_METHOD_PATHS.activate, "Activate", false),
  blocks: rawMethod(ACCEPTOR_METHOD_PATHS.blocks, "Blocks", false),
};


/** The generated client, typed: methods take and give raw bytes. */
export interface AcceptorClient extends grpc.Client {
  session(metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  session(options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  status(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
  status(request: Uint8Array, metadata: grpc.Metadata, callback: UnaryCallback): grpc.ClientUnaryCall;
  status(request: Uint8Array, callback: UnaryCallback): grpc.ClientUnaryCall;
  inspect(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
  inspect(request: Uint8Array, metadata: grpc.Metadata, callback: UnaryCallback): grpc.ClientUnaryCall;
  inspect(request: Uint8Array, callback: UnaryCallback): grpc.ClientUnaryCall;
  reconfigure(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
  activate(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
  blocks(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
}

export interface AcceptorClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ChannelOptions>): AcceptorClient;
  readonly service: grpc.ServiceDefinition;
  readonly serviceName: string;
}

/** `new makeAcceptorClient(address, credentials, { ...CHANNEL_OPTIONS, ...keepalive })`. */
export const makeAcceptorClient = grpc.makeGenericClientConstructor(
  AcceptorService,
  ACCEPTOR_SERVICE_NAME,
) as unknown as AcceptorClientConstructor;
