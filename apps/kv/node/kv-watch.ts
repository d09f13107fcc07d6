/**
 * A watch of a range of keys (docs/ARCHITECTURE.md §4.5): one Watch stream per partition the range
 * overlaps, each pushing its node's changes in revision order, merged into one iterator of
 * batches, each naming its partition (revisions are per partition). A watch from now starts with
 * an empty batch per partition, at the revision it starts after.
 *
 * A watch that **follows** (`WatchFollow`, KvClient's default) outlives its nodes: a partition's
 * stream that ends or fails `unavailable` or `wrongPartition` (its node stopped, restarted, or the
 * partition moved) is opened again at the node the newest map names, from the revision after the
 * last one it delivered (revisions are the partition log's, the same at every node), backing off
 * from 50 ms to 500 ms, until a node serves it or `retryForMs` passes without one. Without
 * following, or after that, the watch ends: watch again with each partition's last revision
 * seen + 1. A node keeps its latest changes (not all of them), and a revision it no longer keeps
 * ends the watch with `compacted`.
 */
import type * as grpc from "@grpc/grpc-js";
import { connectionFailure } from "../../../wor/node/grpc-reason.ts";
import type { KvEvent } from "../core/messages.ts";
import { decodeWatchBatch, encodeWatchRequest } from "../wire/codec-watch.ts";
import type { KvClientStub } from "../wire/service.ts";

/** A batch of changes of one partition, up to its revision `revision`. */
export interface Watched {
  readonly partition: number;
  readonly events: readonly KvEvent[];
  readonly revision: number;
}

/** Why a watch ended: its revision is no longer kept (`compacted`), the node refused it, or it went away. */
export class KvWatchError extends Error {
  override readonly name = "KvWatchError";
  constructor(
    readonly code: "compacted" | "invalid" | "wrongPartition" | "unavailable",
    message: string,
  ) {
    super(message);
  }
}

/** Where a partition's watch is served. */
export interface WatchNode {
  readonly node: string;
  readonly stub: KvClientStub;
}

/** One partition's part of the watch: its node, its keys, where to start (0: now). */
export interface WatchPart extends WatchNode {
  readonly partition: number;
  readonly range: { readonly key: string; readonly to?: string };
  readonly fromRevision: number;
}

/** What a following watch tells its caller, and how long it waits for a node. */
export interface FollowOptions {
  /** How long a partition's watch may go without a node serving it (Infinity: for ever). */
  readonly retryForMs?: number;
  /** A partition's stream was lost (`why`); the watch looks for a node serving it. */
  readonly onLost?: (r: { readonly partition: number; readonly node: string; readonly why: string }) => void;
  /** A partition's stream goes on: at `node`, from revision `fromRevision` (0: now). */
  readonly onResumed?: (r: { readonly partition: number; readonly node: string; readonly fromRevision: number }) => void;
}

/** How a watch follows its partitions to other nodes (and the same node back). */
export interface WatchFollow extends FollowOptions {
  /** The node that serves `partition` now (the newest map's), or why none does (a string: the watch ends). */
  readonly locate: (partition: number) => Promise<WatchNode | string>;
  readonly retryForMs: number;
}

const codeOf = (status: number): KvWatchError["code"] => (status === 11 ? "compacted" : status === 3 ? "invalid" : status === 9 ? "wrongPartition" : "unavailable");
/** Failures a following watch outlives: the node went away, or no longer serves the partition here. */
const PASSING: readonly KvWatchError["code"][] = ["unavailable", "wrongPartition"];

/** A partition's stream as it stands: where it is open, and the revision it wants next (0: now). */
interface Stream {
  readonly partition: number;
  readonly range: WatchPart["range"];
  at: WatchNode;
  from: number;
  call: grpc.ClientReadableStream<Uint8Array> | undefined;
  /** Since when it has had no node (a failure and no batch since), and how many tries. */
  down: { readonly since: number; readonly attempts: number } | undefined;
}

