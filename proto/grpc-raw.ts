/**
 * Services over raw bytes (docs/ARCHITECTURE.md §3.3): every WormSpace gRPC service is declared by
 * hand with identity (de)serializers, so grpc-js only moves buffers and bytes become domain values
 * in a gateway's codec alone; malformed input can never throw inside grpc-js and kill a stream.
 */
import type * as grpc from "@grpc/grpc-js";
import { WIRE_LIMITS } from "./limits.ts";

/** A view of the same bytes as a Buffer (no copy). */
const serialize = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
/** Identity: the codec copies what it keeps. */
const deserialize = (b: Buffer): Uint8Array => b;

/** A method over raw bytes (both directions streaming, or both unary; or unary in and a stream out: `responseStreaming`). */
export function rawMethod(path: string, originalName: string, streaming: boolean, responseStreaming = streaming): grpc.MethodDefinition<Uint8Array, Uint8Array> {
  return {
    path,
    originalName,
    requestStream: streaming,
    responseStream: responseStreaming,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
  };
}

export type UnaryCallback = (err: grpc.ServiceError | null, value?: Uint8Array) => void;

/**
 * Channel and server options both ends of every service need: grpc-js caps received messages at
 * 4 MiB by default, below an envelope's limit. The codecs still enforce WIRE_LIMITS themselves.
 */
export const CHANNEL_OPTIONS: Readonly<grpc.ChannelOptions> = Object.freeze({
  "grpc.max_receive_message_length": WIRE_LIMITS.envelopeBytesMax + 1024,
  "grpc.max_send_message_length": WIRE_LIMITS.envelopeBytesMax + 1024,
});
