/**
 * The SMR's gRPC server (docs/ARCHITECTURE.md §4.2, proto/wormspace/v1/smr.proto): clients' Session
 * streams of proposals and reads (any replica: a follower forwards to the leader), answered by id
 * with the acceptor's and the sequencer's rules (wor/node/request-session.ts: the replies of one tick
 * in one envelope, backpressure, the session budget), the unary admin call Status, replicas' Peer streams and
 * FetchSnapshot (the chunks of a local checkpoint, written as fast as the fetcher reads: HTTP/2
 * flow control holds the store's iterator back). Bytes become values only through
 * apps/smr/wire/codec.ts. TLS, the token and cluster-id checks (every call, before anything: a
 * client or a peer of another cluster is refused), binding and shutdown are the acceptor server's
 * (wor/node/grpc-serving.ts). The server does not own its replica.
 */
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { type ListeningServer, type SessionServeOptions, admission, bindServer, newServer, shutdownServer, statusError } from "../../../wor/node/grpc-serving.ts";
import type { Decoded } from "../../../proto/codec-kernel.ts";
import { RequestSessions } from "../../../wor/node/request-session.ts";
import type { SmrReply } from "../core/messages.ts";
import {
  type DecodedSmrRequestFrame,
  type SmrReplyFrame,
  decodeFetchRequest,
  decodePeerEnvelope,
  decodeRequests,
  decodeStatusRequest,
  encodeChunk,
  encodeReplies,
  encodeStatus,
  replyFrameBytes,
} from "../wire/codec.ts";
import { type SmrHandlers, SmrService } from "../wire/service.ts";
import type { ReplicaNode } from "./replica-node.ts";

export interface SmrServerOptions extends SessionServeOptions {
  readonly node: ReplicaNode;
  readonly smr: string;
}

const failure = (code: "invalid" | "tooLarge" | "unavailable", message: string): SmrReply => ({ ok: false, code, message });

export type SmrServer = ListeningServer;

export async function startSmrServer(o: SmrServerOptions): Promise<SmrServer> {
  const server = newServer();
  const admit = admission(o, "replica");
  const calls = new Set<grpc.ServerDuplexStream<Uint8Array, Uint8Array>>();
  const sessions = new RequestSessions<DecodedSmrRequestFrame, SmrReplyFrame>(o.budget);
  /** A request's reply now (bad, or for another SMR), or the work that answers it. */
  const handle = (f: DecodedSmrRequestFrame): SmrReplyFrame | (() => Promise<SmrReplyFrame>) => {
    if (f.kind === "invalid") return { id: f.id, reply: failure(f.error.code === "tooLarge" ? "tooLarge" : "invalid", f.error.message) };
    if (f.smr !== o.smr) return { id: f.id, reply: failure("invalid", `this replica serves ${o.smr}, not ${f.smr}`) };
    if (f.kind === "propose") return async () => ({ id: f.id, reply: await o.node.propose(f.proposal) });
    return async () => ({ id: f.id, reply: await o.node.read(f.query, f.stale) });
  };
  /** A request's value, or the gRPC error for it (bad bytes, another SMR). */
  const check = <T extends { smr: string }>(d: Decoded<T>): T | Partial<grpc.ServiceError> => {
    if (!d.ok) return statusError(grpc.status.INVALID_ARGUMENT, d.error.message);
    if (d.value.smr !== o.smr) return statusError(grpc.status.NOT_FOUND, `this replica serves ${o.smr}, not ${d.value.smr}`);
    return d.value;
  };
  const isError = (x: object): x is Partial<grpc.ServiceError> => "code" in x;

  const handlers: SmrHandlers = {
    session(call) {
      const refused = admit(call.metadata);
      if (refused) return void call.emit("error", refused);
      sessions.serve(call, {
        decode: decodeRequests,
        unreadable: (e) => ({ id: 0, reply: failure("invalid", e.message) }),
        handle,
        busy: (f, n, limit) => ({ id: f.id, reply: failure("unavailable", `${n} requests in flight on this session (limit ${limit})`) }),
        encode: encodeReplies,
        replyBytes: replyFrameBytes,
        queuedFramesMax: o.queuedFramesMax,
      });
    },
    status(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const r = decodeStatusRequest(call.request);
      if (!r.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, r.error.message));
      callback(null, encodeStatus(o.node.status()));
    },
    fetchSnapshot(call) {
      const refused = admit(call.metadata);
      if (refused) return void call.emit("error", refused);
      calls.add(call);
      call.on("close", () => calls.delete(call));
      call.once("data", (bytes: Uint8Array) => {
        const r = check(decodeFetchRequest(bytes));
        if (isError(r)) return void call.emit("error", r);
        const chunks = o.node.snapshot(r.position);
        if (!chunks) return void call.emit("error", statusError(grpc.status.NOT_FOUND, `${o.node.status().id} holds no checkpoint of position ${r.position}`));
        void (async () => {
          try {
            for await (const c of chunks) {
              if (call.cancelled || call.destroyed) return;
              if (!call.write(encodeChunk(c))) await once(call, "drain");
            }
            call.end();
          } catch (e) {
            call.emit("error", statusError(grpc.status.INTERNAL, `reading the checkpoint of position ${r.position}: ${(e as Error).message}`));
          }
        })();
      });
    },
    peer(call) {
      const refused = admit(call.metadata);
      if (refused) return void call.emit("error", refused);
      calls.add(call);
      call.on("close", () => calls.delete(call));
      call.on("data", (bytes: Uint8Array) => {
        const r = check(decodePeerEnvelope(bytes));
        if (!isError(r)) o.node.deliver(r.from, r.messages);
      });
      call.on("end", () => call.end());
    },
  };
  server.addService(SmrService, handlers);
  const port = await bindServer(server, o);
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closing ??= sessions.shutdown(() => {
        for (const c of calls) c.end();
        return shutdownServer(server);
      })),
  };
}
