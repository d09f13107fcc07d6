/**
 * A replica's local checkpoints (docs/ARCHITECTURE.md §4.2) on classic-level: each snapshot's chunks
 * under `c!<position>!<n>`, written in batches as they stream by (never the whole snapshot in
 * memory), then its metadata `m!<position>` (digest, bytes, chunk count) in a synced write that
 * makes the batches before it durable too: a checkpoint with metadata is whole. The latest
 * `KEPT` are kept (a peer may be fetching the older one); chunks a crash left without metadata are
 * dropped at open.
 */
import { ClassicLevel } from "classic-level";
import { Digest } from "../core/digest.ts";

/** Checkpoints kept. */
const KEPT = 2;
/** Chunks written per batch. */
const CHUNKS_PER_BATCH = 8;

export interface StoredMeta {
  readonly position: number;
  readonly digest: string;
  readonly bytes: number;
  readonly chunks: number;
}

const pos = (p: number): string => p.toString(16).padStart(14, "0");
const chunkKey = (p: number, n: number): string => `c!${pos(p)}!${n.toString(16).padStart(8, "0")}`;
const metaKey = (p: number): string => `m!${pos(p)}`;
const utf8 = new TextEncoder();
const text = new TextDecoder();

export class CheckpointStore {
  private constructor(
    private readonly db: ClassicLevel<string, Uint8Array>,
    private metas: StoredMeta[],
  ) {}

  static async open(dir: string): Promise<CheckpointStore> {
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
    await db.open();
    const metas: StoredMeta[] = [];
    for await (const [, v] of db.iterator({ gte: "m!", lt: "m~" })) metas.push(JSON.parse(text.decode(v)) as StoredMeta);
    const store = new CheckpointStore(db, metas.sort((a, b) => a.position - b.position));
    // Chunks of a save a crash cut short (no metadata).
    const whole = new Set(metas.map((m) => pos(m.position)));
    for await (const k of db.keys({ gte: "c!", lt: "c~" })) if (!whole.has(k.slice(2, 16))) await db.del(k);
    return store;
  }

  /** The latest checkpoint, if any. */
  latest(): StoredMeta | undefined {
    return this.metas.at(-1);
  }

  has(position: number): StoredMeta | undefined {
    return this.metas.find((m) => m.position === position);
  }

  /** Store the snapshot of `position` (consuming `chunks` as it goes); its digest and size. */
  async save(position: number, chunks: Iterable<Uint8Array>): Promise<StoredMeta> {
    const digest = new Digest();
    let n = 0;
    let bytes = 0;
    let batch = this.db.batch();
    for (const c of chunks) {
      digest.update(c);
      batch.put(chunkKey(position, n++), c);
      bytes += c.length;
      if (n % CHUNKS_PER_BATCH === 0) {
        await batch.write();
        batch = this.db.batch();
      }
    }
    const meta: StoredMeta = { position, digest: digest.value(), bytes, chunks: n };
    batch.put(metaKey(position), utf8.encode(JSON.stringify(meta)));
    await batch.write({ sync: true });
    this.metas = [...this.metas.filter((m) => m.position !== position), meta].sort((a, b) => a.position - b.position);
    for (const old of this.metas.slice(0, -KEPT)) await this.drop(old.position);
    return meta;
  }

  /** The chunks of the checkpoint of `position`, in order (read as they are asked for). */
  async *chunks(position: number): AsyncIterable<Uint8Array> {
    for await (const v of this.db.values({ gte: chunkKey(position, 0), lt: `c!${pos(position)}~` })) yield v;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  private async drop(position: number): Promise<void> {
    this.metas = this.metas.filter((m) => m.position !== position);
    await this.db.del(metaKey(position), { sync: true });
    await this.db.clear({ gte: chunkKey(position, 0), lt: `c!${pos(position)}~` });
  }
}
