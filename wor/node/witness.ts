/**
 * The witness (docs/ARCHITECTURE.md §3.3): a small file beside LevelDB's own files that records the last batch
 * the storage acknowledged, so that a store missing acknowledged batches at its end (a truncated log,
 * the store's files replaced by an older copy) is refused at load instead of served.
 *
 * It never claims more than was durably synced: a batch is recorded only after LevelDB synced it.
 * The record itself is a plain write, not synced (no second fsync per batch): after a kill -9 the
 * page cache still holds it; after a power loss the disk may hold an older record. Either way it is
 * a lower bound of what the store holds, so `store ≥ witness` never fails on a sound store. A clean
 * close syncs it, so a stopped acceptor's witness is exact.
 *
 * Layout: two 16-byte slots at offsets 0 and 512 (different disk sectors), written alternately by
 * batch parity; a slot is "WWIT" (4) · batch (8, big-endian) · CRC-32 of those 12 bytes (4). A torn
 * slot write leaves the other slot, one batch older; the witness is the highest valid slot. The file
 * is created (both slots 0) and synced with its directory before the store holds any batch, and it
 * never changes size afterwards: a missing or short witness beside a non-empty store is damage.
 */
import { writeSync } from "node:fs";
import { type FileHandle, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { assert } from "../../verify/runtime/assert.ts";

export const WITNESS_FILE = "WITNESS";
const SLOT_BYTES = 16;
const SLOT_STRIDE = 512;
const FILE_BYTES = SLOT_STRIDE + SLOT_BYTES;
const MAGIC = 0x57574954; // "WWIT"
const TWO_32 = 2 ** 32;

export type WitnessRead = { readonly kind: "missing" } | { readonly kind: "damaged"; readonly why: string } | { readonly kind: "found"; readonly batch: number };

/** Read the witness of the storage in `dir`. */
export async function readWitness(dir: string): Promise<WitnessRead> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(dir, WITNESS_FILE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
    throw e;
  }
  if (bytes.byteLength !== FILE_BYTES) return { kind: "damaged", why: `the witness file has ${bytes.byteLength} bytes, not ${FILE_BYTES}` };
  const slots = [decodeSlot(bytes, 0), decodeSlot(bytes, SLOT_STRIDE)].filter((b) => b !== undefined);
  if (slots.length === 0) return { kind: "damaged", why: "both slots of the witness file fail their checksum" };
  return { kind: "found", batch: Math.max(...slots) };
}

/** The open witness of one storage; `record` after each synced batch, `close` syncs. */
export class Witness {
  private readonly slot = new Uint8Array(SLOT_BYTES);
  private readonly view = new DataView(this.slot.buffer);

  private constructor(private readonly file: FileHandle) {}

  /**
   * Create the witness of an empty store (both slots at batch 0), durably and atomically: written
   * and synced under a temporary name, renamed, and the directory synced. A crash leaves no witness
   * or a whole one, never a short one.
   */
  static async create(dir: string): Promise<Witness> {
    const tmp = join(dir, `${WITNESS_FILE}.tmp`);
    const file = await open(tmp, "w");
    try {
      const w = new Witness(file);
      w.write(0, 0);
      w.write(0, SLOT_STRIDE);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, join(dir, WITNESS_FILE));
    const parent = await open(dir, "r");
    try {
      await parent.sync();
    } finally {
      await parent.close();
    }
    return Witness.open(dir);
  }

  /** Open an existing witness for recording. */
  static async open(dir: string): Promise<Witness> {
    return new Witness(await open(join(dir, WITNESS_FILE), "r+"));
  }

  /** Record that `batch` is synced (a plain write into the slot of its parity; see the file comment). */
  record(batch: number): void {
    this.write(batch, (batch % 2) * SLOT_STRIDE);
  }

  /** Sync the last record and close. */
  async close(): Promise<void> {
    try {
      await this.file.sync();
    } finally {
      await this.file.close();
    }
  }

  private write(batch: number, at: number): void {
    assert(Number.isSafeInteger(batch) && batch >= 0, () => `bad batch number ${batch}`);
    this.view.setUint32(0, MAGIC);
    this.view.setUint32(4, Math.floor(batch / TWO_32));
    this.view.setUint32(8, batch >>> 0);
    this.view.setUint32(12, crc32(this.slot.subarray(0, 12)));
    const written = writeSync(this.file.fd, this.slot, 0, SLOT_BYTES, at);
    assert(written === SLOT_BYTES, () => `short witness write (${written} bytes)`);
  }
}

function decodeSlot(bytes: Uint8Array, at: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, SLOT_BYTES);
  if (view.getUint32(0) !== MAGIC || view.getUint32(12) !== crc32(bytes.subarray(at, at + 12))) return undefined;
  const batch = view.getUint32(4) * TWO_32 + view.getUint32(8);
  return Number.isSafeInteger(batch) ? batch : undefined;
}
