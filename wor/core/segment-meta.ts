/**
 * A segment's allocation metadata (docs/ARCHITECTURE.md §3.4): the value an owner writes, once, into the
 * allocation register of each segment it claims (wor/core/segments.ts). The platform's fields are
 * the **owner** (unique per incarnation: whoever owns the last allocated segment owns the space's
 * next ones) and the **sealed-below mark** (every segment below this one was sealed when it was
 * claimed, so a new owner seals only the suffix from the last segment's mark). Beside them each app
 * keeps its own fields (`A`: the log's sequencer address and which sealed segments hold entries).
 *
 * The usual encoding is one JSON object, additive: readers ignore fields they do not know, and a
 * field that is absent or malformed means "not known". Nothing here trusts the bytes it decodes.
 */

/** What a segment's metadata says: the app's fields `A` and the platform's. */
export type SegmentMeta<A extends object = object> = A & {
  readonly owner?: string;
  readonly sealedBelow?: number;
};

/** Metadata as an owner writes it: the owner is always named. */
export type ClaimMeta<A extends object = object> = SegmentMeta<A> & { readonly owner: string };

export interface SegmentMetaCodec<A extends object = object> {
  encode(meta: ClaimMeta<A>): Uint8Array;
  /** Never throws: unreadable bytes decode to what could be read (maybe nothing). */
  decode(bytes: Uint8Array): SegmentMeta<A>;
}

/** An app's fields in a JSON segment-metadata object. */
export interface MetaFields<A extends object> {
  /** The JSON key of the owner ("owner" unless the app wrote another before; the log's is "sequencer"). */
  readonly ownerKey?: string;
  /** The app's fields of `meta` as JSON fields (never the owner's key or "sealedBelow"). */
  encode(meta: A): Record<string, unknown>;
  /** The app's fields out of a parsed object: leave out what is absent or malformed. */
  decode(fields: Readonly<Record<string, unknown>>): A;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/** A segment number (or a count of segments): an exact non-negative integer. */
export const isSegment = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

/** One JSON object per segment: the owner under `ownerKey`, the mark under "sealedBelow", the app's
 *  fields beside them. */
export function jsonSegmentMeta<A extends object>(fields: MetaFields<A>): SegmentMetaCodec<A> {
  const ownerKey = fields.ownerKey ?? "owner";
  return {
    encode: (meta) =>
      utf8.encode(
        JSON.stringify({
          [ownerKey]: meta.owner,
          ...fields.encode(meta),
          ...(meta.sealedBelow !== undefined ? { sealedBelow: meta.sealedBelow } : {}),
        }),
      ),
    decode: (bytes) => {
      const o = parseObject(bytes);
      const owner = o[ownerKey];
      const { sealedBelow } = o;
      return {
        ...fields.decode(o),
        ...(typeof owner === "string" ? { owner } : {}),
        ...(isSegment(sealedBelow) ? { sealedBelow } : {}),
      } as SegmentMeta<A>;
    },
  };
}

/** The JSON object `bytes` hold, or an empty one when they hold none. */
function parseObject(bytes: Uint8Array): Readonly<Record<string, unknown>> {
  try {
    const v: unknown = JSON.parse(utf8d.decode(bytes));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
