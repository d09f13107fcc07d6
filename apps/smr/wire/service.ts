/**
 * The Smr gRPC service (proto/wormspace/v1/smr.proto), over raw bytes like the acceptor's and the
 * sequencer's: grpc-js only moves buffers; bytes become domain values in ./codec.ts alone. Use
 * CHANNEL_OPTIONS on both ends.
 */
import * as grpc from "@grpc/grpc-js";
import { type UnaryCallback, rawMethod } from "../../../proto/grpc-raw.ts";

const SERVICE = "wormspace.v1.Smr";

export interface SmrHandlers extends grpc.UntypedServiceImplementation {
  /** SmrRequestEnvelope bytes in, SmrReplyEnvelope bytes out. */
  session: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
  status: grpc.handleUnaryCall<Uint8Array, Uint8Array>;
  /** One SmrFetchRequest in, SmrSnapshotChunk messages out. */
  fetchSnapshot: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
  /** SmrPeerEnvelope messages in; nothing out. */
  peer: grpc.handleBidiStreamingCall<Uint8Array, Uint8Array>;
}

export const SmrService: grpc.ServiceDefinition<SmrHandlers> = {
  session: rawMethod(`/${SERVICE}/Session`, "Session", true),
  status: rawMethod(`/${SERVICE}/Status`, "Status", false),
  fetchSnapshot: rawMethod(`/${SERVICE}/FetchSnapshot`, "FetchSnapshot", true),
  peer: rawMethod(`/${SERVICE}/Peer`, "Peer", true),
};

type Unary = (request: Uint8Array, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback) => grpc.ClientUnaryCall;
type Duplex = (metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>) => grpc.ClientDuplexStream<Uint8Array, Uint8Array>;

export interface SmrClientStub extends grpc.Client {
  session: Duplex;
  status: Unary;
  fetchSnapshot: Duplex;
  peer: Duplex;
}

export const makeSmrClient = grpc.makeGenericClientConstructor(SmrService, SERVICE) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ChannelOptions>,
) => SmrClientStub;
