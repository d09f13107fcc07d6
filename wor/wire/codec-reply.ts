/**
 * Acceptor → client: ServerEnvelope bytes ⇄ validated ServerFrames (the client side of the gateway).
 *
 * A client does not trust a malformed server: any frame that fails to parse or validate fails the
 * whole envelope (there is no per-frame "invalid" for replies; the session treats it as a fault).
 */
import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { LIMITS } from "../../paxos/limits.ts";
import type { ErrorCode, Refusal, ReportedAddress, Reply } from "../../paxos/messages.ts";
import { unreachable } from "../../verify/runtime/assert.ts";
import { type Decoded, count, decodeStrictEnvelope, reject, writeEnvelope } from "../../proto/codec-kernel.ts";
import type { ServerFrame } from "../core/frames.ts";
import * as pb from "../../proto/gen/wormspace/v1/acceptor.ts";
import { ballot, rangePromises, reportedAddresses, space, copyRegisterValue } from "./codec-domain.ts";

const ERROR_CODE_TO_PB: { readonly [K in ErrorCode]: pb.ErrorCode } = {
  unknownSpace: pb.ErrorCode.ERROR_CODE_UNKNOWN_SPACE,
  invalid: pb.ErrorCode.ERROR_CODE_INVALID,
  tooLarge: pb.ErrorCode.ERROR_CODE_TOO_LARGE,
  notReady: pb.ErrorCode.ERROR_CODE_NOT_READY,
  unauthenticated: pb.ErrorCode.ERROR_CODE_UNAUTHENTICATED,
  internal: pb.ErrorCode.ERROR_CODE_INTERNAL,
};

const ERROR_CODE_FROM_PB = new Map<number, ErrorCode>(
  (Object.keys(ERROR_CODE_TO_PB) as ErrorCode[]).map((k) => [ERROR_CODE_TO_PB[k], k]),
);

// ---- encode ----

function replyToPb(r: Reply): pb.Reply {
  switch (r.kind) {
    case "promise":
      // Reported addresses and refusals have the wire shape; encode reads them as they are.
      return { kind: { $case: "promise", value: { ballot: r.ballot, accepted: r.accepted as ReportedAddress[] } } };
    case "prepareRejected":
      return { kind: { $case: "prepareRejected", value: { promised: r.promised } } };
    case "voted":
      return { kind: { $case: "voted", value: { ballot: r.ballot, refused: r.refused as Refusal[] } } };
    case "committed":
      return { kind: { $case: "committed", value: {} } };
    case "states":
      return {
        kind: {
          $case: "states",
          value: { trimMark: r.trimMark, addresses: r.addresses as ReportedAddress[], ranges: r.ranges as pb.RangePromise[] },
        },
      };
    case "trimmed":
      return { kind: { $case: "trimmed", value: { mark: r.mark } } };
    case "spaceCreated":
      return { kind: { $case: "spaceCreated", value: {} } };
    case "installed":
      return { kind: { $case: "installed", value: {} } };
    case "error":
      return { kind: { $case: "error", value: { code: ERROR_CODE_TO_PB[r.code], message: r.message } } };
    default:
      return unreachable(r, "reply kind");
  }
}

function serverFrameToPb(f: ServerFrame): pb.ServerFrame {
  switch (f.kind) {
    case "reply":
      return { id: f.id, kind: { $case: "reply", value: replyToPb(f.reply) } };
    case "learned":
      return { id: f.id, kind: { $case: "learned", value: { space: f.space, index: f.index, ballot: f.ballot, value: f.value } } };
    case "accepted":
      return { id: f.id, kind: { $case: "accepted", value: { space: f.space, index: f.index, ballot: f.ballot, value: f.value } } };
    default:
      return unreachable(f, "server frame kind");
  }
}

function writeServerFrame(f: ServerFrame, w: BinaryWriter): void {
  pb.ServerFrame.encode(serverFrameToPb(f), w);
}

/** Encode one batch. Domain values are trusted (they come from inside); the peer validates. */
export function encodeServerFrames(frames: readonly ServerFrame[]): Uint8Array {
  return writeEnvelope(frames, writeServerFrame);
}

// ---- decode ----

function refusals(list: readonly pb.Refusal[]): Refusal[] {
  count(list.length, LIMITS.entriesMax, "voted: refusals");
  const out: Refusal[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    const promised = ballot(r.promised, "refusal");
    out[i] =
      r.chosen === undefined
        ? { index: r.index, promised, trimmed: r.trimmed }
        : { index: r.index, promised, trimmed: r.trimmed, chosen: copyRegisterValue(r.chosen, "refusal: chosen value") };
  }
  return out;
}

function toReply(r: pb.Reply): Reply {
  const k = r.kind;
  if (k === undefined) reject("invalid", "reply: no outcome set");
  switch (k.$case) {
    case "promise":
      return {
        kind: "promise",
        ballot: ballot(k.value.ballot, "promise"),
        accepted: reportedAddresses(k.value.accepted, LIMITS.rangeMax, "promise: accepted"),
      };
    case "prepareRejected":
      return { kind: "prepareRejected", promised: ballot(k.value.promised, "prepareRejected") };
    case "voted":
      return { kind: "voted", ballot: ballot(k.value.ballot, "voted"), refused: refusals(k.value.refused) };
    case "committed":
      return { kind: "committed" };
    case "states":
      return {
        kind: "states",
        trimMark: k.value.trimMark,
        addresses: reportedAddresses(k.value.addresses, LIMITS.rangeMax, "states: addresses"),
        ranges: rangePromises(k.value.ranges, "states: ranges"),
      };
    case "trimmed":
      return { kind: "trimmed", mark: k.value.mark };
    case "spaceCreated":
      return { kind: "spaceCreated" };
    case "installed":
      return { kind: "installed" };
    case "error": {
      const code = ERROR_CODE_FROM_PB.get(k.value.code);
      if (code === undefined) reject("invalid", `error: unknown code ${k.value.code}`);
      return { kind: "error", code, message: k.value.message };
    }
  }
}

function toServerFrame(f: pb.ServerFrame): ServerFrame {
  const k = f.kind;
  if (k === undefined) reject("invalid", `frame ${f.id}: no reply, learned or accepted value set`);
  switch (k.$case) {
    case "reply":
      return { id: f.id, kind: "reply", reply: toReply(k.value) };
    case "learned": {
      const v = k.value;
      const value = v.value === undefined ? undefined : copyRegisterValue(v.value, "learned value");
      return { id: f.id, kind: "learned", space: space(v.space, "learned"), index: v.index, ballot: ballot(v.ballot, "learned"), value };
    }
    case "accepted": {
      const v = k.value;
      return { id: f.id, kind: "accepted", space: space(v.space, "accepted"), index: v.index, ballot: ballot(v.ballot, "accepted"), value: copyRegisterValue(v.value, "accepted value") };
    }
  }
}

/** Decode one batch; any broken or invalid frame fails it. */
export const decodeServerFrames = (bytes: Uint8Array): Decoded<ServerFrame[]> => decodeStrictEnvelope(bytes, pb.ServerFrame, toServerFrame);
