/**
 * What a KV shard stores (docs/ARCHITECTURE.md §4.5), on the log's codec (apps/log/core/bytes.ts): a
 * key's record, and the result of the transaction at a log position, so that the KV node can answer
 * a write with its result after the shard applied it (even after a restart). Decoding refuses
 * anything malformed with a `DecodeError`, never throws.
 *
 *   record:   [0x01] body
 *   result:   [0x02] succeeded byte (0|1), revision varint, responses (varint count, then each)
 *   response: kind byte (1 put, 2 delete, 3 range);
 *             put: has-prev byte (0|1), [body]; delete: varint count, (key str, body)...;
 *             range: more byte (0|1), varint count, (key str, body)...
 *   body:     value blob, createRevision varint, modRevision varint, version varint
 *             (1 ≤ version, 1 ≤ createRevision ≤ modRevision: what applying a transaction makes)
 *   changes:  [0x03] varint count, then each: key str, revision varint, has-record byte (0|1),
 *             [body] (the record written at that revision; none: a delete), in revision order
 */
import { type ByteReader, ByteWriter, DecodeError, readAll } from "../../log/core/bytes.ts";
import { type KvRecord, type OpResponse, TXN_LIMITS, type TxnResult } from "./commands.ts";
import { KEY_LIMITS } from "./keys.ts";
import type { KvEvent } from "./messages.ts";

const RECORD = 0x01;
const RESULT = 0x02;
const CHANGES = 0x03;
const KINDS = ["put", "delete", "range"] as const;

type Found = (readonly [string, KvRecord])[];

function writeBody(w: ByteWriter, r: KvRecord): void {
  w.blob(r.value);
  w.varint(r.createRevision);
  w.varint(r.modRevision);
  w.varint(r.version);
}

function readBody(r: ByteReader): KvRecord {
  const value = r.blob("a value", TXN_LIMITS.valueBytesMax);
  const createRevision = r.varint();
  const modRevision = r.varint();
  const version = r.varint();
  if (version < 1 || createRevision < 1 || modRevision < createRevision) {
    throw new DecodeError(`a record with createRevision ${createRevision}, modRevision ${modRevision}, version ${version}`);
  }
  return { value, createRevision, modRevision, version };
}

const flag = (r: ByteReader, what: string): boolean => {
  const b = r.byte();
  if (b > 1) throw new DecodeError(`${what} byte ${b}`);
  return b === 1;
};

function writeFound(w: ByteWriter, found: readonly (readonly [string, KvRecord])[]): void {
  w.varint(found.length);
  for (const [key, record] of found) {
    w.str(key);
    writeBody(w, record);
  }
}

function readFound(r: ByteReader): Found {
  const found: Found = [];
  for (let n = r.varint(); n > 0; n--) found.push([r.str("a key", KEY_LIMITS.keyBytesMax), readBody(r)]);
  return found;
}

export function encodeRecord(record: KvRecord): Uint8Array {
  const w = new ByteWriter(1 + bodyBound(record));
  w.byte(RECORD);
  writeBody(w, record);
  return w.done();
}

/** The record in `bytes`, or why they are not one. Never throws. */
export function decodeRecord(bytes: Uint8Array): KvRecord | DecodeError {
  return readAll(bytes, (r): KvRecord | DecodeError => {
    const format = r.byte();
    if (format !== RECORD) return new DecodeError(`not a KV record (format ${format})`);
    const record = readBody(r);
    return r.done ? record : new DecodeError("trailing bytes after a record");
  });
}

/** Bytes a record's body takes, at most. */
const bodyBound = (r: KvRecord): number => r.value.length + 32;

/** At least the bytes `encodeResult` writes for `result` (its writer's capacity: it never grows). */
function resultBytesBound(result: TxnResult): number {
  let n = 16;
  for (const o of result.responses) {
    n += 16;
    if (o.op === "put") n += o.prev ? bodyBound(o.prev) : 0;
    else for (const [key, record] of o.op === "delete" ? o.deleted : o.found) n += 8 + 3 * key.length + bodyBound(record);
  }
  return n;
}

export function encodeResult(result: TxnResult): Uint8Array {
  const w = new ByteWriter(resultBytesBound(result));
  w.byte(RESULT);
  w.byte(result.succeeded ? 1 : 0);
  w.varint(result.revision);
  w.varint(result.responses.length);
  for (const o of result.responses) {
    w.byte(KINDS.indexOf(o.op) + 1);
    if (o.op === "put") {
      w.byte(o.prev ? 1 : 0);
      if (o.prev) writeBody(w, o.prev);
    } else if (o.op === "delete") writeFound(w, o.deleted);
    else {
      w.byte(o.more ? 1 : 0);
      writeFound(w, o.found);
    }
  }
  return w.done();
}

/** The transaction result in `bytes`, or why they are not one. Never throws. */
export function decodeResult(bytes: Uint8Array): TxnResult | DecodeError {
  return readAll(bytes, (r): TxnResult | DecodeError => {
    const format = r.byte();
    if (format !== RESULT) return new DecodeError(`not a KV transaction result (format ${format})`);
    const succeeded = flag(r, "a succeeded");
    const revision = r.varint();
    const count = r.varint();
    if (count > TXN_LIMITS.opsMax) return new DecodeError(`${count} responses (limit ${TXN_LIMITS.opsMax})`);
    const responses: OpResponse[] = [];
    for (let i = 0; i < count; i++) {
      const kind = KINDS[r.byte() - 1];
      if (kind === "put") responses.push({ op: kind, prev: flag(r, "a has-prev") ? readBody(r) : undefined });
      else if (kind === "delete") responses.push({ op: kind, deleted: readFound(r) });
      else if (kind === "range") {
        const more = flag(r, "a more");
        responses.push({ op: kind, found: readFound(r), more });
      } else return new DecodeError("a response is neither put, delete nor range");
    }
    return r.done ? { succeeded, revision, responses } : new DecodeError("trailing bytes after a result");
  });
}

/** The changes of one synced write of a shard (a watch's events), for watches resuming after a restart. */
export function encodeChanges(events: readonly KvEvent[]): Uint8Array {
  const w = new ByteWriter(16 + events.reduce((n, e) => n + 16 + 3 * e.key.length + (e.record ? bodyBound(e.record) : 0), 0));
  w.byte(CHANGES);
  w.varint(events.length);
  for (const e of events) {
    w.str(e.key);
    w.varint(e.revision);
    w.byte(e.record ? 1 : 0);
    if (e.record) writeBody(w, e.record);
  }
  return w.done();
}

/** The changes in `bytes` (in revision order, each record written at its change's revision), or why they are not. Never throws. */
export function decodeChanges(bytes: Uint8Array): KvEvent[] | DecodeError {
  return readAll(bytes, (r): KvEvent[] | DecodeError => {
    const format = r.byte();
    if (format !== CHANGES) return new DecodeError(`not a KV shard's changes (format ${format})`);
    const events: KvEvent[] = [];
    for (let n = r.varint(), last = 1; n > 0; n--) {
      const key = r.str("a key", KEY_LIMITS.keyBytesMax);
      const revision = r.varint();
      if (revision < last) return new DecodeError(`a change at revision ${revision} after one at ${last}`);
      last = revision;
      if (!flag(r, "a has-record")) {
        events.push({ key, revision });
        continue;
      }
      const record = readBody(r);
      if (record.modRevision !== revision) return new DecodeError(`a change at revision ${revision} whose record has modRevision ${record.modRevision}`);
      events.push({ key, revision, record });
    }
    return r.done ? events : new DecodeError("trailing bytes after changes");
  });
}
