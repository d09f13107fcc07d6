/**
 * Shared pieces of the gateway (proto/codec.ts): the typed rejection, envelope framing, and the
 * converters for the messages every direction uses (ballots, reported addresses, range promises).
 *
 * Converters take freshly decoded ts-proto objects, validate them and return domain values. A
 * validation failure throws a `CodecError` value (a plain object, no stack trace); the public
 * decode functions catch it, so nothing ever escapes the gateway.
 */
import { BinaryReader, type BinaryWriter } from "@bufbuild/protobuf/wire";
import { type Ballot, isValidBallot } from "../paxos/ballot.ts";
import { LIMITS, isSpaceName } from "../paxos/limits.ts";
import type { Accepted, RangePromise, ReportedAddress } from "../paxos/messages.ts";
import type { CodecError, Decoded } from "./frames.ts";
import type * as pb from "./gen/wormspace/v1/acceptor.ts";
import { WireReader, WireWriter } from "./wire.ts";

export const codecError = (code: CodecError["code"], message: string): CodecError => ({ _tag: "CodecError", code, message });

export const isCodecError = (e: unknown): e is CodecError =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "CodecError";

/** Stop converting: the value is rejected with `code`. */
export function reject(code: CodecError["code"], message: string): never {
  throw codecError(code, message);
}

/** Any exception out of ts-proto or our converters, as the CodecError it stands for. */
export function toCodecError(e: unknown): CodecError {
  if (isCodecError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  // ts-proto's forceLong=number refuses uint64/sint64 values that are not exact JS integers.
  if (message.includes("MAX_SAFE_INTEGER") || message.includes("MIN_SAFE_INTEGER")) {
    return codecError("invalid", "integer beyond 2^53 - 1");
  }
  return codecError("malformed", message);
}

export const fail = <T>(error: CodecError): Decoded<T> => ({ ok: false, error });
export const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });

/**
 * Copy a value out of the decode buffer, which the transport may reuse, into a fresh plain
 * Uint8Array (Buffer#slice would return a view of a gRPC Buffer). `set` is a memcpy, where
 * `new Uint8Array(view)` copies element by element.
 */
export function copyValue(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.byteLength > LIMITS.valueBytesMax) reject("tooLarge", `${what} of ${bytes.byteLength} bytes exceeds ${LIMITS.valueBytesMax}`);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

