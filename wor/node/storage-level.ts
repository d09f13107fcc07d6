/**
 * Acceptor storage on classic-level (LevelDB), DESIGN.md §3.3. Every write is `{ sync: true }`: a
 * commit resolves only after LevelDB fsynced its log, and only then is a receipt minted.
 *
 * Key layout (utf8 keys; fixed-width hex indexes so key order is index order):
 *   i                          this data directory's identity (JSON)
 *   s/<space>                  the space exists (empty value)
 *   t/<space>                  trim mark (8 bytes)
 *   r/<space>                  every range promise of the space, one value
 *   a/<space>/<16 hex digits>  one address's state
 * One space's keys never share a prefix with another's: user names hold no '/', and allocation
 * spaces are "$alloc/<name>", while '$' never starts a user name.
 *
 * Values are a compact binary form (the hot path is ~100-byte values, thousands per second):
 *   address: flags(1: bit0 accepted, bit1 committed) promised(16) [acceptedBallot(16) value(rest)]
 *   ballot:  round(8) proposer(8), each a big-endian uint64 that is an exact JS integer
 *   ranges:  count(4) then count × from(8) to(8) ballot(16)
 *
 * Trim: the batch holding the trim mark is written (synced) first; the address keys below the mark
 * are then range-deleted with `db.clear`, which LevelDB does not sync and which is not part of the
 * batch. A crash between the two leaves stale keys below the mark; `load` ignores them (and clears
 * them again), so nothing is lost and nothing below a trim mark comes back.
 */
import { ClassicLevel } from "classic-level";
import type { Ballot } from "../../paxos/ballot.ts";
import { mintReceipt, type Receipt } from "../../paxos/held.ts";
import type { AddressState, Mutation, RangePromise } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import {
  type AcceptorStorage,
  type Loaded,
  type NodeIdentity,
  assertLoadedState,
  decodeIdentity,
  encodeIdentity,
  replay,
} from "./storage.ts";

type Db = ClassicLevel<string, Uint8Array>;
type Op = { type: "put"; key: string; value: Uint8Array } | { type: "del"; key: string };

const IDENTITY_KEY = "i";
const SYNC = { sync: true } as const;
const EMPTY = new Uint8Array(0);
const TWO_32 = 2 ** 32;
const FLAG_ACCEPTED = 1;
const FLAG_COMMITTED = 2;

export const indexKey = (index: number): string => index.toString(16).padStart(16, "0");
export const addressKey = (space: string, index: number): string => `a/${space}/${indexKey(index)}`;
const spaceKey = (space: string) => `s/${space}`;
const trimKey = (space: string) => `t/${space}`;
const rangesKey = (space: string) => `r/${space}`;
/** The keys strictly after every key starting with `prefix` ("/" + 1 = "0"). */
const prefixEnd = (prefix: string) => prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);

export class LevelStorage implements AcceptorStorage {
  private batches = 0;
  /** Synced batches written (for benchmarks). */
  commits = 0;

  private constructor(private readonly db: Db) {}

  /** Open (creating if missing) the LevelDB directory `dir`. */
  static async open(dir: string): Promise<LevelStorage> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
    await db.open();
    return new LevelStorage(db);
  }

  async load(): Promise<Loaded> {
    const raw = await this.db.get(IDENTITY_KEY);
    const identity = raw === undefined ? undefined : decodeIdentity(new TextDecoder().decode(raw));
    const mutations: Mutation[] = [];
    const spaces = new Set<string>();
    for await (const key of this.db.keys({ gte: "s/", lt: "s0" })) {
      const space = key.slice(2);
      spaces.add(space);
      mutations.push({ kind: "space", space });
    }
    const marks = new Map<string, number>();
    for await (const [key, value] of this.db.iterator({ gte: "t/", lt: "t0" })) {
      const space = key.slice(2);
      assert(spaces.has(space), () => `trim mark for unknown space ${space}`);
      const mark = readUint(value, 0);
      marks.set(space, mark);
      if (mark > 0) mutations.push({ kind: "trim", space, mark });
    }
    for await (const [key, value] of this.db.iterator({ gte: "r/", lt: "r0" })) {
      const space = key.slice(2);
      assert(spaces.has(space), () => `range promises for unknown space ${space}`);
      mutations.push({ kind: "ranges", space, ranges: decodeRanges(value) });
    }
    const stale = new Set<string>();
    for await (const [key, value] of this.db.iterator({ gte: "a/", lt: "a0" })) {
      const space = key.slice(2, -17);
      const index = Number.parseInt(key.slice(-16), 16);
      assert(key[key.length - 17] === "/" && Number.isSafeInteger(index), () => `malformed address key ${key}`);
      assert(spaces.has(space), () => `address ${index} of unknown space ${space}`);
      if (index < (marks.get(space) ?? 0)) {
        stale.add(space); // left by a crash between a trim's batch and its range delete
        continue;
      }
      mutations.push({ kind: "address", space, index, state: decodeAddress(value) });
    }
    for (const space of stale) await this.clearBelow(space, marks.get(space)!);
    assertLoadedState(replay(mutations));
    return { identity, mutations };
  }

  /**
   * One synced LevelDB batch. Built as a chained batch: each put crosses into the binding once with
   * its key and value, where an array batch has the binding look up every op's fields by name.
   */
  async commit(batch: readonly Mutation[]): Promise<Receipt> {
    if (batch.length === 0) return mintReceipt(this.batches);
    const ops = this.db.batch();
    const trims: { space: string; mark: number }[] = [];
    for (const m of batch) {
      switch (m.kind) {
        case "space":
          ops.put(spaceKey(m.space), EMPTY);
          break;
        case "address":
          ops.put(addressKey(m.space, m.index), encodeAddress(m.state));
          break;
        case "ranges":
          if (m.ranges.length === 0) ops.del(rangesKey(m.space));
          else ops.put(rangesKey(m.space), encodeRanges(m.ranges));
          break;
        case "trim":
          ops.put(trimKey(m.space), writeUint(new Uint8Array(8), 0, m.mark));
          trims.push({ space: m.space, mark: m.mark });
          break;
      }
    }
    await ops.write(SYNC);
    this.commits++;
    const receipt = mintReceipt(++this.batches);
    for (const t of trims) await this.clearBelow(t.space, t.mark);
    return receipt;
  }

  async writeIdentity(id: NodeIdentity): Promise<void> {
    await this.db.put(IDENTITY_KEY, new TextEncoder().encode(encodeIdentity(id)), SYNC);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** Range-delete the address keys of `space` below `mark` (not synced; see the file comment). */
  private async clearBelow(space: string, mark: number): Promise<void> {
    await this.db.clear({ gte: `a/${space}/`, lt: addressKey(space, mark) });
  }

  /** Raw access for crash-simulation tests: write the keys a trim batch writes, without the clear. */
  async writeWithoutClear(batch: readonly Mutation[]): Promise<void> {
    const ops: Op[] = batch.map((m) => {
      assert(m.kind === "trim" || m.kind === "address", "writeWithoutClear takes trims and addresses");
      return m.kind === "trim"
        ? { type: "put", key: trimKey(m.space), value: writeUint(new Uint8Array(8), 0, m.mark) }
        : { type: "put", key: addressKey(m.space, m.index), value: encodeAddress(m.state) };
    });
    await this.db.batch(ops, SYNC);
  }

  /** Count the raw address keys of a space (tests: did the range delete happen?). */
  async countAddressKeys(space: string): Promise<number> {
    let n = 0;
    for await (const _ of this.db.keys({ gte: `a/${space}/`, lt: prefixEnd(`a/${space}/`) })) n++;
    return n;
  }
}

