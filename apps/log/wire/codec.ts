/**
 * The sequencer's gateway (docs/ARCHITECTURE.md §7.5): GrantRequestEnvelope / GrantReplyEnvelope / status bytes
 * ⇄ validated apps/log/wire/frames.ts values. Same rules as the acceptor's codecs (proto/README.md):
 * every decode returns `Decoded<T>`; a request frame that fails validation keeps its id and becomes
 * `{kind: "invalid"}`; a reply envelope is all-or-nothing; encoders trust domain values.
 *
 * Validation: log names are user space names; each ask's key and stream tags pass `entryProblem`;
 * queried stream tags pass `nameProblem`; counts stay within SEQUENCER_WIRE_LIMITS; ballots are
 * valid; a token's slot lies in its capture and its backpointers point back (or are none / unknown);
 * failure codes are known; a takeover hint and a redirect's address are "host:port" addresses and a
 * redirect names its owner. A `redirect` failure travels as the reply's own `redirect` case.
 */
import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { ENTRY_LIMITS, PREV_UNKNOWN, entryProblem, nameProblem } from "../core/entry.ts";
import type { GrantRequest, LogFailure, LogResult, TokenAsk } from "../core/steps.ts";
import { type Grant, SEQUENCER_PRIORS_MAX, type Token } from "../core/tokens.ts";
import { isUserSpaceName } from "../../../paxos/limits.ts";
import { parseAddress } from "../../../wor/wire/address.ts";
import { type Decoded, count, decodeLenientEnvelope, decodeMessage, decodeStrictEnvelope, reject, writeEnvelope } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/sequencer.ts";
import { type DecodedGrantRequestFrame, type GrantReplyFrame, type GrantRequestFrame, SEQUENCER_WIRE_LIMITS, type SequencerStatus } from "./frames.ts";
import { ballot, space } from "../../../wor/wire/codec-domain.ts";

const L = SEQUENCER_WIRE_LIMITS;

type WireFailureCode = Exclude<LogFailure["code"], "redirect">;

const FAILURE_CODE_TO_PB: { readonly [K in WireFailureCode]: pb.LogFailureCode } = {
  timeout: pb.LogFailureCode.LOG_FAILURE_CODE_TIMEOUT,
  unavailable: pb.LogFailureCode.LOG_FAILURE_CODE_UNAVAILABLE,
  unknownSpace: pb.LogFailureCode.LOG_FAILURE_CODE_UNKNOWN_SPACE,
  invalid: pb.LogFailureCode.LOG_FAILURE_CODE_INVALID,
  tooLarge: pb.LogFailureCode.LOG_FAILURE_CODE_TOO_LARGE,
  notReady: pb.LogFailureCode.LOG_FAILURE_CODE_NOT_READY,
  unauthenticated: pb.LogFailureCode.LOG_FAILURE_CODE_UNAUTHENTICATED,
  contended: pb.LogFailureCode.LOG_FAILURE_CODE_CONTENDED,
  internal: pb.LogFailureCode.LOG_FAILURE_CODE_INTERNAL,
  trimmed: pb.LogFailureCode.LOG_FAILURE_CODE_TRIMMED,
  corrupt: pb.LogFailureCode.LOG_FAILURE_CODE_CORRUPT,
  exhausted: pb.LogFailureCode.LOG_FAILURE_CODE_EXHAUSTED,
  wrongKind: pb.LogFailureCode.LOG_FAILURE_CODE_WRONG_KIND,
};

const FAILURE_CODE_FROM_PB = new Map<number, WireFailureCode>((Object.keys(FAILURE_CODE_TO_PB) as WireFailureCode[]).map((k) => [FAILURE_CODE_TO_PB[k], k]));

const PHASES = new Set(["idle", "recovering", "ready", "standby", "deposed"]);