/** The merged watch of `parts`; `metadata` for each call. Returning (or breaking out of) the iterator cancels every stream. */
export function watchParts(parts: readonly WatchPart[], metadata: () => grpc.Metadata, follow?: WatchFollow): AsyncIterableIterator<Watched> {
  const queue: Watched[] = [];
  let failure: KvWatchError | undefined;
  let done = false;
  let wake: (() => void) | undefined;
  const streams: Stream[] = parts.map((p) => ({ partition: p.partition, range: p.range, at: { node: p.node, stub: p.stub }, from: p.fromRevision, call: undefined, down: undefined }));
  const timers = new Set<NodeJS.Timeout>();
  const stop = () => {
    done = true;
    for (const s of streams) s.call?.cancel();
    for (const t of timers) clearTimeout(t);
    wake?.();
  };
  const fail = (e: KvWatchError) => {
    if (done) return;
    failure ??= e;
    stop();
  };

  const open = (s: Stream) => {
    const call = s.at.stub.watch(encodeWatchRequest({ range: s.range, fromRevision: s.from }), metadata());
    s.call = call;
    const { node } = s.at;
    const fromRevision = s.from;
    call.on("data", (bytes: Uint8Array) => {
      if (s.call !== call) return;
      const b = decodeWatchBatch(bytes);
      if (!b.ok) return fail(new KvWatchError("unavailable", `node ${node}: an unreadable watch batch (${b.error.message})`));
      if (s.down) follow?.onResumed?.({ partition: s.partition, node, fromRevision });
      s.down = undefined;
      // A stream opened again starts with the revision its node has applied: nothing new, unless past `from`.
      if (b.value.events.length === 0 && b.value.revision < s.from) return;
      s.from = b.value.revision + 1;
      queue.push({ partition: s.partition, events: b.value.events, revision: b.value.revision });
      wake?.();
    });
    const lost = (why: KvWatchError) => {
      if (done || s.call !== call) return;
      s.call = undefined;
      retry(s, why);
    };
    call.on("error", (e: grpc.ServiceError) => lost(new KvWatchError(codeOf(e.code), `node ${node}: ${connectionFailure(e.details || e.message) ?? (e.details || e.message)}`)));
    call.on("end", () => lost(new KvWatchError("unavailable", `node ${node} ended the watch`)));
  };

  /** `s`'s stream ended with `why`: the watch ends, or opens it again where the partition is served. */
  const retry = (s: Stream, why: KvWatchError) => {
    if (!follow || !PASSING.includes(why.code)) return fail(why);
    const now = Date.now();
    if (!s.down) follow.onLost?.({ partition: s.partition, node: s.at.node, why: why.message });
    s.down = { since: s.down?.since ?? now, attempts: (s.down?.attempts ?? 0) + 1 };
    if (now - s.down.since >= follow.retryForMs) {
      return fail(new KvWatchError(why.code, `no node served partition ${s.partition}'s watch for ${now - s.down.since} ms (last: ${why.message})`));
    }
    const timer = setTimeout(async () => {
      timers.delete(timer);
      const at = await follow.locate(s.partition).catch((e: unknown) => new KvWatchError("unavailable", `partition ${s.partition}'s map: ${e instanceof Error ? e.message : String(e)}`));
      if (done) return;
      if (typeof at === "string") return fail(new KvWatchError("wrongPartition", at));
      if (at instanceof KvWatchError) return retry(s, at);
      s.at = at;
      open(s);
    }, Math.min(500, 25 * 2 ** s.down.attempts));
    timers.add(timer);
  };

  for (const s of streams) open(s);
  const it: AsyncIterableIterator<Watched> = {
    [Symbol.asyncIterator]: () => it,
    async next(): Promise<IteratorResult<Watched>> {
      for (;;) {
        const item = queue.shift();
        if (item) return { value: item, done: false };
        if (failure) throw failure;
        if (done) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
    async return(): Promise<IteratorResult<Watched>> {
      stop();
      return { value: undefined, done: true };
    },
  };
  return it;
}