export function space(name: string, what: string): string {
  if (!isSpaceName(name)) reject("invalid", `${what}: invalid space name ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

/** uint64 fields are ≥ 0 and exact (ts-proto checked); this guards the range arithmetic. */
export function range(from: number, to: number, what: string): void {
  if (from >= to) reject("invalid", `${what}: empty range [${from}, ${to})`);
  if (to - from > LIMITS.rangeMax) reject("tooLarge", `${what}: range of ${to - from} addresses exceeds ${LIMITS.rangeMax}`);
}

/** A decoded ballot is a fresh object of the domain's shape; validate and keep it. */
export function ballot(b: pb.Ballot | undefined, what: string): Ballot {
  if (b === undefined) reject("invalid", `${what}: missing ballot`);
  if (!isValidBallot(b)) reject("invalid", `${what}: invalid ballot ${b.round}.${b.proposer}`);
  return b;
}

export function count(n: number, max: number, what: string): void {
  if (n > max) reject("tooLarge", `${what}: ${n} exceeds ${max}`);
}

function accepted(a: pb.Accepted): Accepted {
  return { ballot: ballot(a.ballot, "accepted"), value: copyValue(a.value, "accepted value") };
}

export function reportedAddresses(list: readonly pb.ReportedAddress[], max: number, what: string): ReportedAddress[] {
  count(list.length, max, what);
  const out: ReportedAddress[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    const promised = ballot(a.promised, what);
    out[i] =
      a.accepted === undefined
        ? { index: a.index, promised, committed: a.committed }
        : { index: a.index, promised, accepted: accepted(a.accepted), committed: a.committed };
  }
  return out;
}

export function rangePromises(list: readonly pb.RangePromise[], what: string): RangePromise[] {
  count(list.length, LIMITS.rangeRowsMax, what);
  const out: RangePromise[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (r.from >= r.to) reject("invalid", `${what}: empty range promise [${r.from}, ${r.to})`);
    out[i] = { from: r.from, to: r.to, ballot: ballot(r.ballot, what) };
  }
  return out;
}

/** The envelope byte limit, checked before parsing anything. */
export function checkEnvelopeSize(bytes: Uint8Array): CodecError | undefined {
  if (bytes.byteLength > LIMITS.envelopeBytesMax) {
    return codecError("tooLarge", `envelope of ${bytes.byteLength} bytes exceeds ${LIMITS.envelopeBytesMax}`);
  }
  return undefined;
}

/** Field 1, wire type 2: the only tag an envelope may hold. */
export const FRAME_TAG = (1 << 3) | 2;

/**
 * Envelope framing is strict (unlike ts-proto, which skips unknown fields): only field 1 may appear,
 * so garbage rarely passes as an empty envelope. Reads the next frame's length at `reader`, checking
 * the tag, the frame count and the bounds; throws CodecError.
 */
export function nextFrameLength(reader: BinaryReader, frames: number): number {
  const tag = reader.uint32();
  if (tag !== FRAME_TAG) reject("malformed", `envelope holds field ${tag >>> 3} of wire type ${tag & 7}; only frames (field 1) may appear`);
  if (frames >= LIMITS.framesMax) reject("tooLarge", `envelope holds more than ${LIMITS.framesMax} frames`);
  const length = reader.uint32();
  if (length > reader.len - reader.pos) reject("malformed", "truncated frame");
  return length;
}

/** After a frame decoded, the reader must stand exactly at its end. */
export function frameEnd(reader: BinaryReader, end: number): void {
  if (reader.pos !== end) reject("malformed", "frame body does not match its length");
}

/**
 * The id of a frame whose body failed to decode, so the node can still answer it: the last id read
 * before the body became unreadable (0 when the body is readable and has none, as in proto3);
 * undefined when no exact id can be read. Rare path: allocation is fine here.
 */
export function recoverFrameId(body: Uint8Array): number | undefined {
  const r = new BinaryReader(body);
  let id: number | undefined;
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 8) {
        const v = Number(r.uint64());
        if (!Number.isSafeInteger(v)) return undefined;
        id = v;
      } else {
        r.skip(tag & 7, tag >>> 3);
      }
    }
    return id ?? 0;
  } catch {
    return id;
  }
}

/** The part of a ts-proto message's functions the decoders use. */
export interface MessageDecoder<M> {
  decode(input: BinaryReader | Uint8Array, length?: number): M;
}

/** A unary message (admin calls): parse with ts-proto and convert; every failure becomes a CodecError. */
export function decodeMessage<M, T>(bytes: Uint8Array, fns: MessageDecoder<M>, convert: (m: M) => T): Decoded<T> {
  const big = checkEnvelopeSize(bytes);
  if (big) return fail(big);
  try {
    return ok(convert(fns.decode(new WireReader(bytes))));
  } catch (e) {
    return fail(toCodecError(e));
  }
}

/** An envelope from a server: the client does not trust a malformed server, so any frame that
 *  fails to parse or validate fails the whole envelope. */
export function decodeStrictEnvelope<M, T>(bytes: Uint8Array, fns: MessageDecoder<M>, convert: (m: M) => T): Decoded<T[]> {
  const big = checkEnvelopeSize(bytes);
  if (big) return fail(big);
  const out: T[] = [];
  try {
    const reader = new WireReader(bytes);
    while (reader.pos < reader.len) {
      const length = nextFrameLength(reader, out.length);
      const end = reader.pos + length;
      const m = fns.decode(reader, length);
      frameEnd(reader, end);
      out.push(convert(m));
    }
  } catch (e) {
    return fail(toCodecError(e));
  }
  return ok(out);
}

/**
 * An envelope from a client: a frame that parses but fails validation, or whose body is broken but
 * whose id is readable, becomes `invalid(id, error)` so the server answers that frame alone. A broken
 * envelope (too large, too many frames, bad framing, an unreadable id) fails as a whole.
 */
export function decodeLenientEnvelope<M extends { id: number }, T>(
  bytes: Uint8Array,
  fns: MessageDecoder<M>,
  convert: (m: M) => T,
  invalid: (id: number, error: CodecError) => T,
): Decoded<T[]> {
  const big = checkEnvelopeSize(bytes);
  if (big) return fail(big);
  const out: T[] = [];
  try {
    const reader = new WireReader(bytes);
    while (reader.pos < reader.len) {
      const length = nextFrameLength(reader, out.length);
      const start = reader.pos;
      const end = start + length;
      let m: M;
      try {
        m = fns.decode(reader, length);
        frameEnd(reader, end);
      } catch (e) {
        // The body is broken (or carries an integer beyond 2^53) but its bounds are sound: answer it
        // alone when its id is readable, else give up on the envelope.
        const error = toCodecError(e);
        const id = recoverFrameId(bytes.subarray(start, end));
        if (id === undefined) throw error;
        reader.pos = end;
        out.push(invalid(id, error));
        continue;
      }
      try {
        out.push(convert(m));
      } catch (e) {
        out.push(invalid(m.id, toCodecError(e)));
      }
    }
  } catch (e) {
    return fail(toCodecError(e));
  }
  return ok(out);
}

/** Write an envelope: each frame as field 1. */
export function writeEnvelope<F>(frames: readonly F[], encodeFrame: (f: F, w: BinaryWriter) => void): Uint8Array {
  const w = new WireWriter();
  for (let i = 0; i < frames.length; i++) {
    encodeFrame(frames[i]!, w.uint32(FRAME_TAG).fork());
    w.join();
  }
  return w.finish();
}
