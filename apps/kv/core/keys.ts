/**
 * Keys of the KV (docs/ARCHITECTURE.md §4.5): non-empty UTF-8 strings, ordered as their UTF-8 bytes
 * are (so a scan here, in classic-level and in any client agrees), and the ranges over them.
 */
import { utf8Length } from "../../log/core/bytes.ts";

export const KEY_LIMITS = Object.freeze({
  /** Bytes of a key in UTF-8. */
  keyBytesMax: 1_024,
});

/** A range of keys: [from, to); `to` undefined: to the end of the key space. `from` "" is its start. */
export interface KeyRange {
  readonly from: string;
  readonly to?: string;
}

/**
 * -1, 0 or 1 as `a` sorts before, with or after `b` in UTF-8 byte order, which is code point order.
 * JavaScript's `<` compares UTF-16 code units, which differs for a surrogate pair against U+E000..U+FFFF:
 * those code units are moved so that pairs sort above the basic plane.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) < codePointRank(y) ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

const codePointRank = (unit: number): number => (unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit);

/** Whether `key` is in `range`. */
export const inRange = (key: string, range: KeyRange): boolean => compareKeys(key, range.from) >= 0 && (range.to === undefined || compareKeys(key, range.to) < 0);

/** The range of every key that starts with `prefix` ("" : every key). */
export function prefixRange(prefix: string): KeyRange {
  // The first string after every string that starts with the prefix: the prefix with its last code
  // point raised by one (dropping code points that cannot be raised).
  const points = [...prefix];
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) return { from: prefix, to: points.join("") + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1) };
  }
  return { from: prefix };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `key` is not a key, or undefined. */
export function keyProblem(key: unknown, what = "key"): string | undefined {
  if (typeof key !== "string" || key.length === 0) return `${what} must be a non-empty string`;
  const bytes = utf8Length(key);
  if (bytes > KEY_LIMITS.keyBytesMax) return `${what} of ${bytes} bytes (limit ${KEY_LIMITS.keyBytesMax})`;
  if (LONE_SURROGATE.test(key)) return `${what} is not well-formed UTF-16 (a lone surrogate)`;
  return undefined;
}

/** Why `range` is not a range, or undefined. */
export function rangeProblem(range: KeyRange): string | undefined {
  if (typeof range.from !== "string") return "a range's from must be a string";
  if (range.from !== "") {
    const p = keyProblem(range.from, "a range's from");
    if (p) return p;
  }
  if (range.to === undefined) return undefined;
  const p = keyProblem(range.to, "a range's to");
  if (p) return p;
  return compareKeys(range.from, range.to) < 0 ? undefined : `a range's from (${JSON.stringify(range.from)}) must sort before its to (${JSON.stringify(range.to)})`;
}
