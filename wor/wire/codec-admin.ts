/**
 * Admin (unary) calls: bytes ⇄ validated wor/wire/admin.ts types. Not on the hot path.
 */
import { LIMITS } from "../../paxos/limits.ts";
import type { AcceptorStatus, InspectReply, InspectRequest, SpaceSummary, StatusRequest } from "./admin.ts";
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
});

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
