/**
 * The participant service's gateway (docs/ARCHITECTURE.md §4.3): the Session stream's envelopes
 * (TxnRequestEnvelope / TxnReplyEnvelope: prepares and decides, votes, decides taken and failures,
 * by id) ⇄ apps/txn/core values. Same rules as the other gateways
 * (proto/README.md): every decode returns `Decoded<T>`, nothing throws out of it; encoders trust
 * domain values.
 *
 * Validation: spaces are user space names; transaction numbers and indexes exact integers, an index
 * below `TXN_LIMITS.participantsMax`; the record at most `recordBytesMax` bytes, the payload at
 * most `payloadBytesMax`; a vote is a register value (decoded by `decodeVote`, which reads anything
 * that is not a well-formed YES as NO; a NO's reason crosses as it is in the vote's bytes); failure
 * codes are known.
 */
import { isUserSpaceName, LIMITS } from "../../../paxos/limits.ts";
import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CodecError, type Decoded, copyValue, decodeLenientEnvelope, decodeStrictEnvelope, reject, writeEnvelope } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/txn.ts";
import type { Outcome } from "../core/outcome.ts";
import { TXN_LIMITS, type Vote, decodeVote, encodeVote } from "../core/record.ts";
import type { PrepareRequest, TxnFailure, TxnResult } from "../core/steps.ts";

const FAILURE_CODE_TO_PB: { readonly [K in TxnFailure["code"]]: pb.TxnFailureCode } = {
  timeout: pb.TxnFailureCode.TXN_FAILURE_CODE_TIMEOUT,
  unavailable: pb.TxnFailureCode.TXN_FAILURE_CODE_UNAVAILABLE,
  unknownSpace: pb.TxnFailureCode.TXN_FAILURE_CODE_UNKNOWN_SPACE,
  invalid: pb.TxnFailureCode.TXN_FAILURE_CODE_INVALID,
  tooLarge: pb.TxnFailureCode.TXN_FAILURE_CODE_TOO_LARGE,
  notReady: pb.TxnFailureCode.TXN_FAILURE_CODE_NOT_READY,
  unauthenticated: pb.TxnFailureCode.TXN_FAILURE_CODE_UNAUTHENTICATED,
  contended: pb.TxnFailureCode.TXN_FAILURE_CODE_CONTENDED,
  wrongKind: pb.TxnFailureCode.TXN_FAILURE_CODE_WRONG_KIND,
  internal: pb.TxnFailureCode.TXN_FAILURE_CODE_INTERNAL,
  unknownTxn: pb.TxnFailureCode.TXN_FAILURE_CODE_UNKNOWN_TXN,
  corrupt: pb.TxnFailureCode.TXN_FAILURE_CODE_CORRUPT,
};

const FAILURE_CODE_FROM_PB = new Map<number, TxnFailure["code"]>((Object.keys(FAILURE_CODE_TO_PB) as TxnFailure["code"][]).map((k) => [FAILURE_CODE_TO_PB[k], k]));

/** Bytes of a failure message kept. */
const FAILURE_MESSAGE_CHARS_MAX = 1_000;

