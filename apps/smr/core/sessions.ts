/**
 * Exactly-once results (docs/ARCHITECTURE.md §4.2): part of the replicated state, so every replica
 * decides alike whether a command is new. Per client, the results of its commands from `floor` on
 * (the lowest seq it may still retry): a command whose key has a result is a retry and gets that
 * first result again without being applied; one below `floor` is **expired** (its result is
 * forgotten; it was applied or never will be). Bounded: `resultsPerClientMax` results per client
 * (dropping the lowest raises the floor) and `sessionsMax` clients (the least recently active is
 * forgotten whole). Every decision depends on the log's order alone, so it is deterministic.
 *
 * The SMR writes the whole table in its checkpoints; an owner that keeps it durable result by
 * result (the KV's shards, apps/kv) hears of each result forgotten (`forgotten`) and loads the
 * table back client by client (`restore`).
 */
import { LruMap } from "../../../wor/core/lru-map.ts";
import { ByteWriter, DecodeError, readAll } from "../../log/core/bytes.ts";
import { SMR_LIMITS } from "./records.ts";

export interface SessionLimits {
  readonly sessionsMax: number;
  readonly resultsPerClientMax: number;
}

interface Session {
  floor: number;
  readonly results: Map<number, Uint8Array>;
}

/** Chunks of the encoded table stop growing past this many bytes. */
const CHUNK_TARGET = 256 << 10;

export class Sessions {
  /** Least recently active first: the snapshot's order (an LruMap, so forgetting the least recently
   *  active is O(1) where a Map's first entry, after many deletions, is found by walking their holes). */
  private readonly clients = new LruMap<string, Session>();

  constructor(
    private readonly limits: SessionLimits,
    /** Each result forgotten (a floor raised, a client forgotten whole). */
    private readonly forgotten: (client: string, seq: number) => void = () => {},
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** The first result of `(client, seq)`, `expired`, or undefined (not applied yet). */
  find(client: string, seq: number): Uint8Array | "expired" | undefined {
    const s = this.clients.get(client);
    if (!s) return undefined;
    return seq < s.floor ? "expired" : s.results.get(seq);
  }

  /** `(client, seq)` was applied with `result`; the client waits for nothing below `ackedBelow`. */
  record(client: string, seq: number, ackedBelow: number, result: Uint8Array): void {
    const s = this.clients.get(client) ?? { floor: 0, results: new Map() };
    this.clients.set(client, s);
    s.results.set(seq, result);
    this.raise(s, ackedBelow, client);
    while (s.results.size > this.limits.resultsPerClientMax) this.raise(s, Math.min(...s.results.keys()) + 1, client);
    if (this.clients.size > this.limits.sessionsMax) {
      const [gone, old] = this.clients.shift()!;
      for (const seq of old.results.keys()) this.forgotten(gone, seq);
    }
  }

  /** Client `client`'s session as kept durable: its floor and its results (a table being loaded). */
  restore(client: string, floor: number, results: Iterable<readonly [number, Uint8Array]>): void {
    this.clients.set(client, { floor, results: new Map([...results].filter(([seq]) => seq >= floor)) });
  }

  /** Every session, least recently active first (restored in this order, a table evicts alike). */
  list(): { readonly client: string; readonly floor: number; readonly results: [number, Uint8Array][] }[] {
    return [...this.clients].map(([client, s]) => ({ client, floor: s.floor, results: [...s.results] }));
  }

  /** The client's floor (0: a client not known). */
  floorOf(client: string): number {
    return this.clients.get(client)?.floor ?? 0;
  }

  private raise(s: Session, floor: number, client: string): void {
    if (floor <= s.floor) return;
    s.floor = floor;
    for (const seq of s.results.keys()) {
      if (seq >= floor) continue;
      s.results.delete(seq);
      this.forgotten(client, seq);
    }
  }

  /** The table as chunks (in its order, so a restored table evicts alike). */
  encode(): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    let w = new ByteWriter();
    for (const [client, s] of this.clients) {
      w.str(client);
      w.varint(s.floor);
      w.varint(s.results.size);
      for (const [seq, r] of s.results) {
        w.varint(seq);
        w.blob(r);
      }
      if (w.length >= CHUNK_TARGET) {
        chunks.push(w.done());
        w = new ByteWriter();
      }
    }
    if (w.length > 0) chunks.push(w.done());
    return chunks;
  }

  /** Add the sessions of one chunk of `encode`; why not, or undefined. */
  decodeChunk(bytes: Uint8Array): string | undefined {
    const r = readAll(bytes, (r) => {
      while (!r.done) {
        const client = r.str("client id", SMR_LIMITS.clientBytesMax);
        if (this.clients.has(client)) throw new DecodeError(`client ${JSON.stringify(client)} twice`);
        const s: Session = { floor: r.varint(), results: new Map() };
        for (let n = r.varint(); n > 0; n--) s.results.set(r.varint(), r.blob("result", SMR_LIMITS.commandBytesMax));
        this.clients.set(client, s);
      }
    });
    return r instanceof DecodeError ? `sessions: ${r.message}` : undefined;
  }
}
