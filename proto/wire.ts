/**
 * Protobuf readers and writers for the gateway's hot path: @bufbuild/protobuf's own, with uint64
 * done on plain numbers. The stock uint64 goes through a BigInt on every field (an index, a ballot
 * half, a frame id), which made it the largest cost of encoding and decoding an accept envelope.
 * The bytes are identical; values outside the fast range take the stock path.
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";

/** A varint of at most this many bytes holds at most 49 bits: always an exact JS integer. */
const FAST_VARINT_BYTES = 7;
const UINT32_MAX = 0xffff_ffff;

export class WireWriter extends BinaryWriter {
  /** Below 2^32 a uint64 varint has the bytes of the uint32 one. */
  override uint64(value: string | number | bigint): this {
    if (typeof value === "number" && value >= 0 && value <= UINT32_MAX && Number.isInteger(value)) return this.uint32(value);
    return super.uint64(value);
  }
}

export class WireReader extends BinaryReader {
  /** ts-proto's recursion counter, declared so it is an ordinary field rather than added on the fly. */
  __tsProtoDecodeDepth = 0;

  constructor(private readonly input: Uint8Array) {
    super(input);
  }

  /**
   * Returns a number for varints of up to 49 bits. Typed as the stock result because ts-proto
   * (forceLong=number) hands every uint64 straight to its `longToNumber`, which takes anything with
   * `toString()`. Wider or truncated varints take the stock path (BigInt, bounds errors), so the
   * 2^53 check still rejects what is too wide.
   */
  override uint64(): bigint | string {
    const buf = this.input;
    const last = Math.min(this.pos + FAST_VARINT_BYTES, this.len);
    let value = 0;
    let scale = 1;
    for (let pos = this.pos; pos < last; pos++) {
      const b = buf[pos]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = pos + 1;
        return value as unknown as bigint;
      }
      scale *= 128;
    }
    return super.uint64();
  }
}
