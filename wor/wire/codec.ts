/**
 * The gateway (docs/ARCHITECTURE.md §7.5): the only place bytes become domain values. Every decode returns
 * `Decoded<T>`: malformed, oversized or invalid input is a `CodecError` value, never an exception.
 * Decoded byte values are fresh copies, never views of the transport's buffer.
 */
export { encodeClientFrames, decodeClientFrames } from "./codec-request.ts";
export { encodeServerFrames, decodeServerFrames } from "./codec-reply.ts";
export {
  encodeStatusRequest,
  decodeStatusRequest,
  encodeStatus,
  decodeStatus,
  encodeInspectRequest,
  decodeInspectRequest,
  encodeInspectReply,
  decodeInspectReply,
  encodeReconfigureRequest,
  decodeReconfigureRequest,
  encodeReconfigureReply,
  decodeReconfigureReply,
  encodeActivateRequest,
  decodeActivateRequest,
  encodeBlocksRequest,
  decodeBlocksRequest,
  encodeBlocksReply,
  decodeBlocksReply,
} from "./codec-admin.ts";
export type { ClientFrame, ServerFrame, DecodedClientFrame } from "../core/frames.ts";
export type { CodecError, Decoded } from "../../proto/codec-kernel.ts";
