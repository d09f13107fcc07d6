/**
 * Which cluster a client command talks to: a cluster file (`--cluster FILE`, else `WORM_CLUSTER`,
 * else the context in use: contexts.ts) or a list of acceptor addresses (`--peers host:port,...`),
 * plus security (token, TLS) and the per-round timeout; `-v` says on stderr which it used. Builds
 * a `WorClient` over the gRPC transport; a round that finds no quorum is reported from its account
 * (wor/core/account.ts), naming each acceptor by id and address: who answered what, who was
 * unreachable and why, who stayed silent.
 */
import { readFile } from "node:fs/promises";
import * as Option from "effect/Option";
import { Flag } from "effect/cli";
import { isValidQuorum, majority } from "../../paxos/quorum.ts";
import { isUserSpaceName, NAME_GRAMMAR } from "../../paxos/limits.ts";
import { noQuorumMessage } from "../../wor/core/account.ts";
import { type SpaceKind, type SpaceMeta, spaceMetaProblem } from "../../wor/core/space-meta.ts";
import { type GroupOptions, WorClient, WorError } from "../../wor/node/client.ts";
import { type ClusterConfig, type GroupEntry, loadClusterConfig, readTlsFiles } from "../../wor/node/cluster-config.ts";
import { parseAddress } from "../../wor/wire/address.ts";
import { type ClientSecurity, clusterMismatch } from "../../wor/node/credentials.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { shortReason } from "../../wor/node/grpc-reason.ts";
import type { Transport } from "../../wor/node/link.ts";
import { LogError } from "../log/node/log-error.ts";
import { type ClusterSource, NO_CLUSTER, defaultCluster, describeSource } from "./contexts.ts";
import { CliFailure, EXIT, toFailure, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";

export { shortReason };

const opt = <A>(f: Flag.Flag<A>) => Flag.optional(f);

/** Flags every client command takes. */
export const connectionFlags = {
  cluster: opt(
    Flag.String("cluster").pipe(Flag.withDescription("cluster file (JSON): acceptor addresses, segment size, quorum, TLS, token (default: $WORM_CLUSTER, else the context in use)")),
  ),
  peers: opt(Flag.String("peers").pipe(Flag.withDescription("acceptor addresses host:port,... (instead of --cluster)"))),
  segmentSize: opt(
    Flag.Int("segment-size").pipe(
      Flag.withDescription("segment size of a space being created (default: the cluster file's, or 4096); elsewhere the space's own, checked"),
    ),
  ),
  token: opt(Flag.String("token").pipe(Flag.withDescription("cluster token (overrides the cluster file's)"))),
  tlsCa: opt(Flag.String("tls-ca").pipe(Flag.withDescription("PEM file of the CA that signs the acceptors' certificates"))),
  tlsCert: opt(Flag.String("tls-cert").pipe(Flag.withDescription("client certificate (PEM) for mutual TLS"))),
  tlsKey: opt(Flag.String("tls-key").pipe(Flag.withDescription("client key (PEM) for mutual TLS"))),
  timeout: Flag.Int("timeout").pipe(withDefaultShown("milliseconds a round (for 'worm log': a whole operation) may take before it fails", 3_000)),
  verbose: Flag.Boolean("verbose").pipe(Flag.withAlias("v"), Flag.withDescription("say on stderr which cluster the command uses, and where that came from"), Flag.withDefault(false)),
};

/** The flags of a command that may run without a cluster but takes its TLS and token when it has one (a LogPlayer shard). */
export const securityFlags = {
  cluster: connectionFlags.cluster,
  token: connectionFlags.token,
  tlsCa: connectionFlags.tlsCa,
  tlsCert: connectionFlags.tlsCert,
  tlsKey: connectionFlags.tlsKey,
};

export type SecurityInput = Pick<ConnectionInput, keyof typeof securityFlags>;

/** The client security (and the cluster file, when there is one) of `securityFlags`: the cluster's
 *  TLS and token, overridden by the flags, and its id (sent on every call: a server of another
 *  cluster refuses it); none without a cluster file or flags. */
export async function resolveSecurity(input: SecurityInput): Promise<{ readonly security: ClientSecurity; readonly source?: ClusterSource }> {
  const cluster = Option.getOrUndefined(input.cluster);
  const source: ClusterSource | undefined = cluster !== undefined ? { kind: "flag", file: cluster } : await defaultCluster();
  const config = source && (await loadCluster(source.file, source.kind === "flag" ? undefined : describeSource(source)));
  const security = await clientSecurity(input, config);
  return { security: config ? { ...security, clusterId: config.clusterId } : security, ...(source ? { source } : {}) };
}

export interface ConnectionInput {
  readonly cluster: Option.Option<string>;
  readonly peers: Option.Option<string>;
  readonly segmentSize: Option.Option<number>;
  readonly token: Option.Option<string>;
  readonly tlsCa: Option.Option<string>;
  readonly tlsCert: Option.Option<string>;
  readonly tlsKey: Option.Option<string>;
  readonly timeout: number;
  readonly verbose: boolean;
}

export const DEFAULT_SEGMENT_SIZE = 4_096;
const TIMEOUT_MS_MAX = 600_000;

/** Everything needed to reach a cluster. */
export interface Target {
  readonly addresses: readonly string[];
  readonly acceptorIds: readonly (number | undefined)[];
  readonly clusterId?: string;
  /** The segment size of spaces created by this command (--segment-size, else the cluster file's). */
  readonly segmentSize: number;
  /** --segment-size as given: a space opened by the command must have this one. */
  readonly segmentSizeGiven?: number;
  readonly quorum: number;
  /** The epoch of the configuration the addresses come from (docs/ARCHITECTURE.md §3.5): the cluster file's, 0 for --peers. */
  readonly epoch: number;
  readonly security: ClientSecurity;
  readonly timeoutMs: number;
  /** Log sequencers named by the cluster file, in failover order (none with --peers). */
  readonly sequencers: readonly string[];
  /** The cluster file and where its name came from (none with --peers). */
  readonly source?: ClusterSource;
  /** The acceptor groups besides the main one (docs/ARCHITECTURE.md §3.6), from the cluster file. */
  readonly groups?: readonly GroupEntry[];
}

export async function resolveTarget(input: ConnectionInput): Promise<Target> {
  const target = await targetOf(input);
  if (input.verbose) process.stderr.write(`worm: ${describeTarget(target)}\n`);
  return target;
}

/** "cluster dev-1 (context prod: /etc/worm/cluster.json): acceptors 1 10.0.0.1:7100, ...; quorum 2" */
function describeTarget(t: Target): string {
  const acceptors = t.addresses.map((a, k) => (t.acceptorIds[k] !== undefined ? `${t.acceptorIds[k]} ${a}` : a)).join(", ");
  const where = t.source ? `cluster ${t.clusterId} (${describeSource(t.source)})` : "peers (--peers: no cluster id checked)";
  const sequencers = t.sequencers.length > 0 ? `; sequencers ${t.sequencers.join(", ")}` : "";
  return `${where}: acceptors ${acceptors}; quorum ${t.quorum}${sequencers}`;
}

async function targetOf(input: ConnectionInput): Promise<Target> {
  const cluster = Option.getOrUndefined(input.cluster);
  const peers = Option.getOrUndefined(input.peers);
  if (cluster !== undefined && peers !== undefined) throw usage("give --cluster FILE or --peers host:port,..., not both");
  const source: ClusterSource | undefined = cluster !== undefined ? { kind: "flag", file: cluster } : peers === undefined ? await defaultCluster() : undefined;
  if (source === undefined && peers === undefined) throw usage(NO_CLUSTER);
  const timeoutMs = input.timeout;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > TIMEOUT_MS_MAX) throw usage(`--timeout must be 1..${TIMEOUT_MS_MAX} milliseconds`);
  let config: ClusterConfig | undefined;
  if (source !== undefined) config = await loadCluster(source.file, source.kind === "flag" ? undefined : describeSource(source));
  const security = await clientSecurity(input, config);
  const given = Option.getOrUndefined(input.segmentSize);
  if (given !== undefined) {
    const problem = spaceMetaProblem({ kind: "registers", segmentSize: given });
    if (problem) throw usage(`--segment-size: ${problem}`);
  }
  const sizes = { segmentSize: given ?? config?.segmentSize ?? DEFAULT_SEGMENT_SIZE, ...(given !== undefined ? { segmentSizeGiven: given } : {}) };
  if (config && source) {
    return {
      addresses: config.acceptors.map((a) => a.address),
      acceptorIds: config.acceptors.map((a) => a.id),
      clusterId: config.clusterId,
      ...sizes,
      quorum: config.quorum,
      epoch: config.epoch,
      // Sent on every call: an acceptor of another cluster refuses it.
      security: { ...security, clusterId: config.clusterId },
      timeoutMs,
      sequencers: config.sequencers ?? [],
      source,
      ...(config.groups ? { groups: config.groups } : {}),
    };
  }
  const addresses = parsePeers(peers!);
  const quorum = majority(addresses.length);
  if (!isValidQuorum(quorum, addresses.length)) throw usage("no valid quorum for these peers");
  return { addresses, acceptorIds: addresses.map(() => undefined), ...sizes, quorum, epoch: 0, security, timeoutMs, sequencers: [] };
}

