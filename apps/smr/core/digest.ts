/**
 * A snapshot's digest (docs/ARCHITECTURE.md §4.2): 64 bits over a sequence of chunks (each chunk's
 * length, then its bytes), computed as the chunks stream by, so equal chunk sequences give equal
 * digests wherever they are computed (when stored, fetched, restored). Two 32-bit multiplicative
 * lanes over 32-bit words: not cryptographic; it detects damage and divergence, not an adversary.
 */
export class Digest {
  private a = 0x811c9dc5;
  private b = 0x2f8e47b1;

  update(bytes: Uint8Array): this {
    let { a, b } = this;
    const n = bytes.length;
    a = mix(a ^ n, 0x01000193);
    b = mix(b ^ n, 0x5bd1e995);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const w = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
      a = mix(a ^ w, 0x01000193);
      b = mix(b ^ w, 0x5bd1e995);
    }
    for (; i < n; i++) {
      a = mix(a ^ bytes[i]!, 0x01000193);
      b = mix(b ^ bytes[i]!, 0x5bd1e995);
    }
    this.a = a;
    this.b = b;
    return this;
  }

  /** 16 hex digits. */
  value(): string {
    const hex = (x: number) => (x >>> 0).toString(16).padStart(8, "0");
    return hex(mix(this.a ^ (this.b >>> 7), 0x85ebca6b)) + hex(mix(this.b ^ (this.a >>> 11), 0xc2b2ae35));
  }
}

const mix = (x: number, prime: number): number => {
  const y = Math.imul(x, prime);
  return y ^ (y >>> 15);
};

/** The digest of a whole chunk sequence. */
export function digestOf(chunks: Iterable<Uint8Array>): string {
  const d = new Digest();
  for (const c of chunks) d.update(c);
  return d.value();
}
