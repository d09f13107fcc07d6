/**
 * Client → acceptor: ClientEnvelope bytes ⇄ validated ClientFrames (the acceptor side of the gateway).
 *
 * A frame that parses but fails validation keeps its id and becomes `{ kind: "invalid" }`, so the
 * node answers that frame alone; only a broken envelope fails the whole batch.
 */
import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { LIMITS, isUserSpaceName } from "../../paxos/limits.ts";
import type { Entry, Request } from "../../paxos/messages.ts";
import { unreachable } from "../../verify/runtime/assert.ts";
import { type Decoded, count, decodeLenientEnvelope, reject, writeEnvelope } from "../../proto/codec-kernel.ts";
import type { ClientFrame, DecodedClientFrame } from "../core/frames.ts";
import * as pb from "../../proto/gen/wormspace/v1/acceptor.ts";
import { WireWriter } from "../../proto/wire.ts";
import { ballot, range, rangePromises, reportedAddresses, space, copyRegisterValue } from "./codec-domain.ts";

// ---- encode ----

function requestToPb(r: Request): pb.Request {
  switch (r.kind) {
    case "prepare":
      return { kind: { $case: "prepare", value: { space: r.space, from: r.from, to: r.to, ballot: r.ballot } } };
    case "accept":
      // Domain entries have the wire shape ({index, value}); encode reads them as they are.
      return { kind: { $case: "accept", value: { space: r.space, ballot: r.ballot, entries: r.entries as Entry[] } } };
    case "commit":
      return { kind: { $case: "commit", value: { space: r.space, ballot: r.ballot, indexes: r.indexes as number[] } } };
    case "read":
      return { kind: { $case: "read", value: { space: r.space, from: r.from, to: r.to } } };
    case "trim":
      return { kind: { $case: "trim", value: { space: r.space, below: r.below } } };
    case "createSpace":
      return { kind: { $case: "createSpace", value: { space: r.space } } };
    case "install":
      return { kind: { $case: "install", value: { space: r.space, addresses: r.addresses as pb.ReportedAddress[], ranges: r.ranges as pb.RangePromise[] } } };
    default:
      return unreachable(r, "request kind");
  }
}

function watchFrameToPb(f: Exclude<ClientFrame, { kind: "request" }>): pb.ClientFrame {
  switch (f.kind) {
    case "watch":
      return { id: f.id, kind: { $case: "watch", value: { space: f.space, from: f.from, skipOwn: f.skipOwn === true } } };
    case "unwatch":
      return { id: f.id, kind: { $case: "unwatch", value: { watchId: f.watchId } } };
    default:
      return unreachable(f, "client frame kind");
  }
}

/**
 * A request's encoded body, by identity. A round sends one request object to every acceptor (and
 * again on resends), so it is encoded once, not once per acceptor. Requests are immutable values.
 */
const requestBodies = new WeakMap<Request, Uint8Array>();

function requestBody(r: Request): Uint8Array {
  let body = requestBodies.get(r);
  if (body === undefined) {
    body = pb.Request.encode(requestToPb(r), new WireWriter()).finish();
    requestBodies.set(r, body);
  }
  return body;
}

/** ClientFrame field numbers: id = 1 (varint), request = 2 (length-delimited). */
const ID_TAG = (1 << 3) | 0;
const REQUEST_TAG = (2 << 3) | 2;

function writeClientFrame(f: ClientFrame, w: BinaryWriter): void {
  if (f.kind !== "request") {
    pb.ClientFrame.encode(watchFrameToPb(f), w);
    return;
  }
  // The bytes ts-proto writes for {id, request}: the id unless 0 (proto3 default), then the body.
  if (f.id !== 0) w.uint32(ID_TAG).uint64(f.id);
  w.uint32(REQUEST_TAG).bytes(requestBody(f.request));
}

/** Encode one batch. Domain values are trusted (they come from inside); the peer validates. */
export function encodeClientFrames(frames: readonly ClientFrame[]): Uint8Array {
  return writeEnvelope(frames, writeClientFrame);
}

// ---- decode ----

/** Reuses the decoded entry objects (same shape) after copying their values out of the buffer. */
function entries(list: pb.Entry[]): Entry[] {
  if (list.length === 0) reject("invalid", "accept: needs at least one entry");
  count(list.length, LIMITS.entriesMax, "accept: entries");
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    e.value = copyRegisterValue(e.value, "accept: value");
  }
  return list;
}

function toRequest(r: pb.Request): Request {
  const k = r.kind;
  if (k === undefined) reject("invalid", "request: no operation set");
  switch (k.$case) {
    case "prepare": {
      const v = k.value;
      range(v.from, v.to, "prepare");
      return { kind: "prepare", space: space(v.space, "prepare"), from: v.from, to: v.to, ballot: ballot(v.ballot, "prepare") };
    }
    case "accept": {
      const v = k.value;
      return { kind: "accept", space: space(v.space, "accept"), ballot: ballot(v.ballot, "accept"), entries: entries(v.entries) };
    }
    case "commit": {
      const v = k.value;
      count(v.indexes.length, LIMITS.entriesMax, "commit: indexes");
      return { kind: "commit", space: space(v.space, "commit"), ballot: ballot(v.ballot, "commit"), indexes: v.indexes };
    }
    case "read": {
      const v = k.value;
      range(v.from, v.to, "read");
      return { kind: "read", space: space(v.space, "read"), from: v.from, to: v.to };
    }
    case "trim":
      return { kind: "trim", space: space(k.value.space, "trim"), below: k.value.below };
    case "createSpace": {
      const name = k.value.space;
      if (!isUserSpaceName(name)) reject("invalid", `createSpace: invalid space name ${JSON.stringify(name.slice(0, 80))}`);
      return { kind: "createSpace", space: name };
    }
    case "install": {
      const v = k.value;
      return { kind: "install", space: space(v.space, "install"), addresses: reportedAddresses(v.addresses, LIMITS.entriesMax, "install: addresses"), ranges: rangePromises(v.ranges, "install: ranges") };
    }
  }
}

function toClientFrame(f: pb.ClientFrame): ClientFrame {
  const k = f.kind;
  if (k === undefined) reject("invalid", "frame: no request, watch or unwatch set");
  switch (k.$case) {
    case "request":
      return { id: f.id, kind: "request", request: toRequest(k.value) };
    case "watch":
      return { id: f.id, kind: "watch", space: space(k.value.space, "watch"), from: k.value.from, ...(k.value.skipOwn ? { skipOwn: true } : {}) };
    case "unwatch":
      return { id: f.id, kind: "unwatch", watchId: k.value.watchId };
  }
}

/**
 * Decode one batch. `{ok: false}` when the envelope is too large, holds too many frames or cannot be
 * framed; otherwise one entry per frame, invalid frames included (with their ids).
 */
export const decodeClientFrames = (bytes: Uint8Array): Decoded<DecodedClientFrame[]> =>
  decodeLenientEnvelope<pb.ClientFrame, DecodedClientFrame>(bytes, pb.ClientFrame, toClientFrame, (id, error) => ({ id, kind: "invalid", error }));
