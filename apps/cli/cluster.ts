/**
 * Which cluster a client command talks to: a cluster file (`--cluster FILE`) or a list of acceptor
 * addresses (`--peers host:port,...`), plus security (token, TLS) and the per-round timeout. Builds
 * a `WorClient` over the gRPC transport and remembers why each acceptor was unreachable, so that a
 * timeout names the addresses that did not answer.
 */
import { readFile } from "node:fs/promises";
import { Option } from "effect";
import { Flag } from "effect/cli";
import { isValidQuorum, majority } from "../../paxos/quorum.ts";
import { isUserSpaceName } from "../../paxos/limits.ts";
import { WorClient, WorError } from "../../wor/node/client.ts";
import { type ClusterConfig, loadClusterConfig, parseAddress, readTlsFiles } from "../../wor/node/cluster-config.ts";
import { type ClientSecurity, clusterMismatch } from "../../wor/node/credentials.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import type { Transport } from "../../wor/node/link.ts";
import { CliFailure, EXIT, toFailure, usage } from "./errors.ts";

const opt = <A>(f: Flag.Flag<A>) => Flag.optional(f);

/** Flags every client command takes. */
export const connectionFlags = {
  cluster: opt(Flag.String("cluster").pipe(Flag.withDescription("cluster file (JSON): acceptor addresses, segment size, quorum, TLS, token"))),
  peers: opt(Flag.String("peers").pipe(Flag.withDescription("acceptor addresses host:port,... (instead of --cluster)"))),
  segmentSize: opt(Flag.Int("segment-size").pipe(Flag.withDescription("segment size with --peers (default 4096)"))),
  token: opt(Flag.String("token").pipe(Flag.withDescription("cluster token (overrides the cluster file's)"))),
  tlsCa: opt(Flag.String("tls-ca").pipe(Flag.withDescription("PEM file of the CA that signs the acceptors' certificates"))),
  tlsCert: opt(Flag.String("tls-cert").pipe(Flag.withDescription("client certificate (PEM) for mutual TLS"))),
  tlsKey: opt(Flag.String("tls-key").pipe(Flag.withDescription("client key (PEM) for mutual TLS"))),
  timeout: Flag.Int("timeout").pipe(Flag.withDefault(3_000), Flag.withDescription("milliseconds a round may take before it fails")),
};

export interface ConnectionInput {
  readonly cluster: Option.Option<string>;
  readonly peers: Option.Option<string>;
  readonly segmentSize: Option.Option<number>;
  readonly token: Option.Option<string>;
  readonly tlsCa: Option.Option<string>;
  readonly tlsCert: Option.Option<string>;
  readonly tlsKey: Option.Option<string>;
  readonly timeout: number;
}

export const DEFAULT_SEGMENT_SIZE = 4_096;
export const TIMEOUT_MS_MAX = 600_000;

/** Everything needed to reach a cluster. */
export interface Target {
  readonly addresses: readonly string[];
  readonly acceptorIds: readonly (number | undefined)[];
  readonly clusterId?: string;
  readonly segmentSize: number;
  readonly quorum: number;
  readonly security: ClientSecurity;
  readonly timeoutMs: number;
}

