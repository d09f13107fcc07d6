/**
 * A LogPlayer shard served over gRPC (proto/wormspace/v1/logplayer.proto; docs/ARCHITECTURE.md
 * §4.4): one `ShardCore` for every delivery stream, its writes made durable by its `DeliveryStore`
 * (the `ShardStore`: rows, applied position, epoch and binding in one synced batch; or a store that
 * applies the rows, as the KV's), its replies sent only once the write that made them true is
 * synced (the core's `Held` replies, released by the store's receipt).
 *
 * A stream must open with a hello the shard accepts (the core checks the binding at the hello
 * only): a batch or a report on a stream without one ends the stream (FAILED_PRECONDITION). Undecodable
 * frames end the stream (INVALID_ARGUMENT). `Read` serves the durable rows (UNIMPLEMENTED if the
 * store keeps none), `Status` the durable
 * applied position, the epoch, the binding and the counters, and the latest report of the player
 * of the shard's epoch (what it holds for this shard: in memory only, with its age on this
 * process's clock). With the cluster's token every call
 * must carry it (UNAUTHENTICATED otherwise), with its cluster id a call naming another cluster is
 * refused (FAILED_PRECONDITION), with its certificate it serves TLS, as acceptors do
 * (wor/node/grpc-serving.ts). Other `services` (the KV's API on a KV shard) share its server and
 * port; they do their own admission.
 */
import * as grpc from "@grpc/grpc-js";
import type { Receipt } from "../../../paxos/held.ts";
import { type ListeningServer, type ServeOptions, admission, bindServer, newServer, shutdownServer, statusError } from "../../../wor/node/grpc-serving.ts";
import { sameBinding } from "../core/items.ts";
import { type Row, ShardCore, type ShardDurable, type ShardWrite } from "../core/shard-core.ts";
import { READ_LIMITS, decodeFrame, decodeReadRequest, decodeStatusRequest, encodeReply, encodeRows, encodeStatus } from "../wire/codec.ts";
import { type ShardHandlers, ShardService } from "../wire/service.ts";

/** What the shard server needs of a shard's storage (the `ShardStore`, or one that applies the rows). */
export interface DeliveryStore {
  /** What is durable now. */
  readonly state: ShardDurable;
  /** The receipt for what the store loaded (durable already). */
  readonly loaded: Receipt;
  /** Make `w` durable in one synced write; the receipt proves it. A failure is for good. */
  write(w: ShardWrite): Promise<Receipt>;
  /** Up to `limit` durable rows from position `from` on, at most `bytesMax` data bytes (one row may
   *  exceed it alone). A store without it keeps no rows: `Read` answers UNIMPLEMENTED. */
  rows?(from: number, limit: number, bytesMax: number): Promise<Row[]>;
  /** The rows the shard applied since its last write (`ShardCore.staged`), after each frame: a store
   *  may act on them at once (they will be its next write's, in this order). */
  stage?(rows: readonly Row[]): void;
}

/** A gRPC service served beside the shard's, on its port. */
export interface ExtraService {
  readonly definition: grpc.ServiceDefinition;
  readonly handlers: grpc.UntypedServiceImplementation;
}

/** With `token`, every call must carry it (UNAUTHENTICATED otherwise); with `clusterId`, a call naming
 *  another cluster is refused (FAILED_PRECONDITION); with `tls`, served over TLS. */
export interface ShardServerOptions extends ServeOptions {
  readonly store: DeliveryStore;
  /** A write failed (the disk): the shard cannot go on; the owner closes it. */
  readonly onFailure?: (e: Error) => void;
  /** Services added to the same server (they check the token and cluster id themselves). */
  readonly services?: readonly ExtraService[];
}

export type ShardServer = ListeningServer;

const SHARD_SERVER_LIMITS = Object.freeze({
  /** Delivery streams open at once (a player holds one; a new player's may overlap a zombie's). */
  streamsMax: 64,
});

interface Session {
  readonly call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>;
  /** Its hello was accepted: batches may follow. */
  bound: boolean;
}

