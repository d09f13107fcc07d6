/**
 * The digests of a store's blocks of addresses and the counts of its spaces (storage-level.ts), as
 * the storage keeps them in memory between batches.
 *
 * A **block** is `BLOCK_SIZE` consecutive addresses of one space. Its digest entry holds how many of
 * its addresses have state and the sum, modulo 2^30, of their seals. Every batch that changes an
 * address rewrites its block's digest in the same synced LevelDB batch; every read of a block
 * recomputes both from the addresses LevelDB returns and refuses the block when they differ: an
 * address that vanished (its entry turned into a deletion), an older version of one that came back,
 * one that appeared. The storage holds the seals (30-bit terms) of the blocks the node holds (it
 * read them), so a write updates a digest without reading anything; `release` forgets a block the
 * node evicted.
 *
 * A space's **counts** (addresses with state, highest index with a value) are status only; they
 * live in the space's own entry, resident and covered by the marker's digest (storage-digest.ts).
 */
import type { SpaceName } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { TERM_MASK } from "./storage-digest.ts";
import type { SpaceCounts } from "./storage.ts";

export interface BlockTerms {
  sum: number;
  /** Address → its seal's term. */
  readonly terms: Map<number, number>;
}

/** A block digest or space count this batch changed, to be written with it. */
export type Changed =
  | { readonly kind: "block"; readonly space: SpaceName; readonly block: number; readonly count: number; readonly sum: number }
  | { readonly kind: "space"; readonly space: SpaceName; readonly counts: SpaceCounts };

const NO_COUNTS: SpaceCounts = Object.freeze({ addresses: 0, highestAccepted: -1 });

export class BlockDigests {
  private readonly held = new Map<SpaceName, Map<number, BlockTerms>>();
  private readonly counts = new Map<SpaceName, SpaceCounts>();
  private readonly dirtyBlocks = new Map<SpaceName, Set<number>>();
  private readonly dirtySpaces = new Set<SpaceName>();

  constructor(readonly blockSize: number) {}

  holds(space: SpaceName, block: number): boolean {
    return this.held.get(space)?.has(block) ?? false;
  }

  /** Hold a block as a read found it. */
  hold(space: SpaceName, block: number, terms: BlockTerms): void {
    let blocks = this.held.get(space);
    if (!blocks) this.held.set(space, (blocks = new Map()));
    blocks.set(block, terms);
  }

  release(space: SpaceName, block: number): void {
    this.held.get(space)?.delete(block);
  }

  countsOf(space: SpaceName): SpaceCounts {
    return this.counts.get(space) ?? NO_COUNTS;
  }

  /** A space's counts as loaded, or created (zero). */
  setCounts(space: SpaceName, counts: SpaceCounts, changed: boolean): void {
    this.counts.set(space, counts);
    if (changed) this.dirtySpaces.add(space);
  }

  /** An address written with this seal (its block is held). */
  putAddress(space: SpaceName, index: number, seal: number, accepted: boolean): void {
    const n = Math.floor(index / this.blockSize);
    const block = this.held.get(space)?.get(n);
    assert(block, () => `${space}[${index}] written in block ${n}, which the storage does not hold`);
    const term = seal & TERM_MASK;
    const old = block.terms.get(index);
    block.sum = (block.sum - (old ?? 0) + term) & TERM_MASK;
    block.terms.set(index, term);
    this.dirty(space, n);
    const c = this.countsOf(space);
    if (old === undefined || (accepted && index > c.highestAccepted)) {
      this.setCounts(space, { addresses: c.addresses + (old === undefined ? 1 : 0), highestAccepted: accepted ? Math.max(c.highestAccepted, index) : c.highestAccepted }, true);
    }
  }

  /**
   * `space` is trimmed below `mark`: the held blocks below it are forgotten and leave the count; so
   * do the blocks not held, whose counts `unheld` gives (read from their digests, and used up
   * here); the block holding the mark (held) loses its addresses below it.
   */
  trim(space: SpaceName, mark: number, unheld: Map<number, number>): void {
    const markBlock = Math.floor(mark / this.blockSize);
    let gone = 0;
    const blocks = this.held.get(space);
    for (const [n, block] of blocks ?? []) {
      if (n >= markBlock) continue;
      gone += block.terms.size;
      blocks!.delete(n);
    }
    for (const [n, count] of unheld) {
      if (n >= markBlock) continue;
      gone += count;
      unheld.delete(n);
    }
    const partial = blocks?.get(markBlock);
    assert(partial || mark % this.blockSize === 0, () => `${space} trimmed at ${mark}, in block ${markBlock}, which the storage does not hold`);
    if (partial) {
      for (const [index, term] of partial.terms) {
        if (index >= mark) continue;
        partial.sum = (partial.sum - term) & TERM_MASK;
        partial.terms.delete(index);
        gone++;
      }
      this.dirty(space, markBlock);
    }
    const c = this.countsOf(space);
    assert(c.addresses >= gone, () => `${space}: trimming ${gone} of ${c.addresses} addresses`);
    this.setCounts(space, { addresses: c.addresses - gone, highestAccepted: c.highestAccepted < mark ? -1 : c.highestAccepted }, true);
    for (const n of this.dirtyBlocks.get(space) ?? []) if (n < markBlock) this.dirtyBlocks.get(space)!.delete(n);
  }

  /** What the batch being built changed (block digests, space counts); forgets it. */
  takeChanged(): Changed[] {
    const out: Changed[] = [];
    for (const [space, ns] of this.dirtyBlocks) {
      for (const n of ns) {
        const b = this.held.get(space)!.get(n)!;
        out.push({ kind: "block", space, block: n, count: b.terms.size, sum: b.sum });
      }
    }
    for (const space of this.dirtySpaces) out.push({ kind: "space", space, counts: this.countsOf(space) });
    this.dirtyBlocks.clear();
    this.dirtySpaces.clear();
    return out;
  }

  private dirty(space: SpaceName, block: number): void {
    let set = this.dirtyBlocks.get(space);
    if (!set) this.dirtyBlocks.set(space, (set = new Set()));
    set.add(block);
  }
}
