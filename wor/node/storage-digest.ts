/**
 * The digest of a store's resident entries (storage-level.ts): the sum, modulo 2^30, of the seals
 * of the identity, every space, trim mark and range-promise entry, kept up to date as batches are
 * written and recorded in each batch's marker. `load` reads exactly these entries and recomputes
 * the sum; a difference means one vanished, changed, appeared, or an older version of it came back.
 * That is damage the seals alone cannot see: LevelDB keeps a sequence number and a value/deletion
 * tag beside every key, outside the seal, and reads table blocks without checking them, so one
 * flipped bit can turn an entry into a deletion or let an older version win, silently.
 *
 * Addresses are not in it (a load does not read them): each block of addresses has a digest of its
 * own (storage-blocks.ts), checked whenever the block is read.
 */
import { assert } from "../../verify/runtime/assert.ts";

export const TERM_MASK = 0x3fff_ffff;

export class Digest {
  private sum = 0;
  private readonly terms = new Map<string, number>();

  /** The digest now (a 30-bit integer). */
  get value(): number {
    return this.sum;
  }

  /** An entry written (or found) with this seal. */
  put(key: string, seal: number): void {
    const term = seal & TERM_MASK;
    this.add(term - (this.terms.get(key) ?? 0));
    this.terms.set(key, term);
  }

  del(key: string): void {
    this.add(-(this.terms.get(key) ?? 0));
    this.terms.delete(key);
  }

  private add(delta: number): void {
    assert(Number.isInteger(delta), "digest terms are integers");
    this.sum = (this.sum + delta) & TERM_MASK;
  }
}
