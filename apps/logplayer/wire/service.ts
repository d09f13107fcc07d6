/**
 * The Shard gRPC service (proto/wormspace/v1/logplayer.proto), hand-written over raw bytes like the
 * Acceptor's and the Sequencer's: grpc-js only moves buffers; bytes become domain values in
 * apps/logplayer/wire/codec.ts alone. Use CHANNEL_OPTIONS on both ends.
 */
import * as grpc from "@grpc/grpc-js";
import { type UnaryCallback, rawMethod } from "../../../proto/grpc-raw.ts";

const SHARD_SERVICE_NAME = "wormspace.v1.Shard";

export interface ShardHandlers extends grpc.UntypedServiceImplementation {
  /** DeliveryFrame bytes in, DeliveryReply bytes out, one per message. */
  deliver: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
  /** ShardReadRequest bytes in, ShardRows bytes out. */
  read: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** ShardStatusRequest bytes in, ShardStatus bytes out. */
  status: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
}

export const ShardService: grpc.ServiceDefinition<ShardHandlers> = {
  deliver: rawMethod(`/${SHARD_SERVICE_NAME}/Deliver`, "Deliver", true),
  read: rawMethod(`/${SHARD_SERVICE_NAME}/Read`, "Read", false),
  status: rawMethod(`/${SHARD_SERVICE_NAME}/Status`, "Status", false),
};

export interface ShardClient extends grpc.Client {
  deliver(metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  read(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
  status(request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback): grpc.ClientUnaryCall;
}

interface ShardClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ChannelOptions>): ShardClient;
}

export const makeShardClient = grpc.makeGenericClientConstructor(ShardService, SHARD_SERVICE_NAME) as unknown as ShardClientConstructor;
