/**
 * The hand-written binary codec under the log's slot values (./entry.ts) and the apps built on the
 * log (apps/smr's records): varints, length-prefixed UTF-8 strings and byte strings, the rest.
 * `ByteReader` throws `DecodeError` for bytes it cannot read; a gateway catches it and returns a
 * typed error (never throws to its caller).
 */
import { assert } from "../../../verify/runtime/assert.ts";

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** Up to this many bytes, ASCII text is read without a `TextDecoder` (a call that costs more than
 *  a short key or name is long). */
const ASCII_INLINE_MAX = 128;

/** `bytes` as UTF-8 text, or undefined if they are not UTF-8. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  if (bytes.length <= ASCII_INLINE_MAX) {
    let ascii = true;
    for (let i = 0; i < bytes.length && ascii; i++) ascii = bytes[i]! < 0x80;
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Bytes `ByteWriter.varint` writes for `x`. */
export function varintLength(x: number): number {
  let n = 1;
  for (; x >= 0x80; n++) x = Math.floor(x / 0x80);
  return n;
}

/** Bytes of `s` in UTF-8 (what `TextEncoder` makes of it; a lone surrogate becomes U+FFFD, 3 bytes), without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Bytes `ByteWriter.str` writes for `s`. */
export const strLength = (s: string): number => {
  const n = utf8Length(s);
  return varintLength(n) + n;
};

export class ByteWriter {
  private buf: Uint8Array;
  private n = 0;
  /** `capacity`: the bytes expected (if exact, `done` copies nothing; it grows past it if need be). */
  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
  get length(): number {
    return this.n;
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.n++] = b;
  }
  varint(x: number): void {
    assert(Number.isSafeInteger(x) && x >= 0, () => `varint of a non-negative safe integer (${x})`);
    this.room(x < 0x80 ? 1 : varintLength(x));
    while (x >= 0x80) {
      this.buf[this.n++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.n++] = x;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  /** Length-prefixed bytes. */
  blob(b: Uint8Array): void {
    this.varint(b.length);
    this.bytes(b);
  }
  /** Length-prefixed UTF-8; an ASCII string is written in place (no intermediate encoding). */
  str(s: string): void {
    if (utf8Length(s) !== s.length) return void this.blob(utf8.encode(s));
    this.varint(s.length);
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.n++] = s.charCodeAt(i);
  }
  /** The bytes written; the writer is spent. A view of its buffer when that is at least half
   *  used (a capacity estimated well copies nothing), else a copy of just them. */
  done(): Uint8Array {
    return this.n === this.buf.length ? this.buf : this.n * 2 >= this.buf.length ? this.buf.subarray(0, this.n) : this.buf.slice(0, this.n);
  }
}

export class DecodeError {
  readonly _tag = "DecodeError";
  constructor(readonly message: string) {}
}

/** What `readAll` hands its decoder (exported as a type: only `readAll` makes one). */
export type { ByteReader };

class ByteReader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}
  get done(): boolean {
    return this.at >= this.b.length;
  }
  byte(): number {
    if (this.at >= this.b.length) throw new DecodeError("truncated");
    return this.b[this.at++]!;
  }
  varint(): number {
    let x = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      x += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(x)) throw new DecodeError("varint out of range");
        return x;
      }
      scale *= 0x80;
    }
    throw new DecodeError("varint too long");
  }
  /** The next length-prefixed bytes, at most `max` of them, as a view (not a copy: kept, it keeps
   *  all the bytes read alive). */
  view(what: string, max: number): Uint8Array {
    const n = this.varint();
    if (n > max) throw new DecodeError(`${what} of ${n} bytes (limit ${max})`);
    if (this.at + n > this.b.length) throw new DecodeError("truncated");
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  /** Length-prefixed bytes of at most `max` (a fresh copy). */
  blob(what: string, max: number): Uint8Array {
    return this.view(what, max).slice();
  }
  /** A length-prefixed UTF-8 string of 1..`max` bytes. */
  str(what: string, max: number): string {
    const s = this.text(what, max);
    if (s === "") throw new DecodeError(`${what} is empty`);
    return s;
  }
  /** A length-prefixed UTF-8 string of 0..`max` bytes. */
  text(what: string, max: number): string {
    const s = utf8Text(this.view(what, max));
    if (s === undefined) throw new DecodeError(`${what} is not UTF-8`);
    return s;
  }
  rest(): Uint8Array {
    const r = this.b.slice(this.at);
    this.at = this.b.length;
    return r;
  }
}

/** `decode(reader)` over `bytes`, or the `DecodeError` that stopped it. */
export function readAll<T>(bytes: Uint8Array, decode: (r: ByteReader) => T): T | DecodeError {
  try {
    return decode(new ByteReader(bytes));
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
}
