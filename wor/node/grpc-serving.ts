/**
 * What every WormSpace gRPC server shares (the acceptor's, wor/node/grpc-server.ts, the log
 * sequencer's, an SMR replica's, a LogPlayer shard's): keepalive settings, TLS / mutual TLS credentials,
 * the cluster-token and cluster-id checks (`admission`), binding, a graceful shutdown with a deadline, and closing
 * a call whose client stopped reading (docs/ARCHITECTURE.md §3.3).
 */
import { timingSafeEqual } from "node:crypto";
import { constants as http2 } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { CLUSTER_ID_METADATA, clusterRefusal } from "./credentials.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";
import type { SessionBudgetLimits } from "./session-budget.ts";

const SERVER_LIMITS = Object.freeze({
  keepaliveTimeMs: 20_000,
  keepaliveTimeoutMs: 5_000,
  /** Clients ping every 10 s when idle (wor/node/credentials.ts); allow down to this interval. */
  minPingIntervalWithoutDataMs: 5_000,
  /** How long `close` waits for calls to finish before cancelling them. */
  shutdownGraceMs: 2_000,
});

export interface ServerTls {
  /** PEM. */
  readonly key: Uint8Array;
  readonly cert: Uint8Array;
  /** PEM of the CA that signs client certificates (mutual TLS). */
  readonly ca?: Uint8Array;
  readonly requireClientCert?: boolean;
}

export const statusError = (code: grpc.status, details: string): Partial<grpc.ServiceError> => ({ code, details, message: details });

export const unauthenticated = (): Partial<grpc.ServiceError> => statusError(grpc.status.UNAUTHENTICATED, "missing or wrong cluster token");

/** A client that names another cluster is refused, in `server`'s name ("acceptor", "replica"...);
 *  one that names none (`--peers`) is served, and everyone by a server that knows no cluster id. */
function clusterCheck(clusterId: string | undefined, server = "acceptor"): (md: grpc.Metadata) => Partial<grpc.ServiceError> | undefined {
  if (clusterId === undefined) return () => undefined;
  return (md) => {
    const named = md.get(CLUSTER_ID_METADATA).map((v) => (typeof v === "string" ? v : v.toString()));
    const other = named.find((v) => v !== clusterId);
    return other === undefined ? undefined : statusError(grpc.status.FAILED_PRECONDITION, clusterRefusal(clusterId, other, server));
  };
}

/** Whether a call may go on, before the server does anything for it: the token (`tokenCheck`:
 *  UNAUTHENTICATED), then the cluster id (`clusterCheck`: FAILED_PRECONDITION); undefined: served. */
export function admission(o: Pick<ServeOptions, "token" | "clusterId">, server: string): (md: grpc.Metadata) => Partial<grpc.ServiceError> | undefined {
  const authorized = tokenCheck(o.token);
  const sameCluster = clusterCheck(o.clusterId, server);
  return (md) => (authorized(md) ? sameCluster(md) : unauthenticated());
}

/**
 * End a streaming call at once with RESOURCE_EXHAUSTED, dropping what it buffered for the client.
 * A status goes out as trailers behind every reply still queued, which a client that stopped reading
 * never lets through, so the call would hold its buffers forever: the HTTP/2 stream is reset with
 * ENHANCE_YOUR_CALM instead, which gRPC clients report as RESOURCE_EXHAUSTED. grpc-js has no public
 * way to reset a server stream; without its (internal) stream the status is sent the usual way.
 */
export function exhaustCall(call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>, details: string): void {
  const stream = (call as unknown as { call?: { stream?: { close?: (code: number) => void; destroyed?: boolean } } }).call?.stream;
  if (typeof stream?.close === "function") {
    if (!stream.destroyed) stream.close(http2.NGHTTP2_ENHANCE_YOUR_CALM);
    return;
  }
  call.emit("error", statusError(grpc.status.RESOURCE_EXHAUSTED, details));
}

/** A server with the channel limits and keepalive settings both ends agree on. */
export function newServer(): grpc.Server {
  return new grpc.Server({
    ...CHANNEL_OPTIONS,
    "grpc.keepalive_time_ms": SERVER_LIMITS.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": SERVER_LIMITS.keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": SERVER_LIMITS.minPingIntervalWithoutDataMs,
  });
}

/** Where a server listens, how, and whom it serves (every server of the project takes these). */
export interface ServeOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
  readonly tls?: ServerTls;
  /** Callers must send `authorization: Bearer <token>`. */
  readonly token?: string;
  /** The cluster this server belongs to (its cluster file's `clusterId`): a caller naming another
   *  is refused (`clusterCheck`; an acceptor's is its node's). None: every caller is served. */
  readonly clusterId?: string;
}

/** A server of Session streams: where it listens, and the bounds of its sessions. */
export interface SessionServeOptions extends ServeOptions {
  /** Queue limit of each session's reply writer (frames). */
  readonly queuedFramesMax?: number;
  /** Bounds on the reply bytes held for clients that do not read (defaults: SESSION_BUDGET_LIMITS). */
  readonly budget?: Partial<SessionBudgetLimits>;
}

/** A server that listens, until it is closed. */
export interface ListeningServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Listen where `o` says (127.0.0.1, any free port unless told); resolves with the bound port. */
export function bindServer(server: grpc.Server, o: Pick<ServeOptions, "host" | "port" | "tls">): Promise<number> {
  const host = o.host ?? "127.0.0.1";
  const port = o.port ?? 0;
  const target = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  return new Promise<number>((resolve, reject) => server.bindAsync(target, serverCredentials(o.tls), (err, bound) => (err ? reject(err) : resolve(bound))));
}

/** Stop taking calls; wait up to `shutdownGraceMs` for the running ones, then cancel them. */
export function shutdownServer(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SERVER_LIMITS.shutdownGraceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function serverCredentials(tls: ServerTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const pair = { private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) };
  if (tls.requireClientCert && !tls.ca) throw new Error("mutual TLS needs the CA that signs client certificates");
  return grpc.ServerCredentials.createSsl(tls.ca ? Buffer.from(tls.ca) : null, [pair], tls.requireClientCert ?? false);
}

/** `authorization: Bearer <token>`, compared in constant time; everything passes without a token. */
function tokenCheck(token: string | undefined): (md: grpc.Metadata) => boolean {
  if (token === undefined) return () => true;
  const want = Buffer.from(`Bearer ${token}`);
  return (md) =>
    md.get("authorization").some((v) => {
      const got = Buffer.from(typeof v === "string" ? v : v.toString());
      return got.length === want.length && timingSafeEqual(got, want);
    });
}