// ---- binary values ----

/** Big-endian uint64 of an exact JS integer, byte by byte (the hot path: no DataView, no closure). */
function writeUint(buf: Uint8Array, at: number, x: number): Uint8Array {
  if (!Number.isSafeInteger(x) || x < 0) assert(false, `not an exact uint: ${x}`);
  const hi = Math.floor(x / TWO_32);
  const lo = x >>> 0;
  buf[at] = hi >>> 24;
  buf[at + 1] = hi >>> 16;
  buf[at + 2] = hi >>> 8;
  buf[at + 3] = hi;
  buf[at + 4] = lo >>> 24;
  buf[at + 5] = lo >>> 16;
  buf[at + 6] = lo >>> 8;
  buf[at + 7] = lo;
  return buf;
}

function readUint(buf: Uint8Array, at: number): number {
  assert(buf.byteLength >= at + 8, "truncated value");
  const hi = ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
  const lo = ((buf[at + 4]! << 24) | (buf[at + 5]! << 16) | (buf[at + 6]! << 8) | buf[at + 7]!) >>> 0;
  const x = hi * TWO_32 + lo;
  assert(Number.isSafeInteger(x), "stored integer is not exact");
  return x;
}

function writeBallot(buf: Uint8Array, at: number, b: Ballot): void {
  writeUint(buf, at, b.round);
  writeUint(buf, at + 8, b.proposer);
}

const readBallot = (buf: Uint8Array, at: number): Ballot => ({ round: readUint(buf, at), proposer: readUint(buf, at + 8) });

export function encodeAddress(s: AddressState): Uint8Array {
  const size = s.accepted ? 33 + s.accepted.value.byteLength : 17;
  const buf = new Uint8Array(size);
  buf[0] = (s.accepted ? FLAG_ACCEPTED : 0) | (s.committed ? FLAG_COMMITTED : 0);
  writeBallot(buf, 1, s.promised);
  if (s.accepted) {
    writeBallot(buf, 17, s.accepted.ballot);
    buf.set(s.accepted.value, 33);
  }
  return buf;
}

export function decodeAddress(buf: Uint8Array): AddressState {
  const flags = buf[0];
  assert(flags !== undefined && (flags & ~(FLAG_ACCEPTED | FLAG_COMMITTED)) === 0, "bad address flags");
  const promised = readBallot(buf, 1);
  const committed = (flags & FLAG_COMMITTED) !== 0;
  if ((flags & FLAG_ACCEPTED) === 0) {
    assert(buf.byteLength === 17, "address without a value has trailing bytes");
    return { promised, committed };
  }
  return { promised, accepted: { ballot: readBallot(buf, 17), value: new Uint8Array(buf.subarray(33)) }, committed };
}

export function encodeRanges(ranges: readonly RangePromise[]): Uint8Array {
  const buf = new Uint8Array(4 + 32 * ranges.length);
  new DataView(buf.buffer).setUint32(0, ranges.length);
  ranges.forEach((r, k) => {
    writeUint(buf, 4 + 32 * k, r.from);
    writeUint(buf, 12 + 32 * k, r.to);
    writeBallot(buf, 20 + 32 * k, r.ballot);
  });
  return buf;
}

export function decodeRanges(buf: Uint8Array): RangePromise[] {
  const count = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0);
  assert(buf.byteLength === 4 + 32 * count, "range promises value has the wrong length");
  const out: RangePromise[] = [];
  for (let k = 0; k < count; k++) {
    out.push({ from: readUint(buf, 4 + 32 * k), to: readUint(buf, 12 + 32 * k), ballot: readBallot(buf, 20 + 32 * k) });
  }
  return out;
}
