/**
 * The acceptor node's cache of addresses (docs/ARCHITECTURE.md §3.3): which addresses the core state
 * (paxos/acceptor.ts) holds in memory. The unit is the **block**, `blockSize` consecutive addresses
 * of one space (the storage's unit of reads and damage checks, storage.ts): a block is held with
 * every address in it that has state, or not at all, so `covers` is a lookup per block and the core
 * can assert that what it touches is resident.
 *
 * Bounded by `bytesMax` (estimated: `ENTRY_BYTES` per address plus its value, `BLOCK_BYTES` per
 * block). Over it, the least recently used blocks are evicted, except **pinned** ones: a block that
 * a mutation not yet durable touched stays until the submission carrying it is durable (dropping it
 * earlier and reading it back would forget a promise or a vote the node already made). Evicting a
 * block forgets the volatile committed hints of its addresses, exactly as a crash does (they are
 * hints: a value is chosen whether or not an acceptor knows it).
 *
 * Everything else the core holds stays resident and is small: per space its trim mark and range
 * promises (at most `LIMITS.rangeRowsMax` rows of 32 bytes).
 */
import type { Residency, SpaceState } from "../../paxos/acceptor.ts";
import type { AddressState, SpaceName } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { planted } from "../../verify/runtime/planted.ts";
import { type AcceptorStorage, type StoredAddress, storedBytes } from "./storage.ts";

export const CACHE_LIMITS = Object.freeze({
  /** Estimated bytes of cached addresses and blocks a node holds before it evicts. */
  bytesMax: 64 << 20,
});

/**
 * Estimated memory of one cached address besides its value bytes (its objects and map entry).
 * Measured on Node 24 (heap used after a full GC, 100,000 cached addresses of 100-byte values): about
 * 370 bytes of heap per address, and each value's bytes plus about 20 outside it.
 */
const ENTRY_BYTES = 400;
/** Estimated memory of one cached block's bookkeeping. */
const BLOCK_BYTES = 160;

const weight = (s: AddressState | undefined): number => (s ? ENTRY_BYTES + (s.accepted?.value.byteLength ?? 0) : 0);

interface Block {
  readonly space: SpaceName;
  readonly n: number;
  bytes: number;
  /** The submission whose durability releases this block (0: never pinned). */
  pinnedUntil: number;
}

/** A run of blocks [from, to) of one space (block numbers). */
export type BlockRun = readonly [from: number, to: number];

export class AddressCache implements Residency {
  private readonly spaces = new Map<SpaceName, Map<number, Block>>();
  /** Every held block, least recently used first (a Set keeps insertion order). */
  private readonly lru = new Set<Block>();
  private held = 0;
  /** Blocks evicted so far (for tests and benchmarks). */
  evictions = 0;

  constructor(
    readonly blockSize: number,
    readonly bytesMax: number,
  ) {
    assert(Number.isSafeInteger(blockSize) && blockSize > 0, "blockSize must be a positive integer");
    assert(bytesMax >= 0, "bytesMax must not be negative");
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.held;
  }

  get blocks(): number {
    return this.lru.size;
  }

  covers(space: SpaceName, from: number, to: number): boolean {
    const blocks = this.spaces.get(space);
    if (!blocks) return false;
    for (let b = Math.floor(from / this.blockSize); b * this.blockSize < to; b++) if (!blocks.has(b)) return false;
    return true;
  }

  /** The runs of blocks not held among those overlapping `ranges` (address ranges [from, to)), ascending. */
  missing(space: SpaceName, ranges: readonly (readonly [number, number])[]): BlockRun[] {
    const blocks = this.spaces.get(space);
    const want = new Set<number>();
    for (const [from, to] of ranges) {
      for (let b = Math.floor(from / this.blockSize); b * this.blockSize < to; b++) if (!blocks?.has(b)) want.add(b);
    }
    const sorted = [...want].sort((x, y) => x - y);
    const runs: [number, number][] = [];
    for (const b of sorted) {
      const last = runs.at(-1);
      if (last && last[1] === b) last[1] = b + 1;
      else runs.push([b, b + 1]);
    }
    return runs;
  }