export async function resolveTarget(input: ConnectionInput): Promise<Target> {
  const cluster = Option.getOrUndefined(input.cluster);
  const peers = Option.getOrUndefined(input.peers);
  if (cluster !== undefined && peers !== undefined) throw usage("give --cluster FILE or --peers host:port,..., not both");
  if (cluster === undefined && peers === undefined) throw usage("which cluster? give --cluster FILE or --peers host:port,...");
  const timeoutMs = input.timeout;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > TIMEOUT_MS_MAX) throw usage(`--timeout must be 1..${TIMEOUT_MS_MAX} milliseconds`);
  let config: ClusterConfig | undefined;
  if (cluster !== undefined) config = await loadCluster(cluster);
  const security = await clientSecurity(input, config);
  if (config) {
    if (Option.isSome(input.segmentSize) && input.segmentSize.value !== config.segmentSize) {
      throw usage(`--segment-size ${input.segmentSize.value} disagrees with the cluster file's ${config.segmentSize}`);
    }
    return {
      addresses: config.acceptors.map((a) => a.address),
      acceptorIds: config.acceptors.map((a) => a.id),
      clusterId: config.clusterId,
      segmentSize: config.segmentSize,
      quorum: config.quorum,
      // Sent on every call: an acceptor of another cluster refuses it.
      security: { ...security, clusterId: config.clusterId },
      timeoutMs,
    };
  }
  const addresses = parsePeers(peers!);
  const segmentSize = Option.getOrElse(input.segmentSize, () => DEFAULT_SEGMENT_SIZE);
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 1 || (segmentSize & (segmentSize - 1)) !== 0) throw usage(`--segment-size must be a power of two (got ${segmentSize})`);
  const quorum = majority(addresses.length);
  if (!isValidQuorum(quorum, addresses.length)) throw usage("no valid quorum for these peers");
  return { addresses, acceptorIds: addresses.map(() => undefined), segmentSize, quorum, security, timeoutMs };
}

