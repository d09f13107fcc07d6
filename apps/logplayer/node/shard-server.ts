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
 *
 * A player in the same process (a KV node's own) may skip the network: `local()` opens a delivery
 * stream whose frames reach the same core as a stream's, with no encoding and no gRPC (the
 * player's `ShardLinks` takes it for that shard's address).
 */
import * as grpc from "@grpc/grpc-js";
import type { Receipt } from "../../../paxos/held.ts";
import { type ListeningServer, type ServeOptions, admission, bindServer, newServer, shutdownServer, statusError } from "../../../wor/node/grpc-serving.ts";
import { type PlayerFrame, type ShardReply, sameBinding } from "../core/items.ts";
import { type Row, ShardCore, type ShardDurable, type ShardWrite } from "../core/shard-core.ts";
import { READ_LIMITS, decodeFrame, decodeReadRequest, decodeStatusRequest, encodeReply, encodeRows, encodeStatus } from "../wire/codec.ts";
import { type ShardHandlers, ShardService } from "../wire/service.ts";
import type { DeliveryHandlers, DeliveryStream } from "./shard-link.ts";

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

export interface ShardServer extends ListeningServer {
  /** A delivery stream in this process: frames go to the shard's core as they are, replies come back
   *  as they are (after a turn, as over a stream). */
  local(h: DeliveryHandlers): DeliveryStream;
}

const SHARD_SERVER_LIMITS = Object.freeze({
  /** Delivery streams open at once (a player holds one; a new player's may overlap a zombie's). */
  streamsMax: 64,
});

interface Session {
  /** Where its replies go (its stream, or an in-process player). */
  readonly reply: (reply: ShardReply) => void;
  /** End it: the shard's storage failed (UNAVAILABLE), or its frames broke the protocol. */
  readonly end: (code: grpc.status, details: string) => void;
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
    for (const { session, reply } of core.takeReplies()) sessions.get(session)?.reply(reply);
  };
  /** Closing: no write starts any more (what is staged is the log's still: a next life replays it). */
  let stopping = false;
  /** The write under way, if any: closing waits for it, so that the store it writes to may be closed then. */
  let writing: Promise<void> | undefined;
  /** Hand the core's next write to the store; on its receipt, release its replies and go on. */
  const flush = () => {
    const w = failed || stopping ? undefined : core.takeWrite();
    if (!w) return;
    const done: Promise<void> = store.write(w).then(
      (receipt) => {
        if (writing === done) writing = undefined;
        core.durable(receipt);
        route();
        flush();
      },
      (e: unknown) => {
        if (writing === done) writing = undefined;
        failed = e as Error;
        for (const s of [...sessions.values()]) s.end(grpc.status.UNAVAILABLE, `the shard's storage failed: ${failed.message}`);
        o.onFailure?.(failed);
      },
    );
    writing = done;
  };

  /** A new session: its id. */
  const open = (reply: Session["reply"], end: Session["end"]): number => {
    const id = nextSession++;
    sessions.set(id, {
      reply,
      end: (code, details) => {
        sessions.delete(id);
        end(code, details);
      },
      bound: false,
    });
    return id;
  };
  /** Frame `f` of session `id`, to the core; then its replies and the next write. */
  const receive = (id: number, f: PlayerFrame) => {
    const session = sessions.get(id);
    if (!session) return;
    if (failed) return session.end(grpc.status.UNAVAILABLE, `the shard's storage failed: ${failed.message}`);
    if (f.kind !== "hello" && !session.bound) return session.end(grpc.status.FAILED_PRECONDITION, "a delivery stream opens with a hello the shard accepts");
    core.receive(id, f);
    store.stage?.(core.staged);
    if (core.report !== report) {
      report = core.report;
      reportedAt = Date.now();
    }
    if (f.kind === "hello") session.bound = core.binding !== undefined && sameBinding(core.binding, f.binding) && f.epoch >= core.epoch;
    route();
    flush();
  };
  /** The in-process sessions: ended when the server closes (its streams end with the server). */
  const locals = new Set<number>();
  const local = (h: DeliveryHandlers): DeliveryStream => {
    let over = false;
    // A turn later, as a stream's messages arrive: neither side is re-entered from its own call.
    const later = (f: () => void) => queueMicrotask(() => over || f());
    const id = open(
      (reply) => later(() => h.reply(reply)),
      (_code, details) => {
        locals.delete(id);
        later(() => {
          over = true;
          h.down(details, false);
        });
      },
    );
    locals.add(id);
    return {
      send: (frame) => later(() => receive(id, frame)),
      close: () => {
        over = true;
        locals.delete(id);
        sessions.delete(id);
      },
    };
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
      const id = open(
        (reply) => call.write(encodeReply(reply)),
        (code, details) => call.emit("error", statusError(code, details)),
      );
      call.on("data", (bytes: Uint8Array) => {
        const f = decodeFrame(bytes);
        if (!f.ok) return void sessions.get(id)?.end(grpc.status.INVALID_ARGUMENT, f.error.message);
        receive(id, f.value);
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
  return {
    port,
    local,
    close: () => {
      stopping = true;
      for (const id of [...locals]) sessions.get(id)?.end(grpc.status.UNAVAILABLE, "the shard is stopping");
      closing ??= (async () => {
        await shutdownServer(server);
        while (writing) await writing;
      })();
      return closing;
    },
  };
}
