/**
 * The SMR's gateway (docs/ARCHITECTURE.md §7.5): bytes of proto/wormspace/v1/smr.proto ⇄ the
 * domain values of apps/smr/core, with the rules of every gateway (proto/README.md): decodes
 * return `Decoded<T>` and never throw; encoders trust domain values.
 *
 * Validation: SMR names are user space names; a proposal passes `proposalProblem` (client id,
 * seq, ackedBelow, command size); queries, chunks and messages stay within their limits; replica
 * addresses are canonical "host:port"; digests are 16 hex digits; failure codes and roles are known.
 */
import { isUserSpaceName } from "../../../paxos/limits.ts";
import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CodecError, type Decoded, copyValue, count, decodeLenientEnvelope, decodeMessage, decodeStrictEnvelope, reject, writeEnvelope } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/smr.ts";
import { parseAddress } from "../../../wor/wire/address.ts";
import { SNAPSHOT_LIMITS } from "../core/machine.ts";
import type { PeerMessage, ReplicaStatus, SmrFailureCode, SmrReply } from "../core/messages.ts";
import { type CheckpointRecord, type Proposal, SMR_LIMITS, proposalProblem } from "../core/records.ts";

const SMR_WIRE_LIMITS = Object.freeze({
  /** Messages in one peer envelope. */
  messagesMax: 4_096,
  /** Characters of a failure's message. */
  messageCharsMax: 4_096,
  /** Replicas one status may list. */
  peersMax: 64,
  /** Characters of a leader's owner id. */
  ownerCharsMax: 128,
  /** Characters of a forwarded request's id. */
  requestIdCharsMax: 128,
});
const L = SMR_WIRE_LIMITS;

const CODES: { readonly [K in SmrFailureCode]: pb.SmrFailureCode } = {
  timeout: pb.SmrFailureCode.SMR_FAILURE_CODE_TIMEOUT,
  unavailable: pb.SmrFailureCode.SMR_FAILURE_CODE_UNAVAILABLE,
  expired: pb.SmrFailureCode.SMR_FAILURE_CODE_EXPIRED,
  invalid: pb.SmrFailureCode.SMR_FAILURE_CODE_INVALID,
  tooLarge: pb.SmrFailureCode.SMR_FAILURE_CODE_TOO_LARGE,
};
const CODES_FROM_PB = new Map<number, SmrFailureCode>((Object.keys(CODES) as SmrFailureCode[]).map((k) => [CODES[k], k]));
const ROLES = new Set(["follower", "candidate", "leader"]);

