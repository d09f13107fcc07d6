/**
 * A space's metadata (docs/ARCHITECTURE.md §3.1): what kind of space it is and its geometry, chosen once when
 * the space is created and never changed. It lives in a write-once register (address 0 of the
 * space's `$meta/` system space), so every client reads the same answer from the cluster, and a
 * verb of one kind can refuse a space of another before it writes anything.
 *
 * Stored as JSON (readable in `worm inspect`); `decodeSpaceMeta` is the gateway: bytes that are not
 * a valid metadata document decode to a typed error and never throw.
 */
import { OWNER_BALLOT } from "../../paxos/ballot.ts";
import { metaSpaceOf } from "../../paxos/limits.ts";
import type { Request } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";

/** The kinds of space: the raw register layer and each app that owns a space. */
export const SPACE_KINDS = ["registers", "log", "smr", "txn", "kv", "logplayer", "configurations"] as const;
export type SpaceKind = (typeof SPACE_KINDS)[number];

export interface SpaceMeta {
  readonly kind: SpaceKind;
  /** Addresses per segment (the unit of allocation and trimming): a power of two. */
  readonly segmentSize: number;
  /** The acceptor group the space lives in (docs/ARCHITECTURE.md §3.6); none: the main group. */
  readonly group?: string;
  /** Or the groups it is striped over: segment k on `stripe[k mod n]` ("main" may be one). */
  readonly stripe?: readonly string[];
}

/** The groups a space lives on: the ones it is striped over, or its one group ("main" when its
 *  metadata names none). */
export const groupsOf = (meta: Pick<SpaceMeta, "group" | "stripe">): readonly string[] => meta.stripe ?? [meta.group ?? "main"];

/** "on group g1", "striped over main, g1": where a space lives, for messages. */
export const describePlacement = (meta: Pick<SpaceMeta, "group" | "stripe">): string => (meta.stripe ? `striped over ${meta.stripe.join(", ")}` : `on group ${meta.group ?? "main"}`);

/** Groups a space may be striped over, at most. */
const STRIPE_GROUPS_MAX = 16;

/** A group's name: letters, digits, '-' and '_', up to 32 characters ("main" is the cluster file's acceptors). */
export const GROUP_NAME = /^[A-Za-z0-9_-]{1,32}$/;

const SPACE_META_LIMITS = Object.freeze({
  /** Largest segment size a space may have. */
  segmentSizeMax: 1 << 20,
  /** Bytes of an encoded metadata document. */
  bytesMax: 256,
});

const FORMAT_VERSION = 1;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && (n & (n - 1)) === 0;

/** `undefined` if `meta` may describe a space, else why not. */
export function spaceMetaProblem(meta: { readonly kind: unknown; readonly segmentSize: unknown; readonly group?: unknown; readonly stripe?: unknown }): string | undefined {
  if (meta.group !== undefined && (typeof meta.group !== "string" || !GROUP_NAME.test(meta.group) || meta.group === "main")) {
    return `group must be a name of letters, digits, '-' and '_' (up to 32), other than "main" (got ${JSON.stringify(meta.group)})`;
  }
  if (meta.stripe !== undefined) {
    const s = meta.stripe;
    const names = Array.isArray(s) && s.every((g) => typeof g === "string" && GROUP_NAME.test(g));
    if (!names || s.length < 2 || s.length > STRIPE_GROUPS_MAX || new Set(s).size !== s.length) {
      return `stripe must be 2 to ${STRIPE_GROUPS_MAX} distinct group names (got ${JSON.stringify(s)})`;
    }
    if (meta.group !== undefined) return "a space lives on one group or is striped over several, not both";
  }
  if (typeof meta.kind !== "string" || !(SPACE_KINDS as readonly string[]).includes(meta.kind)) {
    return `kind must be one of ${SPACE_KINDS.join(", ")} (got ${JSON.stringify(meta.kind)})`;
  }
  const n = meta.segmentSize;
  if (typeof n !== "number" || !isPowerOfTwo(n) || n > SPACE_META_LIMITS.segmentSizeMax) {
    return `segment size must be a power of two from 1 to ${SPACE_META_LIMITS.segmentSizeMax} (got ${JSON.stringify(n)})`;
  }
  return undefined;
}

export function encodeSpaceMeta(meta: SpaceMeta): Uint8Array {
  const problem = spaceMetaProblem(meta);
  assert(problem === undefined, () => `encoding invalid space metadata: ${problem}`);
  return utf8.encode(JSON.stringify({ v: FORMAT_VERSION, kind: meta.kind, segmentSize: meta.segmentSize, ...(meta.group ? { group: meta.group } : {}), ...(meta.stripe ? { stripe: meta.stripe } : {}) }));
}

export type DecodedSpaceMeta = { readonly ok: true; readonly meta: SpaceMeta } | { readonly ok: false; readonly message: string };

export function decodeSpaceMeta(bytes: Uint8Array): DecodedSpaceMeta {
  if (bytes.byteLength > SPACE_META_LIMITS.bytesMax) return { ok: false, message: `${bytes.byteLength} bytes (limit ${SPACE_META_LIMITS.bytesMax})` };
  let v: unknown;
  try {
    v = JSON.parse(utf8Strict.decode(bytes));
  } catch {
    return { ok: false, message: "not a JSON document" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { ok: false, message: "not a JSON object" };
  const o = v as Record<string, unknown>;
  if (o.v !== FORMAT_VERSION) return { ok: false, message: `unknown format version ${JSON.stringify(o.v)}` };
  const problem = spaceMetaProblem({ kind: o.kind, segmentSize: o.segmentSize, group: o.group, stripe: o.stripe });
  if (problem) return { ok: false, message: problem };
  const placed = { ...(o.group !== undefined ? { group: o.group as string } : {}), ...(o.stripe !== undefined ? { stripe: o.stripe as string[] } : {}) };
  return { ok: true, meta: { kind: o.kind as SpaceKind, segmentSize: o.segmentSize as number, ...placed } };
}


/** "a register space", "a log", ...: how errors name a kind. */
export function kindNoun(kind: SpaceKind): string {
  switch (kind) {
    case "registers":
      return "a register space";
    case "log":
      return "a log";
    case "smr":
      return "a replicated state machine";
    case "txn":
      return "a transaction space";
    case "kv":
      return "a key-value space";
    case "logplayer":
      return "a LogPlayer group";
    case "configurations":
      return "the cluster's configuration chain";
  }
}

/** One line for output: "log, segment size 4096". */
export const describeSpaceMeta = (meta: SpaceMeta): string =>
  `${meta.kind}, segment size ${meta.segmentSize}${meta.group !== undefined || meta.stripe !== undefined ? `, ${describePlacement(meta)}` : ""}`;

/**
 * The acceptor requests that leave `space` created with `meta` chosen (accepted at the owner ballot
 * by every acceptor that applies them). Setup outside the protocol, for simulations and tests that
 * must not spend a ballot of the clients under test.
 */
export function spaceSetup(space: string, meta: SpaceMeta): Request[] {
  const at = metaSpaceOf(space);
  return [
    { kind: "createSpace", space },
    { kind: "accept", space: at, ballot: OWNER_BALLOT, entries: [{ index: 0, value: encodeSpaceMeta(meta) }] },
    { kind: "commit", space: at, ballot: OWNER_BALLOT, indexes: [0] },
  ];
}