/** The bytes of a file named by a flag (PEM for TLS), or undefined when the flag is absent. */
export async function readFlagFile(flag: string, path: string | undefined): Promise<Uint8Array | undefined> {
  if (path === undefined) return undefined;
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw usage(`${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Load a cluster file with CLI-shaped errors. */
export async function loadCluster(path: string): Promise<ClusterConfig> {
  try {
    return await loadClusterConfig(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw usage(`cluster file not found: ${path}`);
    if (err.code === "EISDIR") throw usage(`cluster file is a directory: ${path}`);
    throw toFailure(e);
  }
}

/** `host:port,host:port,...` given to `flag`: distinct addresses, at least one. */
export function parsePeers(text: string, flag = "--peers"): string[] {
  const parts = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw usage(`${flag} needs at least one host:port`);
  const out: string[] = [];
  for (const p of parts) {
    const a = parseAddress(p);
    if (typeof a === "string") throw usage(`${flag}: ${p}: ${a}`);
    if (out.includes(a.address)) throw usage(`${flag}: ${a.address} appears twice`);
    out.push(a.address);
  }
  return out;
}

async function clientSecurity(input: ConnectionInput, config: ClusterConfig | undefined): Promise<ClientSecurity> {
  const token = Option.getOrUndefined(input.token) ?? config?.token;
  let ca = await readFlagFile("--tls-ca", Option.getOrUndefined(input.tlsCa));
  let cert = await readFlagFile("--tls-cert", Option.getOrUndefined(input.tlsCert));
  let key = await readFlagFile("--tls-key", Option.getOrUndefined(input.tlsKey));
  if ((cert === undefined) !== (key === undefined)) throw usage("--tls-cert and --tls-key go together");
  if (config?.tls) {
    const files = await readTlsFiles(config.tls).catch((e: Error) => {
      throw usage(`cluster file tls: ${e.message}`);
    });
    ca ??= files.ca;
    // With mutual TLS and no client certificate of its own, the CLI presents the cluster's.
    if (config.tls.requireClientCert && cert === undefined) {
      cert = files.cert;
      key = files.key;
    }
  }
  const tls = ca !== undefined || cert !== undefined ? { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } : undefined;
  return { ...(tls ? { tls } : {}), ...(token ? { token } : {}) };
}

/** A transport that remembers each acceptor's last connection error. */
function recordingTransport(inner: Transport, lastError: Map<number, string>): Transport {
  return {
    connect(acceptor, events) {
      return inner.connect(acceptor, {
        onFrames: (frames) => {
          lastError.delete(acceptor);
          events.onFrames(frames);
        },
        onUp: () => events.onUp(),
        onDown: (reason) => {
          lastError.set(acceptor, reason);
          events.onDown(reason);
        },
      });
    },
  };
}

export interface ClientOptions {
  /** Cache chosen values (default on; off for tests that must read from acceptors). */
  readonly cache?: boolean;
  readonly proposerId?: number;
}

/** A client to the target's acceptors, and why each acceptor last failed (for error messages). */
export interface OpenClient {
  readonly client: WorClient;
  /** Timeouts and unreachable acceptors as a CliFailure naming them; anything else via toFailure. */
  failure(e: unknown): CliFailure;
}

/** Open a long-lived client; the caller closes `client`. */
export function openClient(target: Target, options: ClientOptions = {}): OpenClient {
  const lastError = new Map<number, string>();
  const transport = recordingTransport(grpcTransport({ addresses: target.addresses, ...target.security }), lastError);
  const client = new WorClient({
    transport,
    acceptors: target.addresses.length,
    quorum: target.quorum,
    segmentSize: target.segmentSize,
    roundTimeoutMs: target.timeoutMs,
    resendMs: Math.min(1_000, Math.max(50, Math.floor(target.timeoutMs / 3))),
    ...(options.cache === false ? { cacheEntriesMax: 0 } : {}),
    ...(options.proposerId !== undefined ? { proposerId: options.proposerId } : {}),
  });
  const failure = (e: unknown): CliFailure => {
    if (e instanceof WorError && (e.code === "timeout" || e.code === "unavailable")) {
      const foreign = foreignAcceptors(target, lastError);
      if (foreign) return usage(foreign);
      const auth = [...lastError].filter(([, why]) => /token|unauthenticated/i.test(why)).map(([a]) => target.addresses[a]);
      const down = [...lastError].filter(([, why]) => !/token|unauthenticated/i.test(why)).map(([a, why]) => `${target.addresses[a]} (${shortReason(why)})`);
      let detail = down.length > 0 ? `; unreachable: ${down.join(", ")}` : "";
      if (auth.length > 0) detail += `; refused the cluster token (check --token or the cluster file): ${auth.join(", ")}`;
      return new CliFailure(`no quorum (${target.quorum} of ${target.addresses.length} acceptors) answered within ${target.timeoutMs} ms${detail}`, EXIT.operational);
    }
    return toFailure(e);
  };
  return { client, failure };
}

/** Open a client, run `f`, close the client; failures become CliFailures naming unreachable acceptors. */
export async function withClient<T>(target: Target, f: (client: WorClient) => Promise<T>, options: ClientOptions = {}): Promise<T> {
  const { client, failure } = openClient(target, options);
  try {
    return await f(client);
  } catch (e) {
    throw failure(e);
  } finally {
    client.close();
  }
}

/** "acceptor A belongs to cluster X, not Y: check --cluster" when acceptors refused the target's cluster id. */
function foreignAcceptors(target: Target, lastError: ReadonlyMap<number, string>): string | undefined {
  const byCluster = new Map<string, string[]>();
  let client = "";
  for (const [a, why] of [...lastError].sort(([x], [y]) => x - y)) {
    const m = clusterMismatch(why);
    if (!m) continue;
    client = m.client;
    byCluster.set(m.acceptor, [...(byCluster.get(m.acceptor) ?? []), target.addresses[a]!]);
  }
  if (byCluster.size === 0) return undefined;
  const parts = [...byCluster].map(([cluster, addrs]) => `${addrs.length === 1 ? "acceptor" : "acceptors"} ${addrs.join(", ")} ${addrs.length === 1 ? "belongs" : "belong"} to cluster ${cluster}`);
  return `${parts.join("; ")}, not ${client}: check --cluster`;
}

/** grpc-js reasons are long; keep the part that says what happened. */
export function shortReason(reason: string): string {
  const m = /(ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|ECONNRESET)/.exec(reason);
  if (m) return m[1] === "ECONNREFUSED" ? "connection refused" : m[1]!;
  return reason.length > 80 ? `${reason.slice(0, 79)}…` : reason;
}

/** A user space name, or a bad-input failure. */
export function checkSpaceName(name: string): string {
  if (!isUserSpaceName(name)) {
    throw usage(`invalid space name ${JSON.stringify(name)}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return name;
}

/** A non-negative exact integer (an address, a segment, a mark), or a bad-input failure. */
export function checkIndex(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw usage(`${what} must be a non-negative integer (got ${n})`);
  return n;
}
