/**
 * The digest of a store (storage-level.ts): the sum, modulo 2^30, of the seals of every live entry,
 * kept up to date as batches are written and recorded in each batch's marker. At load the sum is
 * recomputed from what LevelDB returns; a difference means an entry vanished, changed, appeared, or
 * an older version of it came back. That is damage the seals alone cannot see: LevelDB keeps a
 * sequence number and a value/deletion tag beside every key, outside the seal, and reads table
 * blocks without checking them, so one flipped bit can turn an entry into a deletion, let an older
 * version of an address win over the newer one, or end a block's scan early, all silently.
 *
 * "Live": every entry but the batch marker (which records the digest) and the address keys below
 * their space's trim mark (the trim's batch drops them from the digest; their range delete is not
 * synced, so they may still be on disk).
 *
 * To replace an entry's term the digest keeps every live entry's term: one small integer per
 * address (seals are cut to 30 bits so that V8 stores them inline), next to the core state that
 * holds the whole address anyway.
 */
import { assert } from "../../verify/runtime/assert.ts";

const TERM_MASK = 0x3fff_ffff;

export class Digest {
  private sum = 0;
  /** Address terms by space, then index. */
  private readonly addresses = new Map<string, Map<number, number>>();
  /** Every other live entry's term, by key (identity, spaces, trim marks, range promises). */
  private readonly others = new Map<string, number>();

  /** The digest now (a 30-bit integer). */
  get value(): number {
    return this.sum;
  }

  /** An address entry written (or found) with this seal. */
  putAddress(space: string, index: number, seal: number): void {
    let terms = this.addresses.get(space);
    if (!terms) this.addresses.set(space, (terms = new Map()));
    const term = seal & TERM_MASK;
    this.add(term - (terms.get(index) ?? 0));
    terms.set(index, term);
  }

  /** Any other entry written (or found) with this seal. */
  put(key: string, seal: number): void {
    const term = seal & TERM_MASK;
    this.add(term - (this.others.get(key) ?? 0));
    this.others.set(key, term);
  }

  del(key: string): void {
    this.add(-(this.others.get(key) ?? 0));
    this.others.delete(key);
  }

  /** A trim of `space` at `mark`: its addresses below the mark leave the digest. */
  trim(space: string, mark: number): void {
    const terms = this.addresses.get(space);
    if (!terms) return;
    for (const [index, term] of terms) {
      if (index >= mark) continue;
      this.add(-term);
      terms.delete(index);
    }
  }

  private add(delta: number): void {
    assert(Number.isInteger(delta), "digest terms are integers");
    this.sum = (this.sum + delta) & TERM_MASK;
  }
}
