/**
 * What a transaction space holds (docs/ARCHITECTURE.md §4.3), as bytes and back. A transaction is a
 * segment of a space of kind `txn`; its allocation register holds its **record** (the participants
 * and the deadline); participant i's **vote** is address i of the segment. Every segment number
 * that is a multiple of `TXN_LIMITS.blockSegments` is a **block claim** instead: the coordinator
 * named there owns the block's other segments, one transaction each.
 *
 * Decoding never throws: bytes that are not what they should be decode to `unknown` (a record) or
 * to a vote that is not YES (a vote), so every reader reaches the same verdict on the same bytes.
 */
import { isName } from "../../../paxos/limits.ts";
import { jsonSegmentMeta } from "../../../wor/core/segment-meta.ts";

export const TXN_LIMITS = Object.freeze({
  /** Participants of one transaction; a space's segments must hold this many votes. */
  participantsMax: 16,
  /** Segments per block: one claim, then `blockSegments - 1` transactions of its owner. */
  blockSegments: 64,
  /** Bytes of a participant's payload (what it will apply), carried in its YES vote. */
  payloadBytesMax: 64 * 1024,
  /** Bytes of an encoded record or block claim. */
  recordBytesMax: 4_096,
  /** Bytes of the reason a NO gives (UTF-8; a longer one is cut on a character boundary). */
  reasonBytesMax: 200,
});

/** The segment size of a transaction space created without one: room for every participant. */
export const TXN_SEGMENT_SIZE = TXN_LIMITS.participantsMax;

/** A transaction's allocation metadata. */
export interface TxnRecord {
  /** Participant i votes at address i of the segment. Names follow the user-name grammar. */
  readonly participants: readonly string[];
  /** Milliseconds (the coordinator's clock) after which anyone may resolve the transaction. */
  readonly deadline: number;
  /** Who started it (the owner of its block). */
  readonly coordinator: string;
}

export type AllocMeta =
  | { readonly kind: "txn"; readonly record: TxnRecord }
  | { readonly kind: "block"; readonly owner: string }
  | { readonly kind: "unknown" };

