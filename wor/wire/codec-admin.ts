/**
 * Admin (unary) calls: bytes ⇄ validated wor/wire/admin.ts types. Not on the hot path.
 */
import { LIMITS } from "../../paxos/limits.ts";
import type { AcceptorStatus, BlocksReply, BlocksRequest, InspectReply, InspectRequest, SpaceSummary, StatusRequest } from "./admin.ts";
import { type Configuration, decodeConfiguration, encodeConfiguration } from "../core/configuration.ts";
import { type Decoded, decodeMessage, reject } from "../../proto/codec-kernel.ts";
import * as pb from "../../proto/gen/wormspace/v1/acceptor.ts";
import { range, rangePromises, reportedAddresses, space } from "./codec-domain.ts";

// ---- status ----

export const encodeStatusRequest = (_request: StatusRequest = {}): Uint8Array => pb.StatusRequest.encode({}).finish();

export const decodeStatusRequest = (bytes: Uint8Array): Decoded<StatusRequest> =>
  decodeMessage(bytes, pb.StatusRequest, (): StatusRequest => ({}));

export const encodeStatus = (s: AcceptorStatus): Uint8Array =>
  pb.AcceptorStatus.encode({
    acceptorId: s.acceptorId,
    clusterId: s.clusterId,
    version: s.version,
    spaces: s.spaces as SpaceSummary[],
    configuration: s.configuration ? encodeConfiguration(s.configuration) : new Uint8Array(),
    joining: s.joining,
  }).finish();

function summary(s: pb.SpaceSummary): SpaceSummary {
  if (s.highestAccepted < -1) reject("invalid", `status: highestAccepted ${s.highestAccepted} below -1`);
  return {
    name: space(s.name, "status"),
    trimMark: s.trimMark,
    addresses: s.addresses,
    ranges: s.ranges,
    highestAccepted: s.highestAccepted,
  };
}

const toStatus = (s: pb.AcceptorStatus): AcceptorStatus => ({
  acceptorId: s.acceptorId,
  clusterId: s.clusterId,
  version: s.version,
  spaces: s.spaces.map(summary),
  ...(s.configuration.byteLength > 0 ? { configuration: configuration(s.configuration, "status") } : {}),
  joining: s.joining,
});

/** Configuration bytes (wor/core/configuration.ts), or a rejection naming `where`. */
function configuration(bytes: Uint8Array, where: string): Configuration {
  const c = decodeConfiguration(bytes);
  if (!c.ok) reject("invalid", `${where}: ${c.error}`);
  return c.value;
}

export const decodeStatus = (bytes: Uint8Array): Decoded<AcceptorStatus> => decodeMessage(bytes, pb.AcceptorStatus, toStatus);

// ---- inspect ----

export const encodeInspectRequest = (r: InspectRequest): Uint8Array =>
  pb.InspectRequest.encode({ space: r.space, from: r.from, to: r.to }).finish();

function toInspectRequest(r: pb.InspectRequest): InspectRequest {
  range(r.from, r.to, "inspect");
  return { space: space(r.space, "inspect"), from: r.from, to: r.to };
}

export const decodeInspectRequest = (bytes: Uint8Array): Decoded<InspectRequest> =>
  decodeMessage(bytes, pb.InspectRequest, toInspectRequest);

export const encodeInspectReply = (r: InspectReply): Uint8Array =>
  pb.InspectReply.encode({
    trimMark: r.trimMark,
    addresses: r.addresses as pb.ReportedAddress[],
    ranges: r.ranges as pb.RangePromise[],
  }).finish();

const toInspectReply = (r: pb.InspectReply): InspectReply => ({
  trimMark: r.trimMark,
  addresses: reportedAddresses(r.addresses, LIMITS.rangeMax, "inspect: addresses"),
  ranges: rangePromises(r.ranges, "inspect: ranges"),
});

export const decodeInspectReply = (bytes: Uint8Array): Decoded<InspectReply> => decodeMessage(bytes, pb.InspectReply, toInspectReply);

// ---- reconfiguration ----

export const encodeReconfigureRequest = (c: Configuration): Uint8Array => pb.ReconfigureRequest.encode({ configuration: encodeConfiguration(c) }).finish();

export const decodeReconfigureRequest = (bytes: Uint8Array): Decoded<Configuration> =>
  decodeMessage(bytes, pb.ReconfigureRequest, (r) => configuration(r.configuration, "reconfigure"));

export const encodeReconfigureReply = (adopted: boolean): Uint8Array => pb.ReconfigureReply.encode({ adopted }).finish();

export const decodeReconfigureReply = (bytes: Uint8Array): Decoded<boolean> => decodeMessage(bytes, pb.ReconfigureReply, (r) => r.adopted);

export const encodeActivateRequest = (): Uint8Array => pb.ActivateRequest.encode({}).finish();

export const decodeActivateRequest = (bytes: Uint8Array): Decoded<Record<string, never>> => decodeMessage(bytes, pb.ActivateRequest, () => ({}));

/** Blocks one call lists at most. */
export const BLOCKS_MAX = 4_096;

export const encodeBlocksRequest = (r: BlocksRequest): Uint8Array => pb.BlocksRequest.encode({ space: r.space, fromBlock: r.fromBlock, max: r.max }).finish();

export const decodeBlocksRequest = (bytes: Uint8Array): Decoded<BlocksRequest> =>
  decodeMessage(bytes, pb.BlocksRequest, (r) => {
    if (r.max < 1 || r.max > BLOCKS_MAX) reject("invalid", `blocks: max must be from 1 to ${BLOCKS_MAX} (got ${r.max})`);
    return { space: space(r.space, "blocks"), fromBlock: r.fromBlock, max: r.max };
  });

export const encodeBlocksReply = (r: BlocksReply): Uint8Array =>
  pb.BlocksReply.encode({ blocks: r.blocks as number[], trimMark: r.trimMark, ranges: r.ranges as pb.RangePromise[], blockSize: r.blockSize }).finish();

export const decodeBlocksReply = (bytes: Uint8Array): Decoded<BlocksReply> =>
  decodeMessage(bytes, pb.BlocksReply, (r) => {
    if (r.blockSize < 1) reject("invalid", "blocks: no block size");
    return { blocks: r.blocks, blockSize: r.blockSize, trimMark: r.trimMark, ranges: rangePromises(r.ranges, "blocks: ranges") };
  });
