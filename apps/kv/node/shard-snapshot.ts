/**
 * A KV shard's snapshot (docs/ARCHITECTURE.md §4.5): a new store of a partition (a standby, a node at
 * a new address) is seeded with a copy of a serving node's store instead of replaying the
 * partition's whole log. Any node of the partition will do: its store is the log applied up to its
 * applied position P (durable, read from one view of the database), so the new store holds what
 * replaying the log to P would give, and its own player goes on from P + 1. The copy is of every
 * key the store holds (records, results, session table, transactions committed, latest changes),
 * but for the state's player binding and epoch, which are the source's player group's: the new
 * store has none (its player group is its own), and the state is written last, synced, so a copy
 * cut short leaves no store (the directory is emptied again). The new store is then opened, and so
 * checked, as any store is.
 */
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { ClassicLevel } from "classic-level";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions } from "../../../wor/node/credentials.ts";
import { connectionFailure } from "../../../wor/node/grpc-reason.ts";
import { type admission, statusError } from "../../../wor/node/grpc-serving.ts";
import { decodeSnapshotChunk, decodeSnapshotRequest, encodeSnapshotChunk, encodeSnapshotRequest } from "../wire/codec-snapshot.ts";
import { type KvHandlers, makeKvClient } from "../wire/service.ts";
import { HOLDS_KEY, type Op, STATE_KEY, encodeState, parseState } from "./shard-layout.ts";
import type { KvShardStore } from "./shard-store.ts";

/** Bytes of entries per chunk sent. */
const CHUNK_BYTES = 1 << 20;
const text = new TextDecoder();
const utf8 = new TextEncoder();

/** A node's `Snapshot`: its store's entries, streamed with the stream's flow control. */
export function snapshotServing(o: { readonly admit: ReturnType<typeof admission>; readonly store: KvShardStore }): KvHandlers["snapshot"] {
  return async (call) => {
    const refused = o.admit(call.metadata);
    if (refused) return void call.emit("error", refused);
    const req = decodeSnapshotRequest(call.request);
    if (!req.ok) return void call.emit("error", statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
    let gone = false;
    for (const event of ["cancelled", "close"]) call.once(event, () => void (gone = true));
    try {
      for await (const entries of o.store.entries(CHUNK_BYTES)) {
        if (gone) return;
        if (!call.write(encodeSnapshotChunk({ entries, last: false }))) await Promise.race([once(call, "drain"), once(call, "close")]);
      }
      call.write(encodeSnapshotChunk({ entries: [], last: true }));
      call.end();
    } catch (e) {
      if (!gone) call.emit("error", statusError(grpc.status.UNAVAILABLE, `the snapshot failed: ${(e as Error).message}`));
    }
  };
}

/** What a snapshot installed: the position and revision the new store starts from, and its keys. */
export interface Installed {
  readonly applied: number;
  readonly revision: number;
  readonly entries: number;
}

/**
 * Seed the store at `dir` (none yet: the directory absent or empty) with a snapshot of the node at
 * `source`, a node of the partition `holds` names ("partition 0 of KV kv (log kv-p0)"). Refused
 * before anything is written if `dir` holds anything; a snapshot of another partition, or one cut
 * short, leaves `dir` empty. `timeoutMs` bounds the whole copy.
 */
export async function installSnapshot(o: { readonly dir: string; readonly holds: string; readonly source: string; readonly security?: ClientSecurity; readonly timeoutMs: number }): Promise<Installed> {
  const db = new ClassicLevel<string, Uint8Array>(o.dir, { keyEncoding: "utf8", valueEncoding: "view" });
  await db.open();
  try {
    for await (const key of db.keys({ limit: 1 })) throw new Error(`${o.dir} holds a store already (key ${JSON.stringify(key)}): a snapshot seeds only a new one`);
    try {
      return await copy(db, o);
    } catch (e) {
      await db.clear();
      throw e;
    }
  } finally {
    await db.close();
  }
}

async function copy(db: ClassicLevel<string, Uint8Array>, o: Parameters<typeof installSnapshot>[0]): Promise<Installed> {
  const stub = new makeKvClient(o.source, channelCredentials(o.security), { ...CHANNEL_OPTIONS, ...channelOptions(o.security) });
  const call = stub.snapshot(encodeSnapshotRequest(), callMetadata(o.security), { deadline: new Date(Date.now() + o.timeoutMs) });
  const from = `the snapshot of the node at ${o.source}`;
  try {
    let state: Uint8Array | undefined;
    let holds: string | undefined;
    let entries = 0;
    let last = false;
    for await (const bytes of call as AsyncIterable<Uint8Array>) {
      const chunk = decodeSnapshotChunk(bytes);
      if (!chunk.ok) throw new Error(`${from}: ${chunk.error.message}`);
      const ops: Op[] = [];
      for (const [key, value] of chunk.value.entries) {
        if (key === STATE_KEY) state = value;
        else if (key === HOLDS_KEY) {
          holds = text.decode(value);
          if (holds !== o.holds) throw new Error(`${from} is of ${holds}, not ${o.holds}`);
        } else ops.push({ type: "put", key, value });
      }
      entries += chunk.value.entries.length;
      if (ops.length > 0) await db.batch(ops);
      last = chunk.value.last;
    }
    if (!last) throw new Error(`${from} ended before its last chunk`);
    if (!state) throw new Error(`${from} holds no KV shard state`);
    if (holds === undefined) throw new Error(`${from} does not say which partition it is of (its store was opened without naming it)`);
    // Its own player group starts where the source's shard is: no binding, no epoch of the source's group.
    const { binding: _theirs, ...loaded } = parseState(state, o.source);
    await db.batch(
      [
        { type: "put", key: HOLDS_KEY, value: utf8.encode(o.holds) },
        { type: "put", key: STATE_KEY, value: encodeState({ ...loaded, epoch: 0 }) },
      ],
      { sync: true },
    );
    return { applied: loaded.applied, revision: loaded.revision, entries };
  } catch (e) {
    const status = e as Partial<grpc.ServiceError>;
    if (status.code === undefined) throw e;
    const why = status.details || status.message || String(e);
    throw new Error(`${from}: ${connectionFailure(why) ?? why}`);
  } finally {
    call.cancel();
    stub.close();
  }
}