function spaceName(name: string): string {
  if (!isUserSpaceName(name)) reject("invalid", `invalid transaction space ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

function txnNumber(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) reject("invalid", `invalid transaction number ${n}`);
  return n;
}

// ---- the Session stream: requests and replies ----

export interface DecideRequest {
  readonly space: string;
  readonly txn: number;
  readonly outcome: Outcome;
}

/** A coordinator's request on its Session stream; `id` is unique on the stream (never 0). */
export type TxnRequestFrame = { readonly id: number } & ({ readonly kind: "prepare"; readonly prepare: PrepareRequest } | { readonly kind: "decide"; readonly decide: DecideRequest });

/** A request frame that failed validation keeps its id, so the participant answers it alone. */
export type DecodedTxnRequestFrame = TxnRequestFrame | { readonly id: number; readonly kind: "invalid"; readonly error: CodecError };

/** The answer to request `id`: a prepare's vote, `undefined` for a decide taken, or a failure (id 0:
 *  an envelope the participant could not read). */
export interface TxnReplyFrame {
  readonly id: number;
  readonly reply: TxnResult<Vote | undefined>;
}

function writeRequest(f: TxnRequestFrame, w: BinaryWriter): void {
  const kind: pb.TxnRequest["kind"] =
    f.kind === "prepare" ? { $case: "prepare", value: { ...f.prepare } } : { $case: "decide", value: { space: f.decide.space, txn: f.decide.txn, committed: f.decide.outcome === "committed" } };
  pb.TxnRequest.encode({ id: f.id, kind }, w);
}

function prepareFromPb(m: pb.TxnPrepareRequest): PrepareRequest {
  if (m.index >= TXN_LIMITS.participantsMax) reject("invalid", `participant index ${m.index} is not below ${TXN_LIMITS.participantsMax}`);
  return {
    space: spaceName(m.space),
    txn: txnNumber(m.txn),
    index: m.index,
    record: copyValue(m.record, TXN_LIMITS.recordBytesMax, "record"),
    payload: copyValue(m.payload, TXN_LIMITS.payloadBytesMax, "payload"),
  };
}

function requestFromPb(m: pb.TxnRequest): TxnRequestFrame {
  if (m.id === 0) reject("invalid", "a request of id 0");
  const k = m.kind;
  if (k === undefined) return reject("invalid", "a request that neither prepares nor decides");
  if (k.$case === "prepare") return { id: m.id, kind: "prepare", prepare: prepareFromPb(k.value) };
  return { id: m.id, kind: "decide", decide: { space: spaceName(k.value.space), txn: txnNumber(k.value.txn), outcome: k.value.committed ? "committed" : "aborted" } };
}

export const encodeRequests = (frames: readonly TxnRequestFrame[]): Uint8Array => writeEnvelope(frames, writeRequest);
/** One entry per frame, invalid frames included (with their ids); `{ok: false}` for a broken envelope. */
export const decodeRequests = (bytes: Uint8Array): Decoded<DecodedTxnRequestFrame[]> =>
  decodeLenientEnvelope<pb.TxnRequest, DecodedTxnRequestFrame>(bytes, pb.TxnRequest, requestFromPb, (id, error) => ({ id, kind: "invalid", error }));

function replyToPb(r: TxnResult<Vote | undefined>): pb.TxnReplyFrame["result"] {
  if (!r.ok) return { $case: "failure", value: { code: FAILURE_CODE_TO_PB[r.failure.code], message: r.failure.message.slice(0, FAILURE_MESSAGE_CHARS_MAX) } };
  return r.value === undefined ? { $case: "decided", value: {} } : { $case: "vote", value: { value: encodeVote(r.value) } };
}

function replyFromPb(m: pb.TxnReplyFrame): TxnResult<Vote | undefined> {
  const r = m.result;
  if (r === undefined) return reject("malformed", "a reply that holds neither a vote, a decide taken nor a failure");
  if (r.$case === "vote") return { ok: true, value: decodeVote(copyValue(r.value.value, LIMITS.valueBytesMax, "vote")) };
  if (r.$case === "decided") return { ok: true, value: undefined };
  const code = FAILURE_CODE_FROM_PB.get(r.value.code);
  if (!code) return reject("invalid", `unknown failure code ${r.value.code}`);
  return { ok: false, failure: { code, message: r.value.message.slice(0, FAILURE_MESSAGE_CHARS_MAX) } };
}

export const encodeReplies = (frames: readonly TxnReplyFrame[]): Uint8Array => writeEnvelope(frames, (f, w) => pb.TxnReplyFrame.encode({ id: f.id, result: replyToPb(f.reply) }, w));
/** All or nothing: a coordinator does not trust a participant that sends a malformed frame. */
export const decodeReplies = (bytes: Uint8Array): Decoded<TxnReplyFrame[]> => decodeStrictEnvelope(bytes, pb.TxnReplyFrame, (m) => ({ id: m.id, reply: replyFromPb(m) }));

/** A vote's encoded size, at most (encodeVote: a tag, a name's length and its UTF-8, a record's length; a NO's reason). */
const encodedVoteBytes = (v: Vote): number =>
  4 + 3 * (v.participant?.length ?? 0) + (v.kind === "yes" ? v.record.byteLength + v.payload.byteLength : Math.min(3 * (v.reason?.length ?? 0), TXN_LIMITS.reasonBytesMax));

/** An upper-ish estimate of a reply frame's encoded size (the session budget counts queued replies by it). */
export const replyFrameBytes = (f: TxnReplyFrame): number =>
  32 + (!f.reply.ok ? 3 * f.reply.failure.message.length : f.reply.value === undefined ? 0 : encodedVoteBytes(f.reply.value));


/** An upper-ish estimate of a request frame's encoded size (the writer picks an envelope's frames by it). */
export const requestFrameBytes = (f: TxnRequestFrame): number =>
  32 + (f.kind === "prepare" ? 3 * f.prepare.space.length + f.prepare.record.byteLength + f.prepare.payload.byteLength : 3 * f.decide.space.length);
