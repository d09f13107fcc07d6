/**
 * A KV node's snapshot messages (proto/wormspace/v1/kv.proto `KvSnapshotRequest`, `KvSnapshotChunk`)
 * ⇄ plain values, under the gateway rules of ./codec.ts: decodes return `Decoded<T>` and never throw;
 * byte values are fresh copies. A chunk holds at most `SNAPSHOT_LIMITS.entriesMax` entries, each a
 * non-empty key of at most `keyBytesMax` bytes; what the keys and values mean is the store's to check
 * (apps/kv/node/shard-snapshot.ts installs them through the store's own loading).
 */
import { type Decoded, count, decodeMessage, reject } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/kv.ts";

export const SNAPSHOT_LIMITS = Object.freeze({ entriesMax: 65_536, keyBytesMax: 4_096 });

/** Entries of a store, in key order; `last`: the snapshot ends with them. */
export interface SnapshotChunk {
  readonly entries: readonly (readonly [string, Uint8Array])[];
  readonly last: boolean;
}

export const encodeSnapshotRequest = (): Uint8Array => pb.KvSnapshotRequest.encode({}).finish();
export const decodeSnapshotRequest = (bytes: Uint8Array): Decoded<Record<string, never>> => decodeMessage(bytes, pb.KvSnapshotRequest, () => ({}));

export const encodeSnapshotChunk = (c: SnapshotChunk): Uint8Array => pb.KvSnapshotChunk.encode({ entries: c.entries.map(([key, value]) => ({ key, value })), last: c.last }).finish();

export const decodeSnapshotChunk = (bytes: Uint8Array): Decoded<SnapshotChunk> =>
  decodeMessage(bytes, pb.KvSnapshotChunk, (m) => {
    count(m.entries.length, SNAPSHOT_LIMITS.entriesMax, "entries");
    const entries = m.entries.map((e): readonly [string, Uint8Array] => {
      if (e.key.length === 0 || Buffer.byteLength(e.key) > SNAPSHOT_LIMITS.keyBytesMax) reject("invalid", `a snapshot entry's key of ${Buffer.byteLength(e.key)} bytes (1 to ${SNAPSHOT_LIMITS.keyBytesMax})`);
      return [e.key, e.value.slice()];
    });
    return { entries, last: m.last };
  });
