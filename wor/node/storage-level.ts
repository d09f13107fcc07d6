/**
 * Acceptor storage on classic-level (LevelDB), docs/ARCHITECTURE.md §3.3. Every write is `{ sync: true }`: a
 * commit resolves only after LevelDB fsynced its log, and only then is a receipt minted.
 *
 * Keys (storage-keys.ts): the identity, the batch marker, per space its entry, trim mark and range
 * promises (the **resident** entries), and its addresses, in blocks of `BLOCK_SIZE` with one digest
 * entry per block. Values are storage-codec.ts's compact byte forms, each sealed with a CRC-32 of
 * key and payload.
 *
 * `load` (storage-load.ts) reads the markers and the resident entries: its time does not grow
 * with the addresses stored. Addresses are read a block
 * (`BLOCK_SIZE` addresses) at a time, when the node touches them.
 *
 * Damage: the storage refuses (StorageDamaged) a store that is not what it acknowledged.
 * - At load: every synced write is a numbered batch: batch n puts marker n and deletes marker
 *   n - 1, so a sound store holds exactly one marker. LevelDB's log recovery silently drops a record
 *   that fails its checksum (with the rest of its 32 KB block); a dropped batch k leaves marker
 *   k - 1 undeleted beside a later one, so two markers mean a lost batch. After each synced batch its
 *   number goes to the witness (witness.ts), a file outside LevelDB; a store whose marker is below
 *   the witness lost acknowledged batches at its end. The resident entries' seals are checked and
 *   must add up to the digest the marker recorded (storage-digest.ts). A damage mark left by an
 *   earlier run (damage-mark.ts) is refused too.
 * - At every read of a block: every value's seal, and the block's digest (storage-blocks.ts): the
 *   count and the seals of its addresses must match what the last batch that changed it recorded.
 *   Damage found there stops the node (the read fails) and is recorded in the damage mark, so the
 *   directory is refused from then on.
 * A corruption LevelDB itself reports while loading or reading is damage as well. The check uses
 * only what is stored, never LevelDB's info log (LOG): see wor/README.md.
 *
 * Trim: the batch holding the trim mark is written (synced) first, with the digest of the block
 * holding the mark rewritten without the addresses below it; the address keys and block digests
 * below the mark are then range-deleted with `db.clear`, which LevelDB does not sync and which is
 * not part of the batch, and then the space's **cleared mark** is put (not synced either): the next
 * clear, and the one at `load`, start there rather than at the space's first key, so neither walks
 * again over what was deleted (LevelDB keeps a deletion until a compaction drops it, and an
 * iterator steps over each: a restart after trimming millions of addresses would). A crash between
 * the batch and the clear leaves stale keys below the mark; reads skip them, and `load` clears them
 * again (LevelDB's log keeps the order of writes, so a cleared mark that survived a crash comes
 * after the deletes it stands for; keys left below a mark anyway cost only disk space, as reads
 * never look below it), so nothing is lost and nothing below a trim mark comes back.
 */
import { type ChainedBatch, ClassicLevel } from "classic-level";
import { mintReceipt, type Receipt } from "../../paxos/held.ts";
import type { Mutation, SpaceName } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { writeDamageMark } from "./damage-mark.ts";
import { type BlockTerms, BlockDigests, type Changed } from "./storage-blocks.ts";
import { decodeAddress, decodePair, encodeAddress, encodePair, encodeRanges, encodeUint, sealOf, sealed, unseal } from "./storage-codec.ts";
import { Digest, TERM_MASK } from "./storage-digest.ts";
import {
  type AcceptorStorage,
  BLOCK_SIZE,
  type CommitDone,
  type Loaded,
  type NodeIdentity,
  type ReadDone,
  type ReadResult,
  type SpaceCounts,
  StorageDamaged,
  type StoredAddress,
  encodeIdentity,
  storedBytes,
} from "./storage.ts";
import { FORMAT, IDENTITY_KEY, addressKey, asDamage, blockKey, clearedKey, markerKey, prefixEnd, rangesKey, spaceKey, trailingIndex, trimKey } from "./storage-keys.ts";
import { loadResident } from "./storage-load.ts";
import { Witness } from "./witness.ts";

type Db = ClassicLevel<string, Uint8Array>;
type Batch = ChainedBatch<Db, string, Uint8Array>;

const SYNC = { sync: true } as const;

/**
 * LevelDB's own memory, named and bounded (classic-level's defaults, made explicit): its block cache,
 * up to two write buffers (the memtable being filled and the one being flushed), and one table-cache
 * entry per open table file (its index block: about `maxFileSize / blockSize` keys, ~15 KiB for a
 * 2 MiB table). Together about 8 + 2 × 4 + 1,000 × 0.015 ≈ 31 MiB, whatever the store holds.
 */
