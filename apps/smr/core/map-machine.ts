/**
 * The example state machine (docs/ARCHITECTURE.md §4.2), and the SMR's test subject: a map from
 * string keys to byte values. `put` and `delete` return the previous value (so a history of them
 * checks like a register per key, verify/spec/map.ts); `get` is its query.
 *
 *   command: [0x01] key blob, value blob  (put)  |  [0x02] key blob  (delete)
 *   query:   key blob                           result, answer: [0x00] (none) | [0x01] value (rest)
 *   snapshot chunks: n × (key blob, value blob), in the map's order, each chunk about 256 KiB
 */
import { ByteWriter, DecodeError, readAll } from "../../log/core/bytes.ts";
import type { Codec, Machine, SnapshotSink, StateMachine } from "./machine.ts";
import { SMR_LIMITS } from "./records.ts";

export type MapCommand = { readonly op: "put"; readonly key: string; readonly value: Uint8Array } | { readonly op: "delete"; readonly key: string };
/** The value at the key before the command (put, delete), or now (get); null: none. */
export type MapValue = Uint8Array | null;
export interface MapQuery {
  readonly key: string;
}

export const MAP_LIMITS = Object.freeze({ keyBytesMax: 1_024 });

const PUT = 0x01;
const DELETE = 0x02;
const CHUNK_TARGET = 256 << 10;

const commandCodec: Codec<MapCommand> = {
  encode(c) {
    const w = new ByteWriter(16 + 3 * c.key.length + (c.op === "put" ? c.value.length : 0));
    w.byte(c.op === "put" ? PUT : DELETE);
    w.str(c.key);
    if (c.op === "put") w.blob(c.value);
    return w.done();
  },
  decode: (bytes) =>
    readAll(bytes, (r): MapCommand | DecodeError => {
      const op = r.byte();
      const key = r.str("key", MAP_LIMITS.keyBytesMax);
      if (op === DELETE) return r.done ? { op: "delete", key } : new DecodeError("trailing bytes after a delete");
      if (op !== PUT) return new DecodeError(`unknown map operation ${op}`);
      const value = r.blob("value", SMR_LIMITS.commandBytesMax);
      return r.done ? { op: "put", key, value } : new DecodeError("trailing bytes after a put");
    }),
};

const valueCodec: Codec<MapValue> = {
  encode(v) {
    const out = new Uint8Array(v === null ? 1 : 1 + v.length);
    if (v !== null) {
      out[0] = 1;
      out.set(v, 1);
    }
    return out;
  },
  decode: (bytes) =>
    readAll(bytes, (r): MapValue | DecodeError => {
      const present = r.byte();
      if (present > 1) return new DecodeError(`value marker ${present}`);
      return present === 1 ? r.rest() : r.done ? null : new DecodeError("trailing bytes after no value");
    }),
};

const queryCodec: Codec<MapQuery> = {
  encode(q) {
    const w = new ByteWriter();
    w.str(q.key);
    return w.done();
  },
  decode: (bytes) =>
    readAll(bytes, (r): MapQuery | DecodeError => {
      const key = r.str("key", MAP_LIMITS.keyBytesMax);
      return r.done ? { key } : new DecodeError("trailing bytes after a key");
    }),
};

class MapMachine implements StateMachine<MapCommand, MapValue, MapQuery, MapValue> {
  private map = new Map<string, Uint8Array>();

  apply(c: MapCommand): MapValue {
    const before = this.map.get(c.key) ?? null;
    if (c.op === "put") this.map.set(c.key, c.value);
    else this.map.delete(c.key);
    return before;
  }

  query(q: MapQuery): MapValue {
    return this.map.get(q.key) ?? null;
  }

  snapshot(): Iterable<Uint8Array> {
    return chunks([...this.map]);
  }

  restore(): SnapshotSink {
    const next = new Map<string, Uint8Array>();
    return {
      chunk: (bytes) => {
        const r = readAll(bytes, (r) => {
          while (!r.done) next.set(r.str("key", MAP_LIMITS.keyBytesMax), r.blob("value", SMR_LIMITS.commandBytesMax));
        });
        return r instanceof DecodeError ? `map snapshot: ${r.message}` : undefined;
      },
      end: () => {
        this.map = next;
        return undefined;
      },
    };
  }
}

function* chunks(entries: readonly (readonly [string, Uint8Array])[]): Iterable<Uint8Array> {
  let w = new ByteWriter();
  for (const [k, v] of entries) {
    w.str(k);
    w.blob(v);
    if (w.length < CHUNK_TARGET) continue;
    yield w.done();
    w = new ByteWriter();
  }
  if (w.length > 0) yield w.done();
}

export const mapMachine: Machine<MapCommand, MapValue, MapQuery, MapValue> = {
  create: () => new MapMachine(),
  command: commandCodec,
  result: valueCodec,
  query: queryCodec,
  answer: valueCodec,
};