function smrName(name: string): string {
  if (!isUserSpaceName(name)) reject("invalid", `invalid SMR name ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

/** A replica's "host:port". */
function replicaAddress(text: string, what: string): string {
  const a = parseAddress(text);
  if (typeof a === "string" || a.address !== text || text.length > SMR_LIMITS.addressCharsMax) reject("invalid", `${what}: invalid replica address ${JSON.stringify(text.slice(0, 80))}`);
  return text;
}

function proposal(p: pb.SmrProposal | undefined): Proposal {
  if (!p) reject("invalid", "no proposal");
  const out = { client: p.client, seq: p.seq, ackedBelow: p.ackedBelow, command: copyValue(p.command, SMR_LIMITS.commandBytesMax, "command") };
  const problem = proposalProblem(out);
  if (problem) reject("invalid", problem);
  return out;
}

function record(r: pb.SmrCheckpointRecord | undefined): CheckpointRecord {
  if (!r) reject("invalid", "no checkpoint record");
  if (!/^[0-9a-f]{16}$/.test(r.digest)) reject("invalid", `checkpoint digest ${JSON.stringify(r.digest.slice(0, 40))}`);
  return { position: r.position, digest: r.digest, holder: replicaAddress(r.holder, "checkpoint holder"), bytes: r.bytes };
}

// ---- the Session stream: requests and replies ----

/** A client's request on its Session stream; `id` is unique on the stream (never 0). */
export type SmrRequestFrame = { readonly id: number; readonly smr: string } & (
  | { readonly kind: "propose"; readonly proposal: Proposal }
  | { readonly kind: "read"; readonly query: Uint8Array; readonly stale: boolean }
);

/** A request frame that failed validation keeps its id, so the replica answers it alone. */
export type DecodedSmrRequestFrame = SmrRequestFrame | { readonly id: number; readonly kind: "invalid"; readonly error: CodecError };

/** The answer to request `id` (id 0: an envelope the replica could not read). */
export interface SmrReplyFrame {
  readonly id: number;
  readonly reply: SmrReply;
}

function writeRequest(f: SmrRequestFrame, w: BinaryWriter): void {
  const kind: pb.SmrRequest["kind"] = f.kind === "propose" ? { $case: "propose", value: f.proposal } : { $case: "read", value: { query: f.query, stale: f.stale } };
  pb.SmrRequest.encode({ id: f.id, smr: f.smr, kind }, w);
}

function requestFromPb(m: pb.SmrRequest): SmrRequestFrame {
  if (m.id === 0) reject("invalid", "a request of id 0");
  const smr = smrName(m.smr);
  const k = m.kind;
  if (k === undefined) reject("invalid", "a request that neither proposes nor reads");
  if (k.$case === "propose") return { id: m.id, smr, kind: "propose", proposal: proposal(k.value) };
  return { id: m.id, smr, kind: "read", query: copyValue(k.value.query, SMR_LIMITS.queryBytesMax, "query"), stale: k.value.stale };
}

export const encodeRequests = (frames: readonly SmrRequestFrame[]): Uint8Array => writeEnvelope(frames, writeRequest);
/** One entry per frame, invalid frames included (with their ids); `{ok: false}` for a broken envelope. */
export const decodeRequests = (bytes: Uint8Array): Decoded<DecodedSmrRequestFrame[]> =>
  decodeLenientEnvelope<pb.SmrRequest, DecodedSmrRequestFrame>(bytes, pb.SmrRequest, requestFromPb, (id, error) => ({ id, kind: "invalid", error }));

const replyToPb = (r: SmrReply): pb.SmrReply => ({
  result: r.ok ? { $case: "answer", value: { value: r.value, position: r.position } } : { $case: "failure", value: { code: CODES[r.code], message: r.message } },
});

function replyFromPb(m: pb.SmrReply | undefined): SmrReply {
  const r = m?.result;
  if (r === undefined) reject("invalid", "a reply with neither answer nor failure");
  if (r.$case === "answer") return { ok: true, value: copyValue(r.value.value, SMR_LIMITS.commandBytesMax, "answer"), position: r.value.position };
  const code = CODES_FROM_PB.get(r.value.code);
  if (code === undefined) reject("invalid", `unknown failure code ${r.value.code}`);
  count(r.value.message.length, L.messageCharsMax, "failure message characters");
  return { ok: false, code, message: r.value.message };
}

export const encodeReplies = (frames: readonly SmrReplyFrame[]): Uint8Array =>
  writeEnvelope(frames, (f, w) => pb.SmrReplyFrame.encode({ id: f.id, reply: replyToPb(f.reply) }, w));
/** All or nothing: a client does not trust a replica that sends a malformed frame. */
export const decodeReplies = (bytes: Uint8Array): Decoded<SmrReplyFrame[]> => decodeStrictEnvelope(bytes, pb.SmrReplyFrame, (m) => ({ id: m.id, reply: replyFromPb(m.reply) }));

/** An upper-ish estimate of a reply frame's encoded size (the session budget counts queued replies by it). */
export const replyFrameBytes = (f: SmrReplyFrame): number => 32 + (f.reply.ok ? f.reply.value.byteLength : 3 * f.reply.message.length);

// ---- replica to replica ----

export interface PeerEnvelope {
  readonly smr: string;
  readonly from: string;
  readonly messages: readonly PeerMessage[];
}

function messageToPb(m: PeerMessage): pb.SmrPeerMessage {
  switch (m.kind) {
    case "heartbeat":
      return { kind: { $case: "heartbeat", value: { owner: m.owner, segment: m.segment, tail: m.tail, checkpoints: m.checkpoints } } };
    case "propose":
      return { kind: { $case: "propose", value: { id: m.id, proposal: m.proposal } } };
    case "publish":
      return { kind: { $case: "publish", value: m.record } };
    case "readIndex":
      return { kind: { $case: "readIndex", value: { id: m.id } } };
    case "reply":
      return { kind: { $case: "reply", value: { id: m.id, reply: replyToPb(m.reply) } } };
  }
}

function requestId(id: string): string {
  if (id.length === 0 || id.length > L.requestIdCharsMax) reject("invalid", `a forwarded request id of ${id.length} characters (1..${L.requestIdCharsMax})`);
  return id;
}

function messageFromPb(m: pb.SmrPeerMessage): PeerMessage {
  const k = m.kind;
  if (k === undefined) reject("invalid", "a peer message of no kind");
  switch (k.$case) {
    case "heartbeat": {
      const h = k.value;
      if (h.owner.length === 0 || h.owner.length > L.ownerCharsMax) reject("invalid", `heartbeat owner of ${h.owner.length} characters`);
      if (h.checkpoints < -1) reject("invalid", `heartbeat checkpoint slot ${h.checkpoints}`);
      return { kind: "heartbeat", owner: h.owner, segment: h.segment, tail: h.tail, checkpoints: h.checkpoints };
    }
    case "propose":
      return { kind: "propose", id: requestId(k.value.id), proposal: proposal(k.value.proposal) };
    case "publish":
      return { kind: "publish", record: record(k.value) };
    case "readIndex":
      return { kind: "readIndex", id: requestId(k.value.id) };
    case "reply":
      return { kind: "reply", id: requestId(k.value.id), reply: replyFromPb(k.value.reply) };
  }
}

export const encodePeerEnvelope = (e: PeerEnvelope): Uint8Array => pb.SmrPeerEnvelope.encode({ smr: e.smr, from: e.from, messages: e.messages.map(messageToPb) }).finish();
export const decodePeerEnvelope = (bytes: Uint8Array): Decoded<PeerEnvelope> =>
  decodeMessage(bytes, pb.SmrPeerEnvelope, (m) => {
    count(m.messages.length, L.messagesMax, "peer messages");
    return { smr: smrName(m.smr), from: replicaAddress(m.from, "peer envelope"), messages: m.messages.map(messageFromPb) };
  });

// ---- snapshots ----

export const encodeFetchRequest = (smr: string, position: number): Uint8Array => pb.SmrFetchRequest.encode({ smr, position }).finish();
export const decodeFetchRequest = (bytes: Uint8Array): Decoded<{ smr: string; position: number }> =>
  decodeMessage(bytes, pb.SmrFetchRequest, (m) => ({ smr: smrName(m.smr), position: m.position }));

export const encodeChunk = (data: Uint8Array): Uint8Array => pb.SmrSnapshotChunk.encode({ data }).finish();
export const decodeChunk = (bytes: Uint8Array): Decoded<Uint8Array> =>
  decodeMessage(bytes, pb.SmrSnapshotChunk, (m) => copyValue(m.data, SNAPSHOT_LIMITS.chunkBytesMax, "snapshot chunk"));

// ---- status ----

export interface SmrStatusReport extends ReplicaStatus {
  readonly smr: string;
  readonly id: string;
  readonly peers: readonly string[];
}

export const encodeStatusRequest = (): Uint8Array => pb.SmrStatusRequest.encode({}).finish();
export const decodeStatusRequest = (bytes: Uint8Array): Decoded<Record<string, never>> => decodeMessage(bytes, pb.SmrStatusRequest, () => ({}));

export const encodeStatus = (s: SmrStatusReport): Uint8Array =>
  pb.SmrStatus.encode({
    ...s,
    leader: s.leader ?? "",
    peers: [...s.peers],
    checkpoints: Object.entries(s.checkpoints).map(([holder, position]) => ({ holder, position })),
  }).finish();

export const decodeStatus = (bytes: Uint8Array): Decoded<SmrStatusReport> =>
  decodeMessage(bytes, pb.SmrStatus, (m) => {
    if (!ROLES.has(m.role)) reject("invalid", `status: unknown role ${JSON.stringify(m.role.slice(0, 40))}`);
    count(m.peers.length, L.peersMax, "status: peers");
    count(m.checkpoints.length, L.peersMax, "status: checkpoints");
    return {
      smr: smrName(m.smr),
      id: replicaAddress(m.id, "status"),
      role: m.role as SmrStatusReport["role"],
      ...(m.leader !== "" ? { leader: replicaAddress(m.leader, "status leader") } : {}),
      applied: m.applied,
      ...(m.tail !== undefined ? { tail: m.tail } : {}),
      term: m.term,
      ...(m.checkpoint !== undefined ? { checkpoint: m.checkpoint } : {}),
      checkpoints: Object.fromEntries(m.checkpoints.map((c) => [replicaAddress(c.holder, "status checkpoint"), c.position])),
      catchingUp: m.catchingUp,
      clients: m.clients,
      peers: m.peers.map((p) => replicaAddress(p, "status peer")),
    };
  });