const LEVEL_LIMITS = Object.freeze({
  /** Uncompressed table blocks LevelDB caches. */
  cacheBytesMax: 8 << 20,
  /** The memtable (and the log LevelDB replays on open: it bounds the restart's recovery too). */
  writeBufferBytesMax: 4 << 20,
  /** Table files held open (each with its index block in memory). */
  openFilesMax: 1_000,
});

export class LevelStorage implements AcceptorStorage {
  readonly blockSize = BLOCK_SIZE;
  /** The number of the last synced batch (its marker is the store's one marker). */
  private batches = 0;
  /** Open from a successful `load` on; every write needs it. */
  private witness: Witness | undefined;
  /** The digest of the resident entries as of the last batch (written into its marker). */
  private digest = new Digest();
  private readonly blocks = new BlockDigests(BLOCK_SIZE);
  /** Each space's trim mark as of the last batch. */
  private readonly marks = new Map<SpaceName, number>();
  /** Each space's cleared mark (`clearBelow`). */
  private readonly cleared = new Map<SpaceName, number>();
  /** A write failed: the disk's state is unknown, and the digests may be ahead of it. */
  private failed = false;
  /** A batch is being written (batches are numbered in order: one at a time). */
  private writing = false;
  /** Synced batches written (for benchmarks). */
  commits = 0;
  /** Blocks read and checked (for tests and benchmarks). */
  blockReads = 0;
  /** Entries `load` read, and the range deletes it ran (tests: a restart reads no address). */
  loadReads = 0;
  loadClears = 0;

  private constructor(
    private readonly db: Db,
    private readonly dir: string,
  ) {}

