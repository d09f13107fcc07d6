/**
 * The codec kernel every gateway shares (docs/ARCHITECTURE.md §2, §7.5): the typed rejection
 * (`CodecError`, `Decoded<T>`), envelope framing (strict for envelopes from a server, lenient for
 * envelopes from a client: a frame that fails alone is answered alone), bounded copies of byte
 * values, and the wire limits. It knows no domain: the acceptor's gateway is wor/wire/, each app's
 * is apps/<app>/wire/.
 *
 * Converters throw a `CodecError` value (a plain object, no stack trace) to reject; the decode
 * functions here catch it, so nothing ever escapes a gateway.
 */
import { BinaryReader, type BinaryWriter } from "@bufbuild/protobuf/wire";
import { WIRE_LIMITS } from "./limits.ts";
import { WireReader, WireWriter } from "./wire.ts";

/** Malformed input at a gateway: never an exception, always this value. */
export interface CodecError {
  readonly _tag: "CodecError";
  readonly code: "malformed" | "tooLarge" | "invalid";
  readonly message: string;
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CodecError };

const codecError = (code: CodecError["code"], message: string): CodecError => ({ _tag: "CodecError", code, message });

export const isCodecError = (e: unknown): e is CodecError =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "CodecError";

/** Stop converting: the value is rejected with `code`. */
export function reject(code: CodecError["code"], message: string): never {
  throw codecError(code, message);
}

/** Any exception out of ts-proto or our converters, as the CodecError it stands for. */
function toCodecError(e: unknown): CodecError {
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
export function copyValue(bytes: Uint8Array, max: number, what: string): Uint8Array {
  if (bytes.byteLength > max) reject("tooLarge", `${what} of ${bytes.byteLength} bytes exceeds ${max}`);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

export function count(n: number, max: number, what: string): void {
  if (n > max) reject("tooLarge", `${what}: ${n} exceeds ${max}`);
}

/** The envelope byte limit, checked before parsing anything. */
function checkEnvelopeSize(bytes: Uint8Array): CodecError | undefined {
  if (bytes.byteLength > WIRE_LIMITS.envelopeBytesMax) {
    return codecError("tooLarge", `envelope of ${bytes.byteLength} bytes exceeds ${WIRE_LIMITS.envelopeBytesMax}`);
  }
  return undefined;
}

/** Field 1, wire type 2: the only tag an envelope may hold. */
const FRAME_TAG = (1 << 3) | 2;

/**
 * Envelope framing is strict (unlike ts-proto, which skips unknown fields): only field 1 may appear,
 * so garbage rarely passes as an empty envelope. Reads the next frame's length at `reader`, checking
 * the tag, the frame count and the bounds; throws CodecError.
 */
function nextFrameLength(reader: BinaryReader, frames: number): number {
  const tag = reader.uint32();
  if (tag !== FRAME_TAG) reject("malformed", `envelope holds field ${tag >>> 3} of wire type ${tag & 7}; only frames (field 1) may appear`);
  if (frames >= WIRE_LIMITS.framesMax) reject("tooLarge", `envelope holds more than ${WIRE_LIMITS.framesMax} frames`);
  const length = reader.uint32();
  if (length > reader.len - reader.pos) reject("malformed", "truncated frame");
  return length;
}

/** After a frame decoded, the reader must stand exactly at its end. */
function frameEnd(reader: BinaryReader, end: number): void {
  if (reader.pos !== end) reject("malformed", "frame body does not match its length");
}

/**
 * The id of a frame whose body failed to decode, so the node can still answer it: the last id read
 * before the body became unreadable (0 when the body is readable and has none, as in proto3);
 * undefined when no exact id can be read. Rare path: allocation is fine here.
 */
function recoverFrameId(body: Uint8Array): number | undefined {
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

/** Buffers above it are not kept by the shared writer (an envelope that large is rare). */
const SHARED_WRITER_BYTES_MAX = 1 << 20;
/** One writer for every envelope, so its buffer grows to the envelopes' size once rather than
 *  from 128 bytes, doubling and copying, in every encode (finish copies what was written out). */
let shared: WireWriter | undefined = new WireWriter();

/** Write an envelope: each frame as field 1. */
export function writeEnvelope<F>(frames: readonly F[], encodeFrame: (f: F, w: BinaryWriter) => void): Uint8Array {
  // Taken while in use, so a nested encode (none today) or a throw leaves no half-written state.
  const w = shared ?? new WireWriter();
  shared = undefined;
  for (let i = 0; i < frames.length; i++) {
    encodeFrame(frames[i]!, w.uint32(FRAME_TAG).fork());
    w.join();
  }
  const out = w.finish();
  shared = out.byteLength <= SHARED_WRITER_BYTES_MAX ? w : new WireWriter();
  return out;
}
