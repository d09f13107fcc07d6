/**
 * The layout of a KV shard's store (docs/ARCHITECTURE.md §4.5; the store: ./shard-store.ts): its
 * keys, its state record, and loading all of it back with every field checked.
 *
 *   "k:" key → a record; "r:" position (16 digits) → a transaction's result (../core/stored.ts);
 *   "x:" txn (16 digits) → "" (a transaction across partitions committed here);
 *   "f:" client → its session's floor (decimal); "q:" client "\0" seq (16 digits) → a batched
 *   transaction's result; "e:" revision (16 digits) → the changes of one write, from that revision
 *   on (../core/stored.ts); "state" → JSON {kv: 1, applied, epoch, binding?, revision, scanFrom,
 *   owner?}; "holds" → which partition of which KV it is.
 */
import type { KvOwner } from "../core/records.ts";
import type { ClassicLevel } from "classic-level";
import { DecodeError } from "../../log/core/bytes.ts";
import { BEFORE_FIRST } from "../../logplayer/core/items.ts";
import type { ShardDurable } from "../../logplayer/core/shard-core.ts";
import type { KvRecord } from "../core/commands.ts";
import type { KvImage, KvSession } from "../core/shard-state.ts";
import type { KvEvent } from "../core/messages.ts";
import { decodeChanges, decodeRecord, decodeResult } from "../core/stored.ts";

export const STATE_KEY = "state";
export const HOLDS_KEY = "holds";
export const recordKey = (key: string): string => `k:${key}`;
/** Results sort by position: positions < 2^53 < 10^16. */
export const resultKey = (position: number): string => `r:${String(position).padStart(16, "0")}`;
/** A transaction across partitions committed here. */
export const committedKey = (txn: number): string => `x:${String(txn).padStart(16, "0")}`;
/** A client's session floor, and the result of its batched transaction `seq` (client ids hold no "\0"). */
export const floorKey = (client: string): string => `f:${client}`;
export const sessionResultKey = (client: string, seq: number): string => `q:${client}\u0000${String(seq).padStart(16, "0")}`;
/** The changes of one write, by its first revision (./shard-changes.ts). */
export const changesKey = (revision: number): string => `e:${String(revision).padStart(16, "0")}`;

/** One operation of a store's synced batch. */
export type Op = { type: "put"; key: string; value: Uint8Array } | { type: "del"; key: string };

/** The latest changes a store holds, and the first revision of each of its blobs (./shard-changes.ts). */
export interface LoadedChanges {
  /** In revision order, up to the store's revision, with no revision missing. */
  readonly events: readonly KvEvent[];
  readonly blobs: readonly number[];
}

