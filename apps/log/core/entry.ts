/**
 * What a log slot holds (docs/ARCHITECTURE.md §4.1): an entry (idempotency key, stream tags each with a
 * backpointer, payload) or a fill marker. Hand-written binary codec: slot values cross the register
 * layer as opaque bytes, so this is the log's gateway; `decodeSlot` returns a typed error for bytes
 * it cannot read and never throws.
 *
 *   fill:  [0x02]                                        (one byte: every filler writes equal bytes)
 *   entry: [0x01] key.client(str) key.seq(varint) streams(varint n) n × (tag(str) prev(varint)) payload(rest)
 *   str = varint byte length + UTF-8; prev = 0 none, 1 unknown, slot + 2 otherwise
 */
import { LIMITS } from "../../../paxos/limits.ts";
import { assert } from "../../../verify/runtime/assert.ts";
import { ByteWriter, DecodeError, readAll, strLength, utf8Length, varintLength } from "./bytes.ts";

/** Who appended, and which of its appends: a retried append carries the same key. */
export interface IdempotencyKey {
  readonly client: string;
  readonly seq: number;
}

/** Where the previous entry of a stream is: a slot, none (first of its stream), or unknown
 *  (the sequencer that issued the token did not know; readers scan back from here). */
export type Backpointer = number;
export const PREV_NONE: Backpointer = -1;
export const PREV_UNKNOWN: Backpointer = -2;

export interface StreamLink {
  readonly tag: string;
  readonly prev: Backpointer;
}

export interface LogEntry {
  readonly key: IdempotencyKey;
  readonly streams: readonly StreamLink[];
  readonly payload: Uint8Array;
}

export type SlotValue = { readonly kind: "entry"; readonly entry: LogEntry } | { readonly kind: "fill" };

export const ENTRY_LIMITS = Object.freeze({
  /** Bytes of a stream tag or a key's client id. */
  nameBytesMax: 64,
  /** Stream tags on one entry. */
  streamsPerEntryMax: 16,
});

const KIND_ENTRY = 0x01;
const KIND_FILL = 0x02;
export const FILL_BYTES: Uint8Array = Uint8Array.of(KIND_FILL);
/** Do these bytes hold the fill marker (without decoding an entry)? */
export const isFill = (bytes: Uint8Array): boolean => bytes.length === 1 && bytes[0] === KIND_FILL;

/** `undefined` if `name` is a valid stream tag or client id, else why not. */
export function nameProblem(what: string, name: string): string | undefined {
  const n = utf8Length(name);
  if (n === 0) return `${what} is empty`;
  if (n > ENTRY_LIMITS.nameBytesMax) return `${what} is ${n} bytes (limit ${ENTRY_LIMITS.nameBytesMax})`;
  return undefined;
}

/** `undefined` if the entry may be appended, else why not. */
export function entryProblem(e: { readonly key: IdempotencyKey; readonly streams: readonly string[] }): string | undefined {
  const c = nameProblem("idempotency key client", e.key.client);
  if (c) return c;
  if (!Number.isSafeInteger(e.key.seq) || e.key.seq < 0) return `idempotency key seq ${e.key.seq} is not a non-negative integer`;
  if (e.streams.length > ENTRY_LIMITS.streamsPerEntryMax) return `${e.streams.length} stream tags (limit ${ENTRY_LIMITS.streamsPerEntryMax})`;
  if (new Set(e.streams).size !== e.streams.length) return "a stream tag is repeated";
  for (const s of e.streams) {
    const p = nameProblem("stream tag", s);
    if (p) return p;
  }
  return undefined;
}

/**
 * `undefined` if the entry fits one slot (LIMITS.valueBytesMax) whatever backpointers its token
 * brings, else why not: checked before anything is sent.
 */
export function entryTooLarge(e: { readonly key: IdempotencyKey; readonly streams: readonly string[] }, payload: Uint8Array): string | undefined {
  let bytes = headBytes(e.key, e.streams.length) + payload.length;
  for (const tag of e.streams) bytes += strLength(tag) + varintLength(Number.MAX_SAFE_INTEGER);
  if (bytes <= LIMITS.valueBytesMax) return undefined;
  return `entry of ${bytes} bytes (payload ${payload.length}) exceeds the ${LIMITS.valueBytesMax} bytes a log slot holds (payload, key and stream tags)`;
}

export const sameKey = (a: IdempotencyKey, b: IdempotencyKey): boolean => a.client === b.client && a.seq === b.seq;
export const keyString = (k: IdempotencyKey): string => `${k.client}#${k.seq}`;

/** Bytes of an entry's kind, key and stream count. */
const headBytes = (key: IdempotencyKey, streams: number): number => 1 + strLength(key.client) + varintLength(key.seq) + varintLength(streams);

export function encodeEntry(e: LogEntry): Uint8Array {
  assert(entryProblem({ key: e.key, streams: e.streams.map((s) => s.tag) }) === undefined, () => `entry ${keyString(e.key)} is valid`);
  let size = headBytes(e.key, e.streams.length) + e.payload.length;
  for (const s of e.streams) size += strLength(s.tag) + varintLength(s.prev + 2);
  const w = new ByteWriter(size);
  w.byte(KIND_ENTRY);
  w.str(e.key.client);
  w.varint(e.key.seq);
  w.varint(e.streams.length);
  for (const s of e.streams) {
    assert(s.prev >= PREV_UNKNOWN && Number.isSafeInteger(s.prev), () => `backpointer ${s.prev} is a slot, none or unknown`);
    w.str(s.tag);
    w.varint(s.prev + 2);
  }
  w.bytes(e.payload);
  return w.done();
}

/** Bytes read from a slot → what the slot holds, or why they are not a log slot value. */
export function decodeSlot(bytes: Uint8Array): SlotValue | DecodeError {
  return readAll(bytes, (r): SlotValue | DecodeError => {
    const kind = r.byte();
    if (kind === KIND_FILL) return bytes.length === 1 ? { kind: "fill" } : new DecodeError("fill marker with trailing bytes");
    if (kind !== KIND_ENTRY) return new DecodeError(`unknown slot kind ${kind}`);
    const client = r.str("key client", ENTRY_LIMITS.nameBytesMax);
    const seq = r.varint();
    const n = r.varint();
    if (n > ENTRY_LIMITS.streamsPerEntryMax) return new DecodeError(`${n} stream tags`);
    const streams: StreamLink[] = [];
    for (let i = 0; i < n; i++) streams.push({ tag: r.str("stream tag", ENTRY_LIMITS.nameBytesMax), prev: r.varint() - 2 });
    return { kind: "entry", entry: { key: { client, seq }, streams, payload: r.rest() } };
  });
}
