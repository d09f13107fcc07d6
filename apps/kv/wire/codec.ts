/**
 * The KV's gateway (docs/ARCHITECTURE.md §4.5, §7.5): bytes of proto/wormspace/v1/kv.proto ⇄ the
 * domain values of apps/kv/core/messages.ts, with the rules of every gateway (proto/README.md):
 * decodes return `Decoded<T>` and never throw; byte values decoded are fresh copies; encoders trust
 * domain values. Transactions and their results convert in ./codec-txn.ts.
 *
 * The Session stream carries `KvRequestEnvelope`s (client → node) and `KvReplyEnvelope`s (node →
 * client), framed like the acceptor's envelopes. A request frame that parses but breaks a rule
 * decodes as `{id, kind: "invalid", error}`, so the node answers that frame alone; a broken envelope
 * fails as a whole. Reply envelopes are all or nothing.
 *
 * Validation: request ids are not 0; a write's client id follows the log's rule for an idempotency
 * key's client (1..64 bytes of UTF-8), its seq is an exact integer ≥ 0 (a uint64 beyond 2^53 − 1 is `invalid`) and its
 * transaction passes `txnProblem`; a read's range follows a range op's rules (`rangeOpProblem`: a
 * key, or [key, to) with "" for the ends) with a limit of 1..`TXN_LIMITS.rangeLimitMax`; replies
 * hold at most `rangeLimitMax` records found, in key order; failure codes are known and their
 * messages at most 4,096 characters; a status names a user space as its log, a key range, and
 * `applied` ≥ -1.
 */
import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { isUserSpaceName } from "../../../paxos/limits.ts";
import { type CodecError, type Decoded, count, decodeLenientEnvelope, decodeMessage, decodeStrictEnvelope, reject, writeEnvelope } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/kv.ts";
import { nameProblem } from "../../log/core/entry.ts";
import { TXN_LIMITS, rangeOpProblem } from "../core/commands.ts";
import { rangeProblem } from "../core/keys.ts";
import type { KvFailure, KvFailureCode, KvRangeQuery, KvReply, KvRequest, KvStatus } from "../core/messages.ts";
import { fromPb, pairsFromPb, pairsToPb, rangeQueryFromPb, rangeToPb, resultFromPb, resultToPb, txnFromPb, txnToPb } from "./codec-txn.ts";

/** Characters of a failure's message: the encoder cuts it there, the decoder refuses more. */
const FAILURE_MESSAGE_CHARS_MAX = 4_096;

const CODES: { readonly [K in KvFailureCode]: pb.KvFailureCode } = {
  invalid: pb.KvFailureCode.KV_FAILURE_CODE_INVALID,
  tooLarge: pb.KvFailureCode.KV_FAILURE_CODE_TOO_LARGE,
  wrongPartition: pb.KvFailureCode.KV_FAILURE_CODE_WRONG_PARTITION,
  unavailable: pb.KvFailureCode.KV_FAILURE_CODE_UNAVAILABLE,
  timeout: pb.KvFailureCode.KV_FAILURE_CODE_TIMEOUT,
  internal: pb.KvFailureCode.KV_FAILURE_CODE_INTERNAL,
  aborted: pb.KvFailureCode.KV_FAILURE_CODE_ABORTED,
};
const CODES_FROM_PB = fromPb(CODES);

// ---- the Session stream: requests ----

/** A request frame that failed validation keeps its id, so the node answers it alone (id 0: the
 *  frame carried none, or 0). A frame whose id cannot be read fails the whole envelope. */
export type DecodedKvRequest = KvRequest | { readonly id: number; readonly kind: "invalid"; readonly error: CodecError };

function writeRequest(r: KvRequest, w: BinaryWriter): void {
  const kind: pb.KvRequest["kind"] =
    r.kind === "write" ? { $case: "write", value: { client: r.client, seq: r.seq, ackedBelow: r.ackedBelow, txn: txnToPb(r.txn) } } : { $case: "read", value: { range: rangeToPb(r.range), stale: r.stale } };
  pb.KvRequest.encode({ id: r.id, kind }, w);
}

/** A read's range: one key, or [key, to), with a limit within `TXN_LIMITS` (the rules of a range op). */
function readRange(m: pb.KvRange | undefined): KvRangeQuery {
  if (!m) reject("invalid", "a read with no range");
  const q = rangeQueryFromPb(m);
  const problem = rangeOpProblem(q);
  if (problem) reject("invalid", problem);
  if (q.limit !== undefined && (q.limit < 1 || q.limit > TXN_LIMITS.rangeLimitMax)) reject("invalid", `a range's limit must be an integer from 1 to ${TXN_LIMITS.rangeLimitMax} (got ${q.limit})`);
  return q;
}

