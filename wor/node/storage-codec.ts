/**
 * The byte form of the values storage-level.ts keeps in LevelDB (the hot path is ~100-byte address
 * values, thousands per second), and the seal every value carries.
 *
 *   address: flags(1: bit0 accepted, bit1 committed) promised(16) [acceptedBallot(16) value(...)]
 *   ballot:  round(8) proposer(8), each a big-endian uint64 that is an exact JS integer
 *   ranges:  count(4) then count × from(8) to(8) ballot(16)
 *   uint:    8 bytes (a trim mark)
 *   pair:    two uints (a batch marker: digest, format; a block digest: count, sum; a space: its
 *            addresses with state, its highest accepted index + 1)
 *
 * Seal: every stored value ends with the CRC-32 of its key and its payload (4 bytes, big-endian).
 * LevelDB checks its log records, but reads never verify table blocks (classic-level exposes
 * neither `verify_checksums` nor `paranoid_checks`), so a byte flipped inside a table would be served
 * as a different promise or value. The seal covers the key too: a flipped key byte cannot move a
 * value to another address or space.
 */
import { crc32 } from "node:zlib";
import type { Ballot } from "../../paxos/ballot.ts";
import type { AddressState, RangePromise } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";

/** Bytes the seal adds to every stored value. */
export const SEAL_BYTES = 4;
const TWO_32 = 2 ** 32;
const FLAG_ACCEPTED = 1;
const FLAG_COMMITTED = 2;

/** Write the seal of `key` and `buf`'s payload (all but its last SEAL_BYTES) into those last bytes. */
function seal(key: string, buf: Uint8Array): Uint8Array {
  const end = buf.byteLength - SEAL_BYTES;
  const c = crc32(buf.subarray(0, end), crc32(key));
  buf[end] = c >>> 24;
  buf[end + 1] = c >>> 16;
  buf[end + 2] = c >>> 8;
  buf[end + 3] = c;
  return buf;
}

/** The payload of a stored value, or undefined when its seal does not match its key and payload. */
export function unseal(key: string, buf: Uint8Array): Uint8Array | undefined {
  const end = buf.byteLength - SEAL_BYTES;
  if (end < 0) return undefined;
  return sealOf(buf) === crc32(buf.subarray(0, end), crc32(key)) ? buf.subarray(0, end) : undefined;
}

/** The seal a stored value ends with (a uint32). */
export function sealOf(buf: Uint8Array): number {
  const end = buf.byteLength - SEAL_BYTES;
  assert(end >= 0, "a stored value holds its seal");
  return ((buf[end]! << 24) | (buf[end + 1]! << 16) | (buf[end + 2]! << 8) | buf[end + 3]!) >>> 0;
}

/** `payload` sealed under `key` (a copy). */
export function sealed(key: string, payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(payload.byteLength + SEAL_BYTES);
  buf.set(payload);
  return seal(key, buf);
}

/** Big-endian uint64 of an exact JS integer, byte by byte (the hot path: no DataView, no closure). */
function writeUint(buf: Uint8Array, at: number, x: number): Uint8Array {
  if (!Number.isSafeInteger(x) || x < 0) assert(false, `not an exact uint: ${x}`);
  const hi = Math.floor(x / TWO_32);
  const lo = x >>> 0;
  buf[at] = hi >>> 24;
  buf[at + 1] = hi >>> 16;
  buf[at + 2] = hi >>> 8;
  buf[at + 3] = hi;
  buf[at + 4] = lo >>> 24;
  buf[at + 5] = lo >>> 16;
  buf[at + 6] = lo >>> 8;
  buf[at + 7] = lo;
  return buf;
}

export function readUint(buf: Uint8Array, at: number): number {
  assert(buf.byteLength >= at + 8, "truncated value");
  const hi = ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
  const lo = ((buf[at + 4]! << 24) | (buf[at + 5]! << 16) | (buf[at + 6]! << 8) | buf[at + 7]!) >>> 0;
  const x = hi * TWO_32 + lo;
  assert(Number.isSafeInteger(x), "stored integer is not exact");
  return x;
}

/** A sealed uint64 (a trim mark). */
export const encodeUint = (key: string, x: number): Uint8Array => seal(key, writeUint(new Uint8Array(8 + SEAL_BYTES), 0, x));

/** Two sealed uint64s. */
export function encodePair(key: string, a: number, b: number): Uint8Array {
  const buf = new Uint8Array(16 + SEAL_BYTES);
  writeUint(buf, 0, a);
  writeUint(buf, 8, b);
  return seal(key, buf);
}

/** Two uints from an unsealed payload. */
export function decodePair(buf: Uint8Array): readonly [number, number] {
  assert(buf.byteLength === 16, "a pair of integers has the wrong length");
  return [readUint(buf, 0), readUint(buf, 8)];
}

function writeBallot(buf: Uint8Array, at: number, b: Ballot): void {
  writeUint(buf, at, b.round);
  writeUint(buf, at + 8, b.proposer);
}

const readBallot = (buf: Uint8Array, at: number): Ballot => ({ round: readUint(buf, at), proposer: readUint(buf, at + 8) });

/** One address's state, sealed under `key`. */
export function encodeAddress(key: string, s: AddressState): Uint8Array {
  const size = s.accepted ? 33 + s.accepted.value.byteLength : 17;
  const buf = new Uint8Array(size + SEAL_BYTES);
  buf[0] = (s.accepted ? FLAG_ACCEPTED : 0) | (s.committed ? FLAG_COMMITTED : 0);
  writeBallot(buf, 1, s.promised);
  if (s.accepted) {
    writeBallot(buf, 17, s.accepted.ballot);
    buf.set(s.accepted.value, 33);
  }
  return seal(key, buf);
}

/** An address's state from an unsealed payload. */
export function decodeAddress(buf: Uint8Array): AddressState {
  const flags = buf[0];
  assert(flags !== undefined && (flags & ~(FLAG_ACCEPTED | FLAG_COMMITTED)) === 0, "bad address flags");
  const promised = readBallot(buf, 1);
  const committed = (flags & FLAG_COMMITTED) !== 0;
  if ((flags & FLAG_ACCEPTED) === 0) {
    assert(buf.byteLength === 17, "address without a value has trailing bytes");
    return { promised, committed };
  }
  return { promised, accepted: { ballot: readBallot(buf, 17), value: new Uint8Array(buf.subarray(33)) }, committed };
}

/** A space's range promises, sealed under `key`. */
export function encodeRanges(key: string, ranges: readonly RangePromise[]): Uint8Array {
  const buf = new Uint8Array(4 + 32 * ranges.length + SEAL_BYTES);
  new DataView(buf.buffer).setUint32(0, ranges.length);
  ranges.forEach((r, k) => {
    writeUint(buf, 4 + 32 * k, r.from);
    writeUint(buf, 12 + 32 * k, r.to);
    writeBallot(buf, 20 + 32 * k, r.ballot);
  });
  return seal(key, buf);
}

/** Range promises from an unsealed payload. */
export function decodeRanges(buf: Uint8Array): RangePromise[] {
  assert(buf.byteLength >= 4, "range promises value is truncated");
  const count = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0);
  assert(buf.byteLength === 4 + 32 * count, "range promises value has the wrong length");
  const out: RangePromise[] = [];
  for (let k = 0; k < count; k++) {
    out.push({ from: readUint(buf, 4 + 32 * k), to: readUint(buf, 12 + 32 * k), ballot: readBallot(buf, 20 + 32 * k) });
  }
  return out;
}
