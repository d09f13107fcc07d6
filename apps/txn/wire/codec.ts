/**
 * The participant service's gateway (docs/ARCHITECTURE.md §4.3): TxnPrepareRequest / TxnPrepareReply
 * / TxnDecideRequest bytes ⇄ apps/txn/core values. Same rules as the other gateways
 * (proto/README.md): every decode returns `Decoded<T>`, nothing throws out of it; encoders trust
 * domain values.
 *
 * Validation: spaces are user space names; transaction numbers and indexes exact integers, an index
 * below `TXN_LIMITS.participantsMax`; the record at most `recordBytesMax` bytes, the payload at
 * most `payloadBytesMax`; a vote is a register value (decoded by `decodeVote`, which reads anything
 * that is not a well-formed YES as NO); failure codes are known.
 */
import { isUserSpaceName, LIMITS } from "../../../paxos/limits.ts";
import { type Decoded, copyValue, decodeMessage, reject } from "../../../proto/codec-kernel.ts";
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

// ---- prepare ----

export const encodePrepareRequest = (r: PrepareRequest): Uint8Array => pb.TxnPrepareRequest.encode({ ...r }).finish();

export const decodePrepareRequest = (bytes: Uint8Array): Decoded<PrepareRequest> =>
  decodeMessage(bytes, pb.TxnPrepareRequest, (m) => {
    if (m.index >= TXN_LIMITS.participantsMax) reject("invalid", `participant index ${m.index} is not below ${TXN_LIMITS.participantsMax}`);
    return {
      space: spaceName(m.space),
      txn: txnNumber(m.txn),
      index: m.index,
      record: copyValue(m.record, TXN_LIMITS.recordBytesMax, "record"),
      payload: copyValue(m.payload, TXN_LIMITS.payloadBytesMax, "payload"),
    };
  });

export function encodePrepareReply(r: TxnResult<Vote>): Uint8Array {
  return pb.TxnPrepareReply.encode({
    result: r.ok
      ? { $case: "vote", value: { value: encodeVote(r.value) } }
      : { $case: "failure", value: { code: FAILURE_CODE_TO_PB[r.failure.code], message: r.failure.message.slice(0, FAILURE_MESSAGE_CHARS_MAX) } },
  }).finish();
}

export const decodePrepareReply = (bytes: Uint8Array): Decoded<TxnResult<Vote>> =>
  decodeMessage(bytes, pb.TxnPrepareReply, (m): TxnResult<Vote> => {
    const r = m.result;
    if (r?.$case === "vote") return { ok: true, value: decodeVote(copyValue(r.value.value, LIMITS.valueBytesMax, "vote")) };
    if (r?.$case !== "failure") return reject("malformed", "a prepare reply holds neither a vote nor a failure");
    const code = FAILURE_CODE_FROM_PB.get(r.value.code);
    if (!code) return reject("invalid", `unknown failure code ${r.value.code}`);
    return { ok: false, failure: { code, message: r.value.message.slice(0, FAILURE_MESSAGE_CHARS_MAX) } };
  });

// ---- decide ----

export interface DecideRequest {
  readonly space: string;
  readonly txn: number;
  readonly outcome: Outcome;
}

export const encodeDecideRequest = (d: DecideRequest): Uint8Array => pb.TxnDecideRequest.encode({ space: d.space, txn: d.txn, committed: d.outcome === "committed" }).finish();

export const decodeDecideRequest = (bytes: Uint8Array): Decoded<DecideRequest> =>
  decodeMessage(bytes, pb.TxnDecideRequest, (m) => ({ space: spaceName(m.space), txn: txnNumber(m.txn), outcome: m.committed ? "committed" : "aborted" }));

export const encodeDecideReply = (): Uint8Array => pb.TxnDecideReply.encode({}).finish();
