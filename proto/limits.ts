/** Limits of the wire itself, every service alike (docs/ARCHITECTURE.md §7.6). */
export const WIRE_LIMITS = Object.freeze({
  /** Frames in one envelope. */
  framesMax: 4_096,
  /** Bytes of one envelope on the wire. */
  envelopeBytesMax: 16 << 20,
});