const text = new TextDecoder();
const utf8 = new TextEncoder();
/** `b` as a plain Uint8Array (classic-level hands out Buffers, whose `slice` is a view). */
export const plain = (b: Uint8Array): Uint8Array => (Buffer.isBuffer(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : b);

/** A store holding something that is not a KV shard's (damaged, or another kind of store): refused, never overwritten. */
export class KvShardStoreDamaged extends Error {
  override readonly name = "KvShardStoreDamaged";
}

export interface Loaded extends ShardDurable {
  readonly revision: number;
  /** Where the partition's participant scans from after a restart (0 in a store written before). */
  readonly scanFrom: number;
  /** The owner entry of the highest map epoch applied (none: map epoch 0). */
  readonly owner?: KvOwner;
}

export function parseState(bytes: Uint8Array, dir: string): Loaded {
  let o: { kv?: unknown; applied?: unknown; epoch?: unknown; revision?: unknown; scanFrom?: unknown; binding?: { group?: unknown; shard?: unknown; shards?: unknown }; owner?: { epoch?: unknown; node?: unknown } };
  try {
    o = JSON.parse(text.decode(bytes)) as typeof o;
  } catch {
    throw new KvShardStoreDamaged(`KV shard store ${dir}: its state is not readable`);
  }
  if (o === null || typeof o !== "object" || o.kv !== 1) throw new KvShardStoreDamaged(`KV shard store ${dir}: its state is not a KV shard's (another kind of store?)`);
  const b = o.binding;
  const okInt = (x: unknown, least: number): x is number => Number.isSafeInteger(x) && (x as number) >= least;
  if (!okInt(o.applied, BEFORE_FIRST) || !okInt(o.epoch, 0) || !okInt(o.revision, 0) || (o.scanFrom !== undefined && !okInt(o.scanFrom, 0)) || (b !== undefined && (b === null || typeof b.group !== "string" || !okInt(b.shard, 0) || !okInt(b.shards, 1))) || (o.owner !== undefined && (o.owner === null || !okInt(o.owner.epoch, 1) || typeof o.owner.node !== "string"))) {
    throw new KvShardStoreDamaged(`KV shard store ${dir}: its state is malformed`);
  }
  const binding = b && { group: b.group as string, shard: b.shard as number, shards: b.shards as number };
  const owner = o.owner && { epoch: o.owner.epoch as number, node: o.owner.node as string };
  return { applied: o.applied, epoch: o.epoch, revision: o.revision, scanFrom: (o.scanFrom as number | undefined) ?? 0, ...(binding ? { binding } : {}), ...(owner ? { owner } : {}) };
}


/** The state record's bytes. */
export const encodeState = (s: Loaded): Uint8Array =>
  utf8.encode(JSON.stringify({ kv: 1, applied: s.applied, epoch: s.epoch, ...(s.binding ? { binding: s.binding } : {}), revision: s.revision, scanFrom: s.scanFrom, ...(s.owner ? { owner: s.owner } : {}) }));

/**
 * Everything a store at `dir` holds, checked (a store holding anything else is refused, never
 * overwritten): its durable state, the partition's image, and the positions whose results it keeps.
 * `holds` is recorded by the first open and checked by the later ones.
 */
export async function loadShard(db: ClassicLevel<string, Uint8Array>, dir: string, holds: string | undefined, changesMax: number): Promise<{ state: ShardDurable; image: KvImage; stored: number[]; changes: LoadedChanges }> {
  const damaged = (why: string) => new KvShardStoreDamaged(`KV shard store ${dir}: ${why}`);
  const raw = await db.get(STATE_KEY);
  if (raw === undefined) {
    for await (const key of db.keys({ limit: 2 })) if (key !== HOLDS_KEY) throw damaged(`it holds keys (${JSON.stringify(key)}) but no KV shard state (another kind of store?)`);
  }
  const loaded = raw === undefined ? { applied: BEFORE_FIRST, epoch: 0, revision: 0, scanFrom: 0 } : parseState(raw, dir);
  if (holds !== undefined) {
    const held = await db.get(HOLDS_KEY);
    if (held === undefined) await db.put(HOLDS_KEY, utf8.encode(holds), { sync: true });
    else if (text.decode(held) !== holds) throw new KvShardStoreDamaged(`KV shard store ${dir} holds ${text.decode(held)}, not ${holds}: give each node its own data directory`);
  }
  const { revision, scanFrom, owner, ...state } = loaded as Loaded;
  const entries: [string, KvRecord][] = [];
  for await (const [key, value] of db.iterator({ gte: "k:", lt: "k;" })) {
    const record = decodeRecord(plain(value));
    if (record instanceof DecodeError) throw damaged(`the record at ${JSON.stringify(key)} is malformed (${record.message})`);
    if (record.modRevision > revision) throw damaged(`the record at ${JSON.stringify(key)} has revision ${record.modRevision}, above the store's ${revision}`);
    entries.push([key.slice(2), record]);
  }
  const number = (key: string, from: number): number => {
    const n = Number(key.slice(from));
    if (!Number.isSafeInteger(n) || n < 0) throw damaged(`a malformed key ${JSON.stringify(key)}`);
    return n;
  };
  const committed: number[] = [];
  for await (const key of db.keys({ gte: "x:", lt: "x;" })) committed.push(number(key, 2));
  const sessions = new Map<string, { floor: number; results: [number, Uint8Array][] }>();
  for await (const [key, value] of db.iterator({ gte: "f:", lt: "f;" })) {
    const floor = Number(text.decode(value));
    if (!Number.isSafeInteger(floor) || floor < 0) throw damaged(`the session floor at ${JSON.stringify(key)} is malformed`);
    sessions.set(key.slice(2), { floor, results: [] });
  }
  for await (const [key, value] of db.iterator({ gte: "q:", lt: "q;" })) {
    const cut = key.indexOf("\u0000");
    const session = cut > 2 ? sessions.get(key.slice(2, cut)) : undefined;
    if (!session) throw damaged(`a session result ${JSON.stringify(key)} of no session`);
    const bytes = plain(value).slice();
    if (decodeResult(bytes) instanceof DecodeError) throw damaged(`the result at ${JSON.stringify(key)} is malformed`);
    session.results.push([number(key, cut + 1), bytes]);
  }
  const stored: number[] = [];
  for await (const key of db.keys({ gte: "r:", lt: "r;" })) {
    const position = number(key, 2);
    if (position > state.applied) throw damaged(`a result key ${JSON.stringify(key)} beyond its applied position ${state.applied}`);
    stored.push(position);
  }
  const list: KvSession[] = [...sessions].map(([client, s]) => ({ client, ...s }));
  const changes = await loadChanges(db, revision, changesMax, damaged);
  return { state, image: { applied: state.applied, revision, entries, results: new Map(), committed, scanFrom, sessions: list, ...(owner ? { owner } : {}) }, stored, changes };
}

/**
 * The latest changes on disk, newest blob first back, until `max` are loaded: only while they run
 * without a gap up to `revision` (a store written for a while by a version that kept none has a gap:
 * the changes before it are not served).
 */
async function loadChanges(db: ClassicLevel<string, Uint8Array>, revision: number, max: number, damaged: (why: string) => Error): Promise<LoadedChanges> {
  const blobs: number[] = [];
  const loaded: KvEvent[][] = [];
  let count = 0;
  /** The revision the next blob back must end just below; undefined once loading stopped. */
  let next: number | undefined = revision + 1;
  // One pass from the newest blob back: every blob is listed (a later write deletes the old ones).
  for await (const [key, value] of db.iterator({ gte: "e:", lt: "e;", reverse: true })) {
    const first = Number(key.slice(2));
    if (!Number.isSafeInteger(first) || first < 1 || first > revision) throw damaged(`a malformed changes key ${JSON.stringify(key)}`);
    blobs.push(first);
    if (next === undefined || count >= max) continue;
    const events = decodeChanges(plain(value));
    if (events instanceof DecodeError) throw damaged(`the changes at revision ${first} are malformed (${events.message})`);
    if (events[0]?.revision !== first || events.at(-1)!.revision !== next - 1) {
      next = undefined;
      continue;
    }
    loaded.push(events);
    count += events.length;
    next = first;
  }
  return { events: loaded.reverse().flat(), blobs: blobs.reverse() };
}
