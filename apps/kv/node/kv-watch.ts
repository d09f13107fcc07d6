/**
 * A watch of a range of keys (docs/ARCHITECTURE.md §4.5): one Watch stream per partition the range
 * overlaps, each pushing its node's changes in revision order, merged into one iterator of
 * batches, each naming its partition (revisions are per partition). To resume after a failure,
 * watch again with each partition's last revision seen + 1: a node keeps its latest changes (not
 * all of them), and a revision it no longer keeps fails the watch with `compacted`.
 */
import type * as grpc from "@grpc/grpc-js";
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

/** One partition's part of the watch: its node, its keys, where to start (0: now). */
export interface WatchPart {
  readonly partition: number;
  readonly node: string;
  readonly stub: KvClientStub;
  readonly range: { readonly key: string; readonly to?: string };
  readonly fromRevision: number;
}

const codeOf = (status: number): KvWatchError["code"] => (status === 11 ? "compacted" : status === 3 ? "invalid" : status === 9 ? "wrongPartition" : "unavailable");

/** The merged watch of `parts`; `metadata` for each call. Returning (or breaking out of) the iterator cancels every stream. */
export function watchParts(parts: readonly WatchPart[], metadata: () => grpc.Metadata): AsyncIterableIterator<Watched> {
  const queue: Watched[] = [];
  let failure: KvWatchError | undefined;
  let done = false;
  let wake: (() => void) | undefined;
  const calls: grpc.ClientReadableStream<Uint8Array>[] = [];
  const stop = () => {
    done = true;
    for (const c of calls) c.cancel();
    wake?.();
  };
  const fail = (e: KvWatchError) => {
    if (done) return;
    failure ??= e;
    stop();
  };
  for (const p of parts) {
    const call = p.stub.watch(encodeWatchRequest({ range: p.range, fromRevision: p.fromRevision }), metadata());
    calls.push(call);
    call.on("data", (bytes: Uint8Array) => {
      const b = decodeWatchBatch(bytes);
      if (!b.ok) return fail(new KvWatchError("unavailable", `node ${p.node}: an unreadable watch batch (${b.error.message})`));
      queue.push({ partition: p.partition, events: b.value.events, revision: b.value.revision });
      wake?.();
    });
    call.on("error", (e: grpc.ServiceError) => fail(new KvWatchError(codeOf(e.code), `node ${p.node}: ${e.details || e.message}`)));
    call.on("end", () => fail(new KvWatchError("unavailable", `node ${p.node} ended the watch`)));
  }
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
