/** Named limits of the register protocol (DESIGN.md §7.6). Codecs and cores both enforce them. */
export const LIMITS = Object.freeze({
  /** Addresses one prepare or read may cover. */
  rangeMax: 1 << 20,
  /** Entries in one accept, indexes in one commit. */
  entriesMax: 16_384,
  /** Bytes of one register value. */
  valueBytesMax: 1 << 20,
  /** Range-promise rows one space may hold at an acceptor (one per takeover, compacted). */
  rangeRowsMax: 4_096,
  /** Largest address index: an exact JS integer. */
  indexMax: Number.MAX_SAFE_INTEGER,
  /** Frames in one envelope. */
  framesMax: 4_096,
  /** Bytes of one envelope on the wire. */
  envelopeBytesMax: 16 << 20,
});

const USER_SPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ALLOC_PREFIX = "$alloc/";

/** A space users may create and address. */
export const isUserSpaceName = (name: string): boolean => USER_SPACE.test(name);

/** Any space an acceptor may hold: a user space or the allocation registers of one. */
export const isSpaceName = (name: string): boolean =>
  isUserSpaceName(name) || (name.startsWith(ALLOC_PREFIX) && isUserSpaceName(name.slice(ALLOC_PREFIX.length)));

/** The space holding the allocation register of each segment of `space` (address = segment number). */
export const allocSpaceOf = (space: string): string => ALLOC_PREFIX + space;

export const isIndex = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;