/**
 * The metadata of `space`, which must be of `kind` (and have --segment-size, when given): checked
 * before a command writes anything, so a verb never touches a space of another kind.
 */
/** The verb that creates a space of an app's kind, for the message about one that does not exist
 *  (the generic hint, 'worm space create', makes a registers space, which the app then refuses). */
const CREATE_VERB: Partial<Record<SpaceKind, (space: string) => string>> = {
  smr: (space) => `worm smr create ${space}`,
  txn: (space) => `worm txn create ${space}`,
};

export async function openTyped(client: WorClient, target: Target, space: string, kind: SpaceKind): Promise<SpaceMeta> {
  const meta = await client.openSpace(space, kind).catch((e: unknown) => {
    const create = CREATE_VERB[kind];
    if (e instanceof WorError && e.code === "unknownSpace" && create) throw usage(`no ${kind} space named ${space}; create it with '${create(space)}'`);
    throw e;
  });
  checkGeometry(target, space, meta);
  return meta;
}

/** --segment-size, when given, must be the space's own. */
function checkGeometry(target: Target, space: string, meta: SpaceMeta): void {
  if (target.segmentSizeGiven !== undefined && target.segmentSizeGiven !== meta.segmentSize) {
    throw usage(`--segment-size ${target.segmentSizeGiven} disagrees with ${space}'s segment size ${meta.segmentSize} (chosen when it was created)`);
  }
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

/** Load a cluster file with CLI-shaped errors; `from` says where its name came from when not a flag. */
export async function loadCluster(path: string, from?: string): Promise<ClusterConfig> {
  const via = from !== undefined ? ` (${from})` : "";
  try {
    return await loadClusterConfig(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw usage(`cluster file not found: ${path}${via}`);
    if (err.code === "EISDIR") throw usage(`cluster file is a directory: ${path}${via}`);
    const f = toFailure(e);
    throw via ? new CliFailure(`${f.message}${via}`, f.exitCode) : f;
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

async function clientSecurity(input: SecurityInput, config: ClusterConfig | undefined): Promise<ClientSecurity> {
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

/** A transport that remembers each acceptor's last connection error (for a log operation that ran
 *  out of time: its message names the acceptors that were not answering). */
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

/** A client to the target's acceptors, and how its failures read. */
export interface OpenClient {
  readonly client: WorClient;
  /** A round short of a quorum as a CliFailure naming the acceptors; anything else via toFailure. */
  failure(e: unknown): CliFailure;
}

/** Open a long-lived client; the caller closes `client`. */
export function openClient(target: Target, options: ClientOptions = {}): OpenClient {
  const lastError = new Map<number, string>();
  const transport = recordingTransport(grpcTransport({ addresses: target.addresses, epoch: target.epoch, ...target.security }), lastError);
  const client = new WorClient({
    transport,
    acceptors: target.addresses.length,
    quorum: target.quorum,
    segmentSize: target.segmentSize,
    roundTimeoutMs: target.timeoutMs,
    resendMs: Math.min(1_000, Math.max(50, Math.floor(target.timeoutMs / 3))),
    ...(options.cache === false ? { cacheEntriesMax: 0 } : {}),
    ...(options.proposerId !== undefined ? { proposerId: options.proposerId } : {}),
    ...(target.groups ? { groups: groupTransports(target.groups, target.security) } : {}),
  });
  /** The acceptors that did not answer, and why. */
  const unanswered = (): string => {
    const auth = [...lastError].filter(([, why]) => /token|unauthenticated/i.test(why)).map(([a]) => target.addresses[a]);
    const down = [...lastError].filter(([, why]) => !/token|unauthenticated/i.test(why)).map(([a, why]) => `${target.addresses[a]} (${shortReason(why)})`);
    let detail = down.length > 0 ? `; unreachable: ${down.join(", ")}` : "";
    if (auth.length > 0) detail += `; refused the cluster token (check --token or the cluster file): ${auth.join(", ")}`;
    return detail;
  };
  const failure = (e: unknown): CliFailure => {
    const foreign = foreignAcceptors(target, lastError);
    if (foreign && (e instanceof WorError || e instanceof LogError)) return usage(foreign);
    const account = e instanceof WorError && (e.code === "timeout" || e.code === "unavailable") ? e.failure.account : undefined;
    if (account) {
      const name = acceptorName(target);
      const token = account.unreachable.some((u) => /token|unauthenticated/i.test(u.reason));
      return new CliFailure(`${noQuorumMessage(account, name)}${token ? "; check --token or the cluster file's token" : ""}`, EXIT.operational);
    }
    // A log operation out of time: what it waited for, and the acceptors that did not answer.
    if (e instanceof LogError && (e.failure.code === "timeout" || e.failure.code === "unavailable")) return new CliFailure(`${toFailure(e).message}${unanswered()}`, EXIT.operational);
    return toFailure(e);
  };
  return { client, failure };
}

/** The target of acceptor group `name` alone (its acceptors, quorum and epoch), for admin calls to them. */
export function groupTarget(target: Target, name: string): Target {
  const g = target.groups?.find((x) => x.name === name);
  if (!g) return target;
  return { ...target, addresses: g.acceptors.map((a) => a.address), acceptorIds: g.acceptors.map((a) => a.id), quorum: g.quorum, epoch: g.epoch };
}

/** Each group's transport, acceptors and quorum, for a client that places spaces on groups. */
const groupTransports = (groups: readonly GroupEntry[], security: ClientSecurity): Record<string, GroupOptions> =>
  Object.fromEntries(groups.map((g) => [g.name, { transport: grpcTransport({ addresses: g.acceptors.map((a) => a.address), epoch: g.epoch, ...security }), acceptors: g.acceptors.length, quorum: g.quorum }]));

/** Acceptor `k` of the target by id and address, for messages: "acceptor 3 (127.0.0.1:7102)". */
export const acceptorName =
  (target: Target) =>
  (k: number): string =>
    `acceptor ${target.acceptorIds[k] ?? k + 1} (${target.addresses[k]})`;

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
    byCluster.set(m.server, [...(byCluster.get(m.server) ?? []), target.addresses[a]!]);
  }
  if (byCluster.size === 0) return undefined;
  const parts = [...byCluster].map(([cluster, addrs]) => `${addrs.length === 1 ? "acceptor" : "acceptors"} ${addrs.join(", ")} ${addrs.length === 1 ? "belongs" : "belong"} to cluster ${cluster}`);
  return `${parts.join("; ")}, not ${client}: check --cluster`;
}

/** A user space name, or a bad-input failure. */
export function checkSpaceName(name: string): string {
  if (!isUserSpaceName(name)) {
    throw usage(`invalid space name ${JSON.stringify(name)}: ${NAME_GRAMMAR}`);
  }
  return name;
}

/** A non-negative exact integer (an address, a segment, a mark), or a bad-input failure. */
export function checkIndex(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw usage(`${what} must be a non-negative integer (got ${n})`);
  return n;
}