function logName(name: string, what: string): string {
  if (!isUserSpaceName(name)) reject("invalid", `${what}: invalid log name ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

/** A sequencer's "host:port" (a takeover hint, a redirect, a status's active sequencer). */
function sequencerAddress(text: string, what: string): string {
  const a = parseAddress(text);
  if (typeof a === "string" || a.address !== text) reject("invalid", `${what}: invalid sequencer address ${JSON.stringify(text.slice(0, 80))}`);
  return text;
}

// ---- requests (client → sequencer) ----

function writeGrantRequest(f: GrantRequestFrame, w: BinaryWriter): void {
  const asks: pb.TokenAsk[] = f.request.asks.map((a) => ({ key: { client: a.key.client, seq: a.key.seq }, streams: a.streams as string[], preemptedBy: a.preemptedBy, since: a.since, taken: a.taken }));
  pb.GrantRequest.encode({ id: f.id, log: f.log, asks, streams: (f.request.streams ?? []) as string[], takeover: f.request.takeover ?? "" }, w);
}

/** Encode one batch of grant requests. */
export const encodeGrantRequests = (frames: readonly GrantRequestFrame[]): Uint8Array => writeEnvelope(frames, writeGrantRequest);

function toAsk(a: pb.TokenAsk): TokenAsk {
  if (a.key === undefined) reject("invalid", "grant: an ask without an idempotency key");
  const key = { client: a.key.client, seq: a.key.seq };
  const problem = entryProblem({ key, streams: a.streams });
  if (problem) reject("invalid", `grant: ${problem}`);
  return {
    key,
    streams: a.streams,
    ...(a.preemptedBy === undefined ? {} : { preemptedBy: ballot(a.preemptedBy, "grant: preemptedBy") }),
    ...(a.since === undefined ? {} : { since: a.since }),
    ...(a.taken === undefined ? {} : { taken: a.taken }),
  };
}

function toGrantRequestFrame(m: pb.GrantRequest): GrantRequestFrame {
  const log = logName(m.log, "grant");
  count(m.asks.length, L.asksMax, "grant: asks");
  count(m.streams.length, L.streamQueriesMax, "grant: stream queries");
  for (const tag of m.streams) {
    const problem = nameProblem("queried stream tag", tag);
    if (problem) reject("invalid", `grant: ${problem}`);
  }
  const asks = m.asks.map(toAsk);
  const request: GrantRequest = {
    asks,
    ...(m.streams.length > 0 ? { streams: m.streams } : {}),
    ...(m.takeover !== "" ? { takeover: sequencerAddress(m.takeover, "grant: takeover") } : {}),
  };
  return { id: m.id, kind: "grant", log, request };
}

/**
 * Decode one batch of grant requests. `{ok: false}` for a broken envelope; otherwise one entry per
 * frame, invalid frames included (with their ids).
 */
export const decodeGrantRequests = (bytes: Uint8Array): Decoded<DecodedGrantRequestFrame[]> =>
  decodeLenientEnvelope<pb.GrantRequest, DecodedGrantRequestFrame>(bytes, pb.GrantRequest, toGrantRequestFrame, (id, error) => ({ id, kind: "invalid", error }));

// ---- replies (sequencer → client) ----

function grantToPb(g: Grant): pb.Grant {
  const tokens: pb.Token[] = g.tokens.map((t) => ({
    slot: t.slot,
    capture: { space: t.capture.space, from: t.capture.from, to: t.capture.to, ballot: t.capture.ballot },
    prev: t.prev as number[],
    priors: t.priors as number[],
  }));
  return { tokens, tail: g.tail, streamTails: g.streamTails as number[] };
}

function writeGrantReply(f: GrantReplyFrame, w: BinaryWriter): void {
  const r = f.result;
  let result: pb.GrantReply["result"];
  if (r.ok) result = { $case: "grant", value: grantToPb(r.value) };
  else if (r.failure.code === "redirect") result = { $case: "redirect", value: { ...r.failure.active } };
  else result = { $case: "failure", value: { code: FAILURE_CODE_TO_PB[r.failure.code], message: r.failure.message } };
  pb.GrantReply.encode({ id: f.id, result }, w);
}

/** Encode one batch of grant replies. */
export const encodeGrantReplies = (frames: readonly GrantReplyFrame[]): Uint8Array => writeEnvelope(frames, writeGrantReply);

function backpointer(p: number, below: number, what: string): number {
  if (p < PREV_UNKNOWN) reject("invalid", `${what}: backpointer ${p} below ${PREV_UNKNOWN}`);
  if (p >= below) reject("invalid", `${what}: backpointer ${p} does not point below ${below}`);
  return p;
}

function toToken(t: pb.Token): Token {
  const c = t.capture;
  if (c === undefined) reject("invalid", `token ${t.slot}: missing capture`);
  const capture = { space: space(c.space, "token capture"), from: c.from, to: c.to, ballot: ballot(c.ballot, "token capture") };
  if (t.slot < c.from || t.slot >= c.to) reject("invalid", `token ${t.slot}: outside its capture [${c.from}, ${c.to})`);
  count(t.prev.length, ENTRY_LIMITS.streamsPerEntryMax, `token ${t.slot}: backpointers`);
  const prev = t.prev.map((p) => backpointer(p, t.slot, `token ${t.slot}`));
  count(t.priors.length, SEQUENCER_PRIORS_MAX, `token ${t.slot}: priors`);
  for (const p of t.priors) if (p >= t.slot) reject("invalid", `token ${t.slot}: prior slot ${p} is not below it`);
  return { slot: t.slot, capture, prev, priors: t.priors };
}

function toResult(m: pb.GrantReply): LogResult<Grant> {
  const r = m.result;
  if (r === undefined) reject("invalid", `reply ${m.id}: neither grant nor failure set`);
  if (r.$case === "failure") {
    const code = FAILURE_CODE_FROM_PB.get(r.value.code);
    if (code === undefined) reject("invalid", `reply ${m.id}: unknown failure code ${r.value.code}`);
    count(r.value.message.length, L.messageCharsMax, `reply ${m.id}: message characters`);
    return { ok: false, failure: { code, message: r.value.message } };
  }
  if (r.$case === "redirect") {
    const owner = r.value.owner;
    if (owner.length === 0 || owner.length > L.ownerCharsMax) reject("invalid", `reply ${m.id}: redirect owner of ${owner.length} characters (1..${L.ownerCharsMax})`);
    const address = sequencerAddress(r.value.address, `reply ${m.id}: redirect`);
    return { ok: false, failure: { code: "redirect", message: `sequencer ${owner} at ${address} serves this log`, active: { owner, address } } };
  }
  const g = r.value;
  count(g.tokens.length, L.asksMax, `reply ${m.id}: tokens`);
  count(g.streamTails.length, L.streamQueriesMax, `reply ${m.id}: stream tails`);
  const streamTails = g.streamTails.map((p) => backpointer(p, Number.MAX_SAFE_INTEGER, `reply ${m.id}: stream tail`));
  return { ok: true, value: { tokens: g.tokens.map(toToken), tail: g.tail, streamTails } };
}

/** Decode one batch of grant replies; any broken or invalid frame fails it. */
export const decodeGrantReplies = (bytes: Uint8Array): Decoded<GrantReplyFrame[]> =>
  decodeStrictEnvelope(bytes, pb.GrantReply, (m): GrantReplyFrame => ({ id: m.id, result: toResult(m) }));

// ---- status (unary) ----

export const encodeSequencerStatusRequest = (): Uint8Array => pb.SequencerStatusRequest.encode({}).finish();

export const decodeSequencerStatusRequest = (bytes: Uint8Array): Decoded<Record<string, never>> =>
  decodeMessage(bytes, pb.SequencerStatusRequest, () => ({}));

export const encodeSequencerStatus = (s: SequencerStatus): Uint8Array => pb.SequencerStatus.encode({ logs: s.logs.map((l) => ({ ...l, active: l.active ?? "" })) }).finish();

function toStatus(s: pb.SequencerStatus): SequencerStatus {
  count(s.logs.length, L.statusLogsMax, "status: logs");
  return {
    logs: s.logs.map((l) => {
      if (!PHASES.has(l.phase)) reject("invalid", `status: unknown phase ${JSON.stringify(l.phase.slice(0, 40))}`);
      const { active, ...rest } = l;
      return { ...rest, log: logName(l.log, "status"), ...(active !== "" ? { active: sequencerAddress(active, "status") } : {}) };
    }),
  };
}

export const decodeSequencerStatus = (bytes: Uint8Array): Decoded<SequencerStatus> => decodeMessage(bytes, pb.SequencerStatus, toStatus);