function requestFromPb(m: pb.KvRequest): KvRequest {
  if (m.id === 0) reject("invalid", "a request of id 0");
  const k = m.kind;
  if (k === undefined) reject("invalid", "a request that neither writes nor reads");
  if (k.$case === "read") return { id: m.id, kind: "read", range: readRange(k.value.range), stale: k.value.stale };
  // seq is a uint64 the parser already refused beyond 2^53 − 1.
  const { client, seq, ackedBelow } = k.value;
  // The client id is the log entry's idempotency key's: the log's rule for it.
  const problem = nameProblem("a client id", client);
  if (problem) reject("invalid", problem);
  if (ackedBelow > seq) reject("invalid", `a write's ackedBelow (${ackedBelow}) above its seq (${seq})`);
  return { id: m.id, kind: "write", client, seq, ackedBelow, txn: txnFromPb(k.value.txn) };
}

export const encodeRequestEnvelope = (requests: readonly KvRequest[]): Uint8Array => writeEnvelope(requests, writeRequest);
/** One entry per frame, invalid frames included (with their ids); `{ok: false}` for a broken envelope. */
export const decodeRequestEnvelope = (bytes: Uint8Array): Decoded<DecodedKvRequest[]> =>
  decodeLenientEnvelope<pb.KvRequest, DecodedKvRequest>(bytes, pb.KvRequest, requestFromPb, (id, error) => ({ id, kind: "invalid", error }));

// ---- the Session stream: replies ----

function writeReply(r: KvReply, w: BinaryWriter): void {
  let kind: pb.KvReply["kind"];
  switch (r.kind) {
    case "written":
      kind = { $case: "written", value: { position: r.position, result: resultToPb(r.result) } };
      break;
    case "committed":
      kind = { $case: "committed", value: { txn: r.txn, succeeded: r.succeeded } };
      break;
    case "read":
      kind = { $case: "read", value: { found: pairsToPb(r.found), more: r.more, revision: r.revision, position: r.position } };
      break;
    case "failed":
      kind = { $case: "failed", value: { code: CODES[r.failure.code], message: r.failure.message.slice(0, FAILURE_MESSAGE_CHARS_MAX) } };
      break;
  }
  pb.KvReply.encode({ id: r.id, kind }, w);
}

function failureFromPb(m: pb.KvFailure): KvFailure {
  const code = CODES_FROM_PB.get(m.code);
  if (code === undefined) reject("invalid", `unknown failure code ${m.code}`);
  count(m.message.length, FAILURE_MESSAGE_CHARS_MAX, "failure message characters");
  return { code, message: m.message };
}

function replyFromPb(m: pb.KvReply): KvReply {
  const k = m.kind;
  if (k === undefined) reject("invalid", "a reply that is neither written, committed, read nor failed");
  switch (k.$case) {
    case "written":
      return { id: m.id, kind: "written", position: k.value.position, result: resultFromPb(k.value.result) };
    case "read": {
      const { found, more, revision, position } = k.value;
      if (position < -1) reject("invalid", `read: applied position ${position} (-1: none)`);
      return { id: m.id, kind: "read", found: pairsFromPb(found, TXN_LIMITS.rangeLimitMax, revision, "records read"), more, revision, position };
    }
    case "failed":
      return { id: m.id, kind: "failed", failure: failureFromPb(k.value) };
    case "committed":
      return { id: m.id, kind: "committed", txn: k.value.txn, succeeded: k.value.succeeded };
  }
}

export const encodeReplyEnvelope = (replies: readonly KvReply[]): Uint8Array => writeEnvelope(replies, writeReply);
/** All or nothing: a client does not trust a node that sends a malformed frame. */
export const decodeReplyEnvelope = (bytes: Uint8Array): Decoded<KvReply[]> => decodeStrictEnvelope(bytes, pb.KvReply, replyFromPb);

// ---- status ----

export const encodeStatusRequest = (): Uint8Array => pb.KvStatusRequest.encode({}).finish();
export const decodeStatusRequest = (bytes: Uint8Array): Decoded<Record<string, never>> => decodeMessage(bytes, pb.KvStatusRequest, () => ({}));

/** `applied` is a sint64: -1 (nothing applied) travels as itself. */
export const encodeStatus = (s: KvStatus): Uint8Array =>
  pb.KvStatus.encode({ partition: s.partition, from: s.from, to: s.to, log: s.log, mapEpoch: s.mapEpoch, applied: s.applied, revision: s.revision, keys: s.keys, lockedKeys: s.lockedKeys, inDoubt: s.inDoubt }).finish();

export const decodeStatus = (bytes: Uint8Array): Decoded<KvStatus> =>
  decodeMessage(bytes, pb.KvStatus, (m): KvStatus => {
    const problem = rangeProblem({ from: m.from, ...(m.to !== undefined ? { to: m.to } : {}) });
    if (problem) reject("invalid", `status: ${problem}`);
    if (!isUserSpaceName(m.log)) reject("invalid", `status: invalid log name ${JSON.stringify(m.log.slice(0, 80))}`);
    if (m.applied < -1) reject("invalid", `status: applied position ${m.applied} (-1: none)`);
    return {
      partition: m.partition,
      from: m.from,
      ...(m.to !== undefined ? { to: m.to } : {}),
      log: m.log,
      mapEpoch: m.mapEpoch,
      applied: m.applied,
      revision: m.revision,
      keys: m.keys,
      lockedKeys: m.lockedKeys,
      inDoubt: m.inDoubt,
    };
  });