export async function startShardServer(o: ShardServerOptions): Promise<ShardServer> {
  const { store } = o;
  const core = new ShardCore(store.state, store.loaded);
  const sessions = new Map<number, Session>();
  let nextSession = 1;
  let failed: Error | undefined;
  const admit = admission(o, "shard");
  /** When the core's latest report arrived (the core keeps no clock). */
  let report = core.report;
  let reportedAt = 0;

  const route = () => {
    for (const { session, reply } of core.takeReplies()) sessions.get(session)?.call.write(encodeReply(reply));
  };
  /** Hand the core's next write to the store; on its receipt, release its replies and go on. */
  const flush = () => {
    const w = failed ? undefined : core.takeWrite();
    if (!w) return;
    store.write(w).then(
      (receipt) => {
        core.durable(receipt);
        route();
        flush();
      },
      (e: unknown) => {
        failed = e as Error;
        for (const s of sessions.values()) s.call.emit("error", statusError(grpc.status.UNAVAILABLE, `the shard's storage failed: ${failed.message}`));
        sessions.clear();
        o.onFailure?.(failed);
      },
    );
  };

  const handlers: ShardHandlers = {
    deliver(call) {
      const refused = admit(call.metadata);
      if (refused) {
        call.emit("error", refused);
        return;
      }
      if (sessions.size >= SHARD_SERVER_LIMITS.streamsMax) {
        call.emit("error", statusError(grpc.status.RESOURCE_EXHAUSTED, `${sessions.size} delivery streams open (limit ${SHARD_SERVER_LIMITS.streamsMax})`));
        return;
      }
      const id = nextSession++;
      const session: Session = { call, bound: false };
      sessions.set(id, session);
      const end = (code: grpc.status, details: string) => {
        sessions.delete(id);
        call.emit("error", statusError(code, details));
      };
      call.on("data", (bytes: Uint8Array) => {
        if (!sessions.has(id)) return;
        if (failed) return end(grpc.status.UNAVAILABLE, `the shard's storage failed: ${failed.message}`);
        const f = decodeFrame(bytes);
        if (!f.ok) return end(grpc.status.INVALID_ARGUMENT, f.error.message);
        if (f.value.kind !== "hello" && !session.bound) return end(grpc.status.FAILED_PRECONDITION, "a delivery stream opens with a hello the shard accepts");
        core.receive(id, f.value);
        store.stage?.(core.staged);
        if (core.report !== report) {
          report = core.report;
          reportedAt = Date.now();
        }
        if (f.value.kind === "hello") session.bound = core.binding !== undefined && sameBinding(core.binding, f.value.binding) && f.value.epoch >= core.epoch;
        route();
        flush();
      });
      const gone = () => {
        sessions.delete(id);
      };
      call.on("end", () => {
        gone();
        call.end();
      });
      call.on("error", gone);
      call.on("cancelled", gone);
    },
    read(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      if (!store.rows) return callback(statusError(grpc.status.UNIMPLEMENTED, "this shard keeps no rows (a KV shard: read it with worm kv)"));
      const req = decodeReadRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      const applied = store.state.applied;
      store.rows(req.value.from, req.value.limit, READ_LIMITS.bytesMax).then(
        (rows) => callback(null, encodeRows({ rows, applied })),
        (e: unknown) => callback(statusError(grpc.status.INTERNAL, (e as Error).message)),
      );
    },
    status(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const req = decodeStatusRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      const c = core.counters;
      const { applied, epoch, binding } = store.state;
      const r = core.report;
      const player = r && { ...r.report, epoch: r.epoch, ageMs: Math.max(0, Date.now() - reportedAt) };
      callback(null, encodeStatus({ applied, epoch, ...(binding ? { binding } : {}), streams: sessions.size, batches: c.batches, duplicates: c.duplicates, rewinds: c.rewinds, fenced: c.fenced, writes: c.writes, ...(player ? { player } : {}) }));
    },
  };
  const server = newServer();
  server.addService(ShardService, handlers);
  for (const s of o.services ?? []) server.addService(s.definition, s.handlers);
  const port = await bindServer(server, o);
  let closing: Promise<void> | undefined;
  return { port, close: () => (closing ??= shutdownServer(server)) };
}
