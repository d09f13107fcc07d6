/**
 * A shard's storage on classic-level (docs/ARCHITECTURE.md §4.4): its rows, one key per log
 * position, and its state (applied position, epoch, binding) under one key, written together in ONE
 * synced batch per `ShardWrite`, so that the applied position never runs ahead of the rows (nor
 * behind them) whatever crashes. Only after the batch is synced does the store mint the receipt that
 * releases the core's held replies (paxos/held.ts).
 */
import { ClassicLevel } from "classic-level";
import { type Receipt, mintReceipt } from "../../../paxos/held.ts";
import { BEFORE_FIRST, type Binding } from "../core/items.ts";
import type { Row, ShardDurable, ShardWrite } from "../core/shard-core.ts";

type Db = ClassicLevel<string, Uint8Array>;

const STATE_KEY = "state";
/** Rows sort by position: "row:" and the position in 16 decimal digits (positions < 2^53 < 10^16). */
const rowKey = (position: number): string => `row:${String(position).padStart(16, "0")}`;
const ROWS_END = "row;";

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** A store holding something that is not a shard's state: refused, never overwritten. */
export class ShardStoreDamaged extends Error {
  override readonly name = "ShardStoreDamaged";
}

function parseState(bytes: Uint8Array, dir: string): ShardDurable {
  let o: { applied?: unknown; epoch?: unknown; binding?: { group?: unknown; shard?: unknown; shards?: unknown } };
  try {
    o = JSON.parse(text.decode(bytes)) as typeof o;
  } catch {
    throw new ShardStoreDamaged(`shard store ${dir}: its state is not readable`);
  }
  const b = o.binding;
  const okInt = (x: unknown, least: number): x is number => Number.isSafeInteger(x) && (x as number) >= least;
  if (!okInt(o.applied, BEFORE_FIRST) || !okInt(o.epoch, 0) || (b !== undefined && (typeof b.group !== "string" || !okInt(b.shard, 0) || !okInt(b.shards, 1)))) {
    throw new ShardStoreDamaged(`shard store ${dir}: its state is malformed`);
  }
  return { applied: o.applied, epoch: o.epoch, ...(b ? { binding: b as Binding } : {}) };
}

export class ShardStore {
  private writes = 0;

  private constructor(
    private readonly db: Db,
    readonly dir: string,
    /** What is durable now. */
    public state: ShardDurable,
  ) {}

  /** Open (creating) the store at `dir` and load its state. */
  static async open(dir: string): Promise<ShardStore> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
    await db.open();
    try {
      const raw = await db.get(STATE_KEY);
      return new ShardStore(db, dir, raw === undefined ? { applied: BEFORE_FIRST, epoch: 0 } : parseState(raw, dir));
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** The receipt for what `open` loaded (durable already). */
  get loaded(): Receipt {
    return mintReceipt(0);
  }

  /** Write rows and state in one synced batch; the receipt proves it durable. */
  async write(w: ShardWrite): Promise<Receipt> {
    const state: ShardDurable = { applied: w.applied, epoch: w.epoch, ...(w.binding ? { binding: w.binding } : {}) };
    const ops = w.rows.map((r) => ({ type: "put" as const, key: rowKey(r.position), value: r.data }));
    ops.push({ type: "put", key: STATE_KEY, value: utf8.encode(JSON.stringify(state)) });
    await this.db.batch(ops, { sync: true });
    this.state = state;
    return mintReceipt(++this.writes);
  }

  /** Up to `limit` rows from position `from` on, with at most `bytesMax` data bytes (one row may exceed it alone). */
  async rows(from: number, limit: number, bytesMax: number): Promise<Row[]> {
    const out: Row[] = [];
    let bytes = 0;
    for await (const [key, value] of this.db.iterator({ gte: rowKey(from), lt: ROWS_END, limit })) {
      if (out.length > 0 && bytes + value.byteLength > bytesMax) break;
      bytes += value.byteLength;
      out.push({ position: Number(key.slice(4)), data: value });
    }
    return out;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
