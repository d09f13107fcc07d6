/** Named limits of the register protocol (docs/ARCHITECTURE.md §7.6). Codecs and cores both enforce them. */
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
});

/** The grammar of every name users give (spaces, cluster ids), as words for error messages. */
export const NAME_GRAMMAR = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A name of `NAME_GRAMMAR`. */
export const isName = (name: string): boolean => NAME.test(name);
const ALLOC_PREFIX = "$alloc/";
const META_PREFIX = "$meta/";

/** A space users may create and address. */
export const isUserSpaceName = isName;

/** The space holding the allocation register of each segment of `space` (address = segment number). */
export const allocSpaceOf = (space: string): string => ALLOC_PREFIX + space;

/** The space whose address 0 holds `space`'s metadata (kind, geometry): written once, at creation. */
export const metaSpaceOf = (space: string): string => META_PREFIX + space;

/** Every space an acceptor creates for user space `space`: the space itself and its system spaces. */
export const spacesOf = (space: string): readonly string[] => [space, allocSpaceOf(space), metaSpaceOf(space)];

/** The user space a system space belongs to, or undefined for a user space. */
export function ownerOfSystemSpace(name: string): string | undefined {
  for (const prefix of [ALLOC_PREFIX, META_PREFIX]) if (name.startsWith(prefix)) return name.slice(prefix.length);
  return undefined;
}

/** Any space an acceptor may hold: a user space or one of its system spaces. */
export const isSpaceName = (name: string): boolean => {
  const owner = ownerOfSystemSpace(name);
  return isUserSpaceName(owner ?? name);
};

export const isIndex = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;