  /** Open (creating if missing) the LevelDB directory `dir`; rejects with StorageDamaged if LevelDB finds it corrupt. */
  static async open(dir: string): Promise<LevelStorage> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, {
      keyEncoding: "utf8",
      valueEncoding: "view",
      cacheSize: LEVEL_LIMITS.cacheBytesMax,
      writeBufferSize: LEVEL_LIMITS.writeBufferBytesMax,
      maxOpenFiles: LEVEL_LIMITS.openFilesMax,
    });
    try {
      await db.open();
    } catch (e) {
      throw asDamage(e, "LevelDB cannot open it") ?? e;
    }
    return new LevelStorage(db, dir);
  }

  async load(): Promise<Loaded> {
    assert(this.witness === undefined, "storage loaded twice");
    const found = await loadResident(this.db, this.dir);
    this.batches = found.batches;
    this.digest = found.digest;
    for (const { space, counts } of found.spaces) this.blocks.setCounts(space, counts, false);
    for (const [space, mark] of found.marks) this.marks.set(space, mark);
    for (const [space, mark] of found.cleared) this.cleared.set(space, mark);
    this.loadReads = found.read;
    this.witness = found.witnessed.kind === "missing" ? await Witness.create(this.dir) : await Witness.open(this.dir);
    // Keys a crash left below a trim mark (their range delete is not synced).
    for (const [space, mark] of this.marks) if (await this.clearBelow(space, mark)) this.loadClears++;
    return { identity: found.identity, mutations: found.mutations };
  }

  read(space: SpaceName, from: number, to: number, bytesMax: number, done: ReadDone): void {
    this.readBlocks(space, from, to, bytesMax).then(done, (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
  }

  evicted(space: SpaceName, block: number): void {
    this.blocks.release(space, block);
  }

  summary(space: SpaceName): SpaceCounts {
    return this.blocks.countsOf(space);
  }

  commit(batch: readonly Mutation[], done: CommitDone): void {
    if (batch.length === 0) {
      done(mintReceipt(this.batches));
      return;
    }
    this.writeBatch(batch, true).then(done, (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
  }

  async writeIdentity(id: NodeIdentity): Promise<void> {
    await this.write((ops) => this.putEntry(ops, IDENTITY_KEY, sealed(IDENTITY_KEY, new TextEncoder().encode(encodeIdentity(id)))));
  }

  async blocksWithState(space: SpaceName, fromBlock: number, max: number): Promise<readonly number[]> {
    const out: number[] = [];
    for await (const key of this.db.keys({ gte: blockKey(space, fromBlock), lt: prefixEnd(`d/${space}/`), limit: max })) out.push(trailingIndex(key));
    return out;
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      await this.witness?.close();
    }
  }

  /** Raw access for crash-simulation tests: write a batch without the range delete of a trim. */
  async writeWithoutClear(batch: readonly Mutation[]): Promise<void> {
    await this.writeBatch(batch, false);
  }

  /** Count the raw address keys of a space (tests: did the range delete happen?). */
  async countAddressKeys(space: string): Promise<number> {
    let n = 0;
    for await (const _ of this.db.keys({ gte: `a/${space}/`, lt: prefixEnd(`a/${space}/`) })) n++;
    return n;
  }

  /**
   * Read blocks [from, to) of `space` (addresses, block-aligned): check every seal and each block's
   * digest, hold the blocks' terms (writes to them update their digests from these), return the
   * addresses at or above the trim mark. Damage is recorded in the damage mark before it is thrown.
   */
  private async readBlocks(space: SpaceName, from: number, to: number, bytesMax: number): Promise<ReadResult> {
    const size = this.blockSize;
    assert(from % size === 0 && to % size === 0 && from < to, () => `read of [${from}, ${to}) is not whole blocks of ${size}`);
    assert(this.witness !== undefined, "storage read before load");
    const mark = this.marks.get(space) ?? 0;
    const first = Math.max(from, Math.floor(mark / size) * size);
    const found = new Map<number, BlockTerms>();
    const addresses: StoredAddress[] = [];
    let bytes = 0;
    try {
      for await (const [key, value] of this.db.iterator({ gte: addressKey(space, first), lt: addressKey(space, to) })) {
        const index = trailingIndex(key);
        const payload = unseal(key, value);
        if (payload === undefined) throw await this.damaged(`the stored value of address ${index} of space ${space} fails its checksum`);
        if (index < mark) continue; // left by a crash between a trim's batch and its range delete
        const state = decodeAddress(payload);
        addresses.push({ index, state });
        bytes += storedBytes(state);
        if (bytes > bytesMax && to - from > size) return { kind: "tooLarge" };
        const n = Math.floor(index / size);
        let block = found.get(n);
        if (!block) found.set(n, (block = { sum: 0, terms: new Map() }));
        const term = sealOf(value) & TERM_MASK;
        block.terms.set(index, term);
        block.sum = (block.sum + term) & TERM_MASK;
      }
      const checked = new Set<number>();
      for await (const [key, value] of this.db.iterator({ gte: blockKey(space, first / size), lt: blockKey(space, to / size) })) {
        const n = trailingIndex(key);
        const payload = unseal(key, value);
        if (payload === undefined) throw await this.damaged(`the digest of addresses [${n * size}, ${(n + 1) * size}) of space ${space} fails its checksum`);
        const [count, sum] = decodePair(payload);
        const block = found.get(n);
        if ((block?.terms.size ?? 0) !== count || (block?.sum ?? 0) !== sum) throw await this.mismatch(space, n);
        checked.add(n);
      }
      for (const n of found.keys()) if (!checked.has(n)) throw await this.mismatch(space, n);
    } catch (e) {
      const damage = asDamage(e, "LevelDB reports");
      if (damage && !(e instanceof StorageDamaged)) await writeDamageMark(this.dir, damage.message);
      throw damage ?? e;
    }
    for (let n = first / size; n < to / size; n++) {
      if (!this.blocks.holds(space, n)) this.blocks.hold(space, n, found.get(n) ?? { sum: 0, terms: new Map() });
    }
    this.blockReads += (to - first) / size;
    return { kind: "read", addresses };
  }

  private mismatch(space: SpaceName, n: number): Promise<StorageDamaged> {
    const size = this.blockSize;
    return this.damaged(`the stored addresses [${n * size}, ${(n + 1) * size}) of space ${space} do not match their digest: an entry vanished or changed, or an older version of one came back`);
  }

  /** Damage found while serving: record it, so that the directory is refused from now on. */
  private async damaged(why: string): Promise<StorageDamaged> {
    await writeDamageMark(this.dir, why);
    return new StorageDamaged(why);
  }

  /** One synced batch of mutations; then, unless told not to, the range deletes of its trims. */
  private async writeBatch(batch: readonly Mutation[], clear: boolean): Promise<Receipt> {
    await this.holdTouched(batch);
    const unheld = await this.unheldBelowTrims(batch);
    const trims: { space: string; mark: number }[] = [];
    const n = await this.write((ops) => {
      for (const m of batch) {
        if (m.kind === "trim") trims.push({ space: m.space, mark: m.mark });
        this.put(ops, m, unheld);
      }
      for (const c of this.blocks.takeChanged()) this.putChanged(ops, c);
    });
    this.commits++;
    const receipt = mintReceipt(n);
    if (clear) for (const t of trims) await this.clearBelow(t.space, t.mark);
    return receipt;
  }

  /** Read the blocks `batch` writes that the storage does not hold (the node reads them first; tests may not). */
  private async holdTouched(batch: readonly Mutation[]): Promise<void> {
    const size = this.blockSize;
    for (const m of batch) {
      const at = m.kind === "address" ? m.index : m.kind === "trim" && m.mark % size !== 0 ? m.mark : undefined;
      if (at === undefined) continue;
      const n = Math.floor(at / size);
      if (!this.blocks.holds(m.space, n)) await this.readBlocks(m.space, n * size, (n + 1) * size, Number.POSITIVE_INFINITY);
    }
  }

  /** Per trimmed space, the address counts of the blocks a trim drops that the storage does not hold (from their digests). */
  private async unheldBelowTrims(batch: readonly Mutation[]): Promise<Map<SpaceName, Map<number, number>>> {
    const out = new Map<SpaceName, Map<number, number>>();
    const size = this.blockSize;
    for (const m of batch) {
      if (m.kind !== "trim" || out.has(m.space)) continue;
      const counts = new Map<number, number>();
      out.set(m.space, counts);
      const top = Math.max(...batch.filter((t) => t.kind === "trim" && t.space === m.space).map((t) => (t as { mark: number }).mark));
      const from = Math.floor((this.marks.get(m.space) ?? 0) / size);
      for await (const [key, value] of this.db.iterator({ gte: blockKey(m.space, from), lt: blockKey(m.space, Math.floor(top / size)) })) {
        const n = trailingIndex(key);
        const payload = unseal(key, value);
        // Status counts only: a damaged digest of a block being trimmed away counts nothing.
        if (payload !== undefined && !this.blocks.holds(m.space, n)) counts.set(n, decodePair(payload)[0]);
      }
    }
    return out;
  }

  /** Write the next numbered batch (synced) with its marker and digest, then record it in the witness; returns its number. */
  private async write(fill: (ops: Batch) => void): Promise<number> {
    const witness = this.witness;
    assert(witness !== undefined, "storage written before load");
    assert(!this.failed, "storage written after a failed write");
    assert(!this.writing, "one batch at a time");
    this.writing = true;
    const n = this.batches + 1;
    try {
      const ops = this.db.batch();
      fill(ops);
      const marker = markerKey(n);
      ops.put(marker, encodePair(marker, this.digest.value, FORMAT));
      if (this.batches > 0) ops.del(markerKey(this.batches));
      await ops.write(SYNC);
    } catch (e) {
      this.failed = true;
      throw e;
    } finally {
      this.writing = false;
    }
    this.batches = n;
    witness.record(n);
    return n;
  }

  /** Add one mutation to a batch, and its entry to the digests. */
  private put(ops: Batch, m: Mutation, unheld: Map<SpaceName, Map<number, number>>): void {
    switch (m.kind) {
      case "space":
        this.blocks.setCounts(m.space, this.blocks.countsOf(m.space), true);
        break;
      case "address": {
        const key = addressKey(m.space, m.index);
        const value = encodeAddress(key, m.state);
        ops.put(key, value);
        this.blocks.putAddress(m.space, m.index, sealOf(value), m.state.accepted !== undefined);
        break;
      }
      case "ranges":
        if (m.ranges.length > 0) this.putEntry(ops, rangesKey(m.space), encodeRanges(rangesKey(m.space), m.ranges));
        else {
          ops.del(rangesKey(m.space));
          this.digest.del(rangesKey(m.space));
        }
        break;
      case "trim":
        this.putEntry(ops, trimKey(m.space), encodeUint(trimKey(m.space), m.mark));
        this.marks.set(m.space, Math.max(m.mark, this.marks.get(m.space) ?? 0));
        this.blocks.trim(m.space, m.mark, unheld.get(m.space) ?? new Map());
        break;
    }
  }

  /** A block digest or a space's counts the batch changed. */
  private putChanged(ops: Batch, c: Changed): void {
    if (c.kind === "space") {
      const key = spaceKey(c.space);
      this.putEntry(ops, key, encodePair(key, c.counts.addresses, c.counts.highestAccepted + 1));
      return;
    }
    const key = blockKey(c.space, c.block);
    if (c.count === 0) ops.del(key);
    else ops.put(key, encodePair(key, c.count, c.sum));
  }

  private putEntry(ops: Batch, key: string, value: Uint8Array): void {
    ops.put(key, value);
    this.digest.put(key, sealOf(value));
  }

  /**
   * Range-delete the address keys and block digests of `space` from its cleared mark up to `mark`,
   * then move the cleared mark there (not synced; see the file comment). False when nothing was left.
   */
  private async clearBelow(space: string, mark: number): Promise<boolean> {
    const from = this.cleared.get(space) ?? 0;
    if (from >= mark) return false;
    await this.db.clear({ gte: addressKey(space, from), lt: addressKey(space, mark) });
    await this.db.clear({ gte: blockKey(space, Math.floor(from / this.blockSize)), lt: blockKey(space, Math.floor(mark / this.blockSize)) });
    const key = clearedKey(space);
    await this.db.put(key, encodeUint(key, mark));
    this.cleared.set(space, mark);
    return true;
  }
}

