/**
 * A KV node's watches, served (docs/ARCHITECTURE.md §4.5): a watch of a range pushes the changes its
 * shard applies (./shard-store.ts `watch`), from a revision the store still keeps, in batches that
 * never cut a revision; a watcher that stops reading is let go, told where to watch again from.
 */
import * as grpc from "@grpc/grpc-js";
import { type admission, statusError } from "../../../wor/node/grpc-serving.ts";
import { opRange } from "../core/commands.ts";
import type { KeyRange } from "../core/keys.ts";
import { KV_LIMITS, type KvEvent } from "../core/messages.ts";
import { decodeWatchRequest, encodeWatchBatch } from "../wire/codec-watch.ts";
import type { KvHandlers } from "../wire/service.ts";
import type { KvShardStore } from "./shard-store.ts";

/** Bytes a watcher may leave unread before it is let go. */
const WATCH_BUFFER_BYTES_MAX = 8 << 20;

export interface WatchServing {
  readonly handler: KvHandlers["watch"];
  /** End every open watch, its client told `details` (the node stops). */
  endAll(details: string): void;
}

export function watchServing(o: {
  readonly admit: ReturnType<typeof admission>;
  readonly store: KvShardStore;
  /** Why this node does not serve a watch of `range` (another partition's keys; moved), or undefined. */
  readonly refusal: (range: KeyRange) => string | undefined;
}): WatchServing {
  const { store } = o;
  const watches = new Set<grpc.ServerWritableStream<Uint8Array, Uint8Array>>();
  const handler: KvHandlers["watch"] = (call) => {
    const refused = o.admit(call.metadata);
    if (refused) return void call.emit("error", refused);
    const req = decodeWatchRequest(call.request);
    if (!req.ok) return void call.emit("error", statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
    const { range, fromRevision } = req.value;
    const why = o.refusal(opRange(range));
    if (why) return void call.emit("error", statusError(grpc.status.FAILED_PRECONDITION, why));
    let seen = fromRevision === 0 ? store.revision : fromRevision - 1;
    let stop: () => void = () => {};
    const end = (code: grpc.status, details: string) => {
      stop();
      watches.delete(call);
      call.emit("error", statusError(code, details));
    };
    const deliver = (events: KvEvent[], revision: number) => {
      let room = true;
      for (const [part, upTo] of watchBatches(events, revision)) room = call.write(encodeWatchBatch({ events: part, revision: upTo }));
      // A watcher that does not read is let go, told where to start again (nothing is lost to it).
      if (!room && call.writableLength > WATCH_BUFFER_BYTES_MAX) end(grpc.status.RESOURCE_EXHAUSTED, `the watcher fell behind: watch again from revision ${seen + 1}`);
      else seen = revision;
    };
    const stopped = store.watch(opRange(range), fromRevision, deliver, (reason) => end(grpc.status.UNAVAILABLE, reason.message));
    if (typeof stopped === "string") return void call.emit("error", statusError(grpc.status.OUT_OF_RANGE, stopped));
    stop = stopped;
    watches.add(call);
    for (const event of ["cancelled", "close", "error"]) call.on(event, () => {
      stop();
      watches.delete(call);
    });
  };
  return {
    handler,
    endAll(details) {
      for (const w of watches) w.emit("error", statusError(grpc.status.UNAVAILABLE, details));
      watches.clear();
    },
  };
}

/**
 * `events` (up to `revision`) cut into batches of about `KV_LIMITS.watchBatchEventsTarget` events,
 * never inside a revision (a batch says the watcher has every change up to its revision), each
 * with the revision it brings the watcher up to.
 */
function watchBatches(events: readonly KvEvent[], revision: number): [KvEvent[], number][] {
  const out: [KvEvent[], number][] = [];
  let part: KvEvent[] = [];
  for (const [i, e] of events.entries()) {
    part.push(e);
    const next = events[i + 1];
    if (next && next.revision !== e.revision && part.length >= KV_LIMITS.watchBatchEventsTarget) {
      out.push([part, e.revision]);
      part = [];
    }
  }
  out.push([part, revision]);
  return out;
}

