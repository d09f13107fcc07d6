/** gRPC credentials, the cluster token and the cluster id for clients (docs/ARCHITECTURE.md §3.3: TLS, mutual TLS, token). */
import * as grpc from "@grpc/grpc-js";

export interface ClientSecurity {
  /** PEM bytes. `ca` alone: server-authenticated TLS; with `key` and `cert`: mutual TLS. */
  readonly tls?: { readonly ca?: Uint8Array; readonly key?: Uint8Array; readonly cert?: Uint8Array; readonly serverName?: string };
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /** The cluster the client means (its cluster file's `clusterId`): an acceptor of another refuses it. */
  readonly clusterId?: string;
}

/** The metadata key carrying the client's cluster id. */
export const CLUSTER_ID_METADATA = "wormspace-cluster-id";
/** The epoch of the configuration a session's client runs under (docs/ARCHITECTURE.md §3.5; none: 0). */
export const EPOCH_METADATA = "wormspace-epoch";
/** A session of a reconfiguration's installer, the only one a joining replacement serves. */
export const INSTALLER_METADATA = "wormspace-installer";
/** The trailer of a session refused as reconfigured or retired: the configuration to follow (encoded). */
export const CONFIGURATION_TRAILER = "wormspace-configuration-bin";

/** A server's refusal of a client of another cluster (the status details the client gets); `server`
 *  is what it is ("acceptor", "replica", "shard", "sequencer"). */
export const clusterRefusal = (cluster: string, client: string, server = "acceptor"): string => `this ${server} belongs to cluster ${cluster}, not ${client}`;
const CLUSTER_MISMATCH = /belongs to cluster (\S+), not (\S+)$/;

/** The server's and the client's cluster ids, when `reason` is `clusterRefusal`'s text. */
export function clusterMismatch(reason: string): { readonly server: string; readonly client: string } | undefined {
  const m = CLUSTER_MISMATCH.exec(reason);
  return m ? { server: m[1]!, client: m[2]! } : undefined;
}

export function channelCredentials(security: ClientSecurity = {}): grpc.ChannelCredentials {
  const t = security.tls;
  if (!t) return grpc.credentials.createInsecure();
  const buf = (b?: Uint8Array) => (b ? Buffer.from(b) : null);
  return grpc.credentials.createSsl(buf(t.ca), buf(t.key), buf(t.cert));
}

export function callMetadata(security: ClientSecurity = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  if (security.token) md.set("authorization", `Bearer ${security.token}`);
  if (security.clusterId) md.set(CLUSTER_ID_METADATA, security.clusterId);
  return md;
}

export function channelOptions(security: ClientSecurity = {}): Partial<grpc.ChannelOptions> {
  const o: Record<string, string | number> = {
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.initial_reconnect_backoff_ms": 50,
    "grpc.max_reconnect_backoff_ms": 1_000,
    // Each client its own connections: grpc-js otherwise shares a subchannel between clients of the
    // same address, and a fresh client would inherit another's reconnect backoff (its first call
    // failing at once with "No connection established" although the acceptor is up).
    "grpc.use_local_subchannel_pool": 1,
  };
  if (security.tls?.serverName) o["grpc.ssl_target_name_override"] = security.tls.serverName;
  return o;
}

/** A refusal by a server of another cluster (`clusterRefusal`), in a user's words naming `server`
 *  ("sequencer 10.0.0.1:7001"); undefined for any other failure. */
export function foreignCluster(server: string, reason: string): string | undefined {
  const m = clusterMismatch(reason);
  return m && `${server} belongs to cluster ${m.server}, not ${m.client}: check its address and --cluster`;
}

/**
 * A failure that retrying cannot mend, because this client and `server` ("replica 10.0.0.1:7001")
 * are set up differently: `server` belongs to another cluster (`foreignCluster`), or the two ends
 * disagree on TLS (`tlsMismatch`); in a user's words naming `server`, or undefined for any other
 * failure. `reason` is grpc-js's, whole.
 */
export function misconfiguration(server: string, reason: string, security: ClientSecurity = {}): string | undefined {
  return foreignCluster(server, reason) ?? tlsMismatch(server, reason, security);
}

/**
 * A connection failure that comes from the two ends disagreeing on TLS, in a user's words naming
 * `server` ("replica 10.0.0.1:7001"); undefined for any other failure. `reason` is grpc-js's, whole
 * (the TLS library's words are past where `shortReason` cuts). "Probably" where grpc-js says only
 * that the server closed the connection before HTTP/2 started ("Failed to connect", no socket error).
 */
function tlsMismatch(server: string, reason: string, security: ClientSecurity = {}): string | undefined {
  const fix = "give the cluster file it serves with, or --tls-ca";
  // A TLS server closes a plaintext connection, and one whose certificate it refuses, in the handshake.
  const closed = /Failed to connect/.test(reason) && !/E[A-Z]{3,}/.test(reason);
  if (!security.tls) return closed ? `${server} did not take this client's plaintext connection: it serves TLS, probably (${fix})` : undefined;
  if (/wrong version number|packet length too long|unknown protocol/i.test(reason)) return `${server} does not serve TLS, and this client connects with TLS (from --tls-ca or the cluster file's tls: give the cluster file it serves with)`;
  if (closed && security.tls.cert) return `${server} closed this client's TLS connection: it does not trust this client's certificate, probably (give the cluster file it serves with, or --tls-cert and --tls-key)`;
  if (/certificate required/i.test(reason)) return `${server} requires a client certificate (mutual TLS), and this client has none (--tls-cert and --tls-key, or the cluster file's tls with requireClientCert)`;
  const cert = /certificate verify failed|unable to (?:get|verify) [\w ]+|self[- ]signed certificate(?: in certificate chain)?|does not match certificate's altnames|unknown ca|bad certificate|certificate (?:has )?expired/i.exec(reason);
  if (cert) return `${server} and this client do not trust each other's TLS certificates (${cert[0]}: ${fix})`;
  return undefined;
}