  /** Blocks [run) of `space` were read: hold them with the addresses read (those at or above its trim mark). */
  adopt(name: SpaceName, space: SpaceState, run: BlockRun, addresses: readonly StoredAddress[]): void {
    let blocks = this.spaces.get(name);
    if (!blocks) this.spaces.set(name, (blocks = new Map()));
    for (let n = run[0]; n < run[1]; n++) {
      assert(!blocks.has(n), () => `block ${n} of ${name} read while held`);
      const block: Block = { space: name, n, bytes: BLOCK_BYTES, pinnedUntil: 0 };
      blocks.set(n, block);
      this.lru.add(block);
      this.held += BLOCK_BYTES;
    }
    for (const a of addresses) {
      const n = Math.floor(a.index / this.blockSize);
      assert(n >= run[0] && n < run[1], () => `read returned ${name}[${a.index}] outside blocks [${run[0]}, ${run[1]})`);
      if (a.index < space.trimMark) continue;
      space.addresses.set(a.index, a.state);
      const w = weight(a.state);
      blocks.get(n)!.bytes += w;
      this.held += w;
    }
  }

  /**
   * Read `runs` of blocks of `space` through `storage`, one after another, and hold them. Once
   * `bytesMax` of stored state (`storedBytes`) was read and runs remain, or the storage finds a
   * multi-block run over what is left, it stops: `tooLarge` (whole runs read so far stay held).
   */
  readIn(storage: AcceptorStorage, name: SpaceName, space: SpaceState, runs: readonly BlockRun[], bytesMax: number, done: (r: "read" | "tooLarge" | Error) => void): void {
    let left = bytesMax;
    const next = (k: number): void => {
      if (k === runs.length || left < 0) {
        done(k < runs.length ? "tooLarge" : "read");
        return;
      }
      const run = runs[k]!;
      storage.read(name, run[0] * this.blockSize, run[1] * this.blockSize, left, (r) => {
        if (r instanceof Error || r.kind === "tooLarge") {
          done(r instanceof Error ? r : "tooLarge");
          return;
        }
        for (const a of r.addresses) left -= storedBytes(a.state);
        this.adopt(name, space, run, r.addresses);
        next(k + 1);
      });
    };
    next(0);
  }

  /** The blocks overlapping [from, to) were used now: they become the most recently used. */
  touch(space: SpaceName, from: number, to: number): void {
    const blocks = this.spaces.get(space);
    if (!blocks) return;
    for (let b = Math.floor(from / this.blockSize); b * this.blockSize < to; b++) {
      const block = blocks.get(b);
      if (!block) continue;
      this.lru.delete(block);
      this.lru.add(block);
    }
  }

  /** A step changed an address from `before` to `after`; the block stays until submission `pin` is durable. */
  changed(space: SpaceName, index: number, before: AddressState | undefined, after: AddressState, pin: number): void {
    const block = this.blockOf(space, index);
    const delta = weight(after) - weight(before);
    block.bytes += delta;
    this.held += delta;
    block.pinnedUntil = Math.max(block.pinnedUntil, pin);
  }

  /** A step trimmed `space` below `mark`: blocks wholly below it go (nothing of them is read again), the block holding it is pinned. */
  trimmed(name: SpaceName, space: SpaceState, mark: number, pin: number): void {
    const blocks = this.spaces.get(name);
    if (!blocks) return;
    const markBlock = Math.floor(mark / this.blockSize);
    for (const [n, block] of blocks) {
      if (n < markBlock) this.drop(blocks, block);
    }
    const partial = blocks.get(markBlock);
    if (!partial) return;
    let bytes = BLOCK_BYTES;
    for (let i = markBlock * this.blockSize; i < (markBlock + 1) * this.blockSize; i++) bytes += weight(space.addresses.get(i));
    this.held += bytes - partial.bytes;
    partial.bytes = bytes;
    partial.pinnedUntil = Math.max(partial.pinnedUntil, pin);
  }

  /**
   * Evict least recently used blocks that nothing undurable pins (every submission up to `durable`
   * is durable) until the cache is within `bytesMax`; `evicted` hears of each.
   */
  evict(durable: number, spaces: ReadonlyMap<SpaceName, SpaceState>, evicted: (space: SpaceName, block: number) => void): void {
    if (this.held <= this.bytesMax) return;
    for (const block of this.lru) {
      if (this.held <= this.bytesMax) return;
      if (block.pinnedUntil > durable && !planted("evictUndurable")) continue;
      const space = spaces.get(block.space);
      assert(space, () => `cached block of unknown space ${block.space}`);
      for (let i = block.n * this.blockSize; i < (block.n + 1) * this.blockSize; i++) space.addresses.delete(i);
      this.drop(this.spaces.get(block.space)!, block);
      this.evictions++;
      evicted(block.space, block.n);
    }
  }

  private drop(blocks: Map<number, Block>, block: Block): void {
    blocks.delete(block.n);
    this.lru.delete(block);
    this.held -= block.bytes;
  }

  private blockOf(space: SpaceName, index: number): Block {
    const block = this.spaces.get(space)?.get(Math.floor(index / this.blockSize));
    assert(block, () => `${space}[${index}] changed but its block is not held`);
    return block;
  }
}
