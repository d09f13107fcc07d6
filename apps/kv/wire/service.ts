/**
 * The Kv gRPC service (proto/wormspace/v1/kv.proto), over raw bytes like the acceptor's and the
 * SMR's: grpc-js only moves buffers; bytes become domain values in ./codec.ts alone. Use
 * CHANNEL_OPTIONS on both ends.
 */
import * as grpc from "@grpc/grpc-js";
import { type UnaryCallback, rawMethod } from "../../../proto/grpc-raw.ts";

const SERVICE = "wormspace.v1.Kv";

export interface KvHandlers extends grpc.UntypedServiceImplementation {
  /** KvRequestEnvelope bytes in, KvReplyEnvelope bytes out. */
  session: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
  /** KvStatusRequest bytes in, KvStatus bytes out. */
  status: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** KvWatchRequest bytes in, KvWatchBatch messages out. */
  watch: grpc.handleServerStreamingCall<Uint8Array, Uint8Array>;
  /** KvSnapshotRequest bytes in, KvSnapshotChunk messages out. */
  snapshot: grpc.handleServerStreamingCall<Uint8Array, Uint8Array>;
}

export const KvService: grpc.ServiceDefinition<KvHandlers> = {
  session: rawMethod(`/${SERVICE}/Session`, "Session", true),
  status: rawMethod(`/${SERVICE}/Status`, "Status", false),
  watch: rawMethod(`/${SERVICE}/Watch`, "Watch", false, true),
  snapshot: rawMethod(`/${SERVICE}/Snapshot`, "Snapshot", false, true),
};

type Unary = (request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback) => grpc.ClientUnaryCall;
type Duplex = (metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>) => grpc.ClientDuplexStream<Uint8Array, Uint8Array>;

type ServerStream = (request: Uint8Array, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>) => grpc.ClientReadableStream<Uint8Array>;

export interface KvClientStub extends grpc.Client {
  session: Duplex;
  status: Unary;
  watch: ServerStream;
  snapshot: ServerStream;
}

export const makeKvClient = grpc.makeGenericClientConstructor(KvService, SERVICE) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ChannelOptions>,
) => KvClientStub;
