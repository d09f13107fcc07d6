/**
 * The key layout of the classic-level storage (storage-level.ts), and how a key is named in a damage
 * report. Fixed-width hex numbers, so that key order is numeric order:
 *   i                          this data directory's identity (JSON)
 *   b/<16 hex digits>          the batch marker: the last synced batch's number; its value, the
 *                              digest of the resident entries and the format
 *   c/<space>                  the cleared mark: every address key and block digest of the space
 *                              below it is range-deleted (not synced, outside the digest: a hint)
 *   s/<space>                  the space exists; its value, its counts (status)
 *   t/<space>                  trim mark
 *   r/<space>                  every range promise of the space, one value
 *   d/<space>/<16 hex digits>  one block's digest: its addresses with state, the sum of their seals
 *   a/<space>/<16 hex digits>  one address's state
 * One space's keys never share a prefix with another's: user names hold no '/', and allocation
 * spaces are "$alloc/<name>", while '$' never starts a user name.
 */
import { StorageDamaged } from "./storage.ts";

/** The layout above; a marker of an older one (no block digests) is refused. */
export const FORMAT = 2;
export const IDENTITY_KEY = "i";

const hex16 = (n: number): string => n.toString(16).padStart(16, "0");
export const addressKey = (space: string, index: number): string => `a/${space}/${hex16(index)}`;
export const blockKey = (space: string, block: number): string => `d/${space}/${hex16(block)}`;
export const markerKey = (batch: number) => `b/${hex16(batch)}`;
export const spaceKey = (space: string) => `s/${space}`;
export const trimKey = (space: string) => `t/${space}`;
export const clearedKey = (space: string) => `c/${space}`;
export const rangesKey = (space: string) => `r/${space}`;
/** The keys strictly after every key starting with `prefix` ("/" + 1 = "0"). */
export const prefixEnd = (prefix: string) => prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
/** The number an address or block key ends with. */
export const trailingIndex = (key: string): number => Number.parseInt(key.slice(-16), 16);

/** A key in the user's nouns (for damage reports). */
export function describeKey(key: string): string {
  if (key === IDENTITY_KEY) return "the identity";
  const rest = key.slice(2);
  switch (key.slice(0, 2)) {
    case "b/":
      return "the batch marker";
    case "s/":
      return `space ${rest}`;
    case "t/":
      return `the trim mark of space ${rest}`;
    case "r/":
      return `the range promises of space ${rest}`;
    default:
      return `key ${JSON.stringify(key)}`;
  }
}

/** A corruption LevelDB reported (on this error or its cause) as StorageDamaged; undefined otherwise. */
export function asDamage(e: unknown, what: string): StorageDamaged | undefined {
  if (e instanceof StorageDamaged) return e;
  for (let c = e as { code?: unknown; message?: unknown; cause?: unknown } | undefined; c; c = c.cause as typeof c) {
    if (c.code === "LEVEL_CORRUPTION") return new StorageDamaged(`${what} ${String(c.message)}`);
  }
  return undefined;
}