/** Why `record` cannot be a transaction's record in a space of `segmentSize`, or undefined. */
export function recordProblem(record: TxnRecord, segmentSize: number): string | undefined {
  const n = record.participants.length;
  if (n < 1 || n > Math.min(TXN_LIMITS.participantsMax, segmentSize)) {
    return `a transaction has 1 to ${Math.min(TXN_LIMITS.participantsMax, segmentSize)} participants (got ${n})`;
  }
  for (const p of record.participants) if (!isName(p)) return `participant ${JSON.stringify(p)} is not a name (letters, digits, '.', '_' or '-')`;
  if (new Set(record.participants).size !== n) return "a participant is named twice";
  if (!Number.isSafeInteger(record.deadline) || record.deadline < 0) return `invalid deadline ${record.deadline}`;
  if (!isName(record.coordinator)) return `coordinator ${JSON.stringify(record.coordinator)} is not a name`;
  return undefined;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

function parse(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.byteLength > TXN_LIMITS.recordBytesMax) return undefined;
  try {
    const v: unknown = JSON.parse(utf8d.decode(bytes));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export const encodeRecord = (r: TxnRecord): Uint8Array =>
  utf8.encode(JSON.stringify({ txn: { participants: r.participants, deadline: r.deadline, coordinator: r.coordinator } }));

/** A block claim's metadata: `{"block": owner}` (the platform's segment metadata, owner key "block"). */
export const BLOCK_CODEC = jsonSegmentMeta<object>({ ownerKey: "block", encode: () => ({}), decode: () => ({}) });

export function decodeAllocMeta(bytes: Uint8Array): AllocMeta {
  const o = parse(bytes);
  if (o && typeof o.block === "string") return { kind: "block", owner: o.block };
  const t = o?.txn;
  if (typeof t !== "object" || t === null) return { kind: "unknown" };
  const { participants, deadline, coordinator } = t as Record<string, unknown>;
  if (!Array.isArray(participants) || !participants.every((p) => typeof p === "string") || typeof deadline !== "number" || typeof coordinator !== "string") {
    return { kind: "unknown" };
  }
  const record: TxnRecord = { participants, deadline, coordinator };
  return recordProblem(record, TXN_LIMITS.participantsMax) === undefined ? { kind: "txn", record } : { kind: "unknown" };
}

/** Is segment `s` a block claim (not a transaction)? */
export const isBlockStart = (s: number): boolean => s % TXN_LIMITS.blockSegments === 0;

/**
 * A vote. A participant's own vote names it (so that, restarted, it recognises its votes); its YES
 * also carries the transaction's record and what it will apply on commit (its redo record: the
 * vote register is the participant's durable prepare); its NO may say why. A recoverer's NO names
 * nobody and gives no reason.
 */
export type Vote =
  | { readonly kind: "yes"; readonly participant: string; readonly record: Uint8Array; readonly payload: Uint8Array }
  | { readonly kind: "no"; readonly participant?: string; readonly reason?: string };

const YES = 0x01;
const NO = 0x00;
/** A recoverer's NO. */
export const NO_VOTE: Vote = Object.freeze({ kind: "no" });

/** `reason` as UTF-8, cut to `reasonBytesMax` on a character boundary. */
function reasonBytes(reason: string): Uint8Array {
  const bytes = utf8.encode(reason);
  let end = Math.min(bytes.byteLength, TXN_LIMITS.reasonBytesMax);
  // A continuation byte (10xxxxxx) at the cut is the middle of a character: cut before it.
  if (end < bytes.byteLength) while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/**
 * [tag, name length, name, then (YES:) record length (2 bytes), record, payload, or (a NO naming a
 * participant:) its reason as UTF-8, if any].
 */
export function encodeVote(v: Vote): Uint8Array {
  const name = utf8.encode(v.participant ?? "");
  if (v.kind === "no") {
    const reason = v.participant !== undefined && v.reason ? reasonBytes(v.reason) : new Uint8Array();
    const out = new Uint8Array(2 + name.byteLength + reason.byteLength);
    out.set([NO, name.byteLength], 0);
    out.set(name, 2);
    out.set(reason, 2 + name.byteLength);
    return out;
  }
  const out = new Uint8Array(4 + name.byteLength + v.record.byteLength + v.payload.byteLength);
  out.set([YES, name.byteLength], 0);
  out.set(name, 2);
  let at = 2 + name.byteLength;
  out.set([v.record.byteLength >> 8, v.record.byteLength & 0xff], at);
  out.set(v.record, (at += 2));
  out.set(v.payload, at + v.record.byteLength);
  return out;
}

/** UTF-8 `bytes` as a string, or undefined when they are not UTF-8. */
function text(bytes: Uint8Array): string | undefined {
  try {
    return utf8d.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Anything that is not a well-formed YES (a NO, bytes of another kind) is a NO: it cannot commit.
 * A NO naming a participant gives the reason after its name, if those bytes are UTF-8 (a NO of
 * before reasons has none).
 */
export function decodeVote(bytes: Uint8Array): Vote {
  const nameEnd = 2 + (bytes[1] ?? 0);
  const participant = bytes.byteLength >= nameEnd && nameEnd > 2 ? text(bytes.subarray(2, nameEnd)) : undefined;
  if (participant === undefined) return NO_VOTE;
  if (bytes[0] === NO) {
    const reason = bytes.byteLength > nameEnd ? text(bytes.subarray(nameEnd)) : undefined;
    return reason === undefined ? { kind: "no", participant } : { kind: "no", participant, reason };
  }
  const no: Vote = { kind: "no", participant };
  if (bytes[0] !== YES || bytes.byteLength < nameEnd + 2) return no;
  const recordEnd = nameEnd + 2 + ((bytes[nameEnd]! << 8) | bytes[nameEnd + 1]!);
  if (bytes.byteLength < recordEnd) return no;
  return { kind: "yes", participant, record: bytes.subarray(nameEnd + 2, recordEnd), payload: bytes.subarray(recordEnd) };
}

/** The address of participant `index`'s vote in transaction `txn`. */
export const voteAddress = (segmentSize: number, txn: number, index: number): number => txn * segmentSize + index;
