
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { type ClusterConfig, acceptorOf, readTlsFiles } from "../../wor/node/cluster-config.ts";
import type { ServerTls } from "../../wor/node/grpc-server.ts";
import { CACHE_LIMITS } from "../../wor/node/address-cache.ts";
import { boundHeapGrowth } from "../../wor/node/heap-growth.ts";
import { type AcceptorSpec, startAcceptor } from "../../wor/node/run-acceptor.ts";
import { SESSION_BUDGET_LIMITS, type SessionBudgetLimits } from "../../wor/node/session-budget.ts";
import { loadCluster, readFlagFile } from "./cluster.ts";
import { usage } from "./errors.ts";
import { serveUntilStopped } from "./serving.ts";
import { NAME_GRAMMAR, isName } from "../../paxos/limits.ts";

/** "host:port", ":port" or "port"; port 0 picks a free port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*))?:?(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65_535) throw usage(`--listen must be host:port with a port from 0 to 65535 (got ${JSON.stringify(text)})`);
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

const opt = <A>(f: Flag.Flag<A>) => Flag.optional(f);

const nodeFlags = {
  id: Flag.Int("id").pipe(Flag.withDescription("this acceptor's id (in the cluster file)")),
  cluster: opt(Flag.String("cluster").pipe(Flag.withDescription("cluster file: cluster id, this acceptor's address, TLS, token"))),
  listen: opt(Flag.String("listen").pipe(Flag.withDescription("host:port to listen on (port 0: any free port); overrides the cluster file's address"))),
  clusterId: opt(Flag.String("cluster-id").pipe(Flag.withDescription("the cluster's id (without --cluster)"))),
  dataDir: opt(Flag.String("data-dir").pipe(Flag.withDescription("the acceptor's data directory (default: the cluster file's dataDir)"))),
  init: Flag.Boolean("init").pipe(Flag.withDefault(false), Flag.withDescription("initialise an empty data directory as this acceptor (never for a wiped one)")),
  join: Flag.Boolean("join").pipe(
    Flag.withDefault(false),
    Flag.withDescription("start a new acceptor on an empty data directory as a replacement: it serves no one until 'worm cluster replace' has copied the cluster's state to it (its id need not be in the cluster file)"),
  ),
  tlsCert: opt(Flag.String("tls-cert").pipe(Flag.withDescription("server certificate (PEM)"))),
  tlsKey: opt(Flag.String("tls-key").pipe(Flag.withDescription("server key (PEM)"))),
  tlsCa: opt(Flag.String("tls-ca").pipe(Flag.withDescription("CA (PEM) that signs client certificates"))),
  requireClientCert: Flag.Boolean("require-client-cert").pipe(Flag.withDefault(false), Flag.withDescription("mutual TLS: refuse clients without a certificate signed by --tls-ca")),
  token: opt(Flag.String("token").pipe(Flag.withDescription("cluster token every call must carry"))),
  sessionBytesMax: opt(Flag.Int("session-bytes-max").pipe(Flag.withDescription(`reply bytes one client may leave unread before its requests wait (default ${SESSION_BUDGET_LIMITS.sessionBytesMax})`))),
  allSessionsBytesMax: opt(Flag.Int("all-sessions-bytes-max").pipe(Flag.withDescription(`the same for all clients together (default ${SESSION_BUDGET_LIMITS.allSessionsBytesMax})`))),
  backedUpMsMax: opt(Flag.Int("backed-up-ms-max").pipe(Flag.withDescription(`a client whose replies stay backed up this long is disconnected (default ${SESSION_BUDGET_LIMITS.backedUpMsMax})`))),
  cacheBytesMax: opt(Flag.Int("cache-bytes-max").pipe(Flag.withDescription(`estimated bytes of addresses kept in memory; the rest are read from disk when touched (default ${CACHE_LIMITS.bytesMax})`))),
};

type NodeInput = {
  readonly id: number;
  readonly cluster: Option.Option<string>;
  readonly listen: Option.Option<string>;
  readonly clusterId: Option.Option<string>;
  readonly dataDir: Option.Option<string>;
  readonly init: boolean;
  readonly join: boolean;
  readonly tlsCert: Option.Option<string>;
  readonly tlsKey: Option.Option<string>;
  readonly tlsCa: Option.Option<string>;
  readonly requireClientCert: boolean;
  readonly token: Option.Option<string>;
  readonly sessionBytesMax: Option.Option<number>;
  readonly allSessionsBytesMax: Option.Option<number>;
  readonly backedUpMsMax: Option.Option<number>;
  readonly cacheBytesMax: Option.Option<number>;
};


async function nodeSpec(c: NodeInput): Promise<AcceptorSpec> {
  if (!Number.isSafeInteger(c.id) || c.id < 0) throw usage(`--id must be a non-negative integer (got ${c.id})`);
  let config: ClusterConfig | undefined;
  const clusterFile = Option.getOrUndefined(c.cluster);
  if (clusterFile !== undefined) config = await loadCluster(clusterFile);
  const entry = config ? acceptorOf(config, c.id) : undefined;
  if (config && !entry && !c.join) throw usage(`acceptor ${c.id} is not in the cluster file ${clusterFile} (ids: ${[config.acceptors, ...(config.groups ?? []).map((g) => g.acceptors)].flat().map((a) => a.id).join(", ")}); a new acceptor that replaces one starts with --join`);
  if (c.join && c.init) throw usage("--join and --init both initialise a data directory: --init for an acceptor of a new cluster, --join for one that replaces another");
  let clusterId = Option.getOrUndefined(c.clusterId);
  if (config && clusterId !== undefined && clusterId !== config.clusterId) throw usage(`--cluster-id ${clusterId} disagrees with the cluster file's ${config.clusterId}`);
  clusterId ??= config?.clusterId;
  if (clusterId === undefined) throw usage("give --cluster FILE, or --listen host:port with --cluster-id ID");
  if (!isName(clusterId)) throw usage(`invalid --cluster-id ${JSON.stringify(clusterId)}: ${NAME_GRAMMAR}`);
  const listen = Option.getOrUndefined(c.listen);
  const where = listen !== undefined ? parseListen(listen) : entry ? { host: entry.host, port: entry.port } : undefined;
  if (!where) throw usage("where to listen? give --listen host:port or --cluster FILE");
  const dataDir = Option.getOrUndefined(c.dataDir) ?? entry?.dataDir;
  if (dataDir === undefined) throw usage("give --data-dir DIR (the cluster file has no dataDir for this acceptor)");
  const token = Option.getOrUndefined(c.token) ?? config?.token;
  if (token !== undefined && (token.length < 16 || /\s/.test(token))) throw usage("--token must be at least 16 characters without whitespace");
  const tls = await serverTls(c, config);
  const budget = sessionBudget(c);
  const cacheBytesMax = Option.getOrUndefined(c.cacheBytesMax);
  if (cacheBytesMax !== undefined && (!Number.isSafeInteger(cacheBytesMax) || cacheBytesMax < 0)) throw usage(`--cache-bytes-max must be a whole number of bytes (got ${cacheBytesMax})`);
  return {
    clusterId,
    acceptorId: c.id,
    dataDir,
    host: where.host,
    port: where.port,
    init: c.init,
    join: c.join,
    budget,
    ...(tls ? { tls } : {}),
    ...(token ? { token } : {}),
    ...(cacheBytesMax !== undefined ? { cacheBytesMax } : {}),
  };
}

function sessionBudget(c: NodeInput): Partial<SessionBudgetLimits> {
  const budget: { -readonly [K in keyof SessionBudgetLimits]?: number } = {};
  const flags = { sessionBytesMax: "--session-bytes-max", allSessionsBytesMax: "--all-sessions-bytes-max", backedUpMsMax: "--backed-up-ms-max" } as const;
  for (const key of Object.keys(flags) as (keyof typeof flags)[]) {
    const v = Option.getOrUndefined(c[key]);
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 31 - 1) throw usage(`${flags[key]} must be an integer from 1 to ${2 ** 31 - 1} (got ${v})`);
    budget[key] = v;
  }
  const session = budget.sessionBytesMax ?? SESSION_BUDGET_LIMITS.sessionBytesMax;
  const all = budget.allSessionsBytesMax ?? SESSION_BUDGET_LIMITS.allSessionsBytesMax;
  if (session > all) throw usage(`--session-bytes-max (${session}) cannot exceed --all-sessions-bytes-max (${all})`);
  return budget;
}

async function serverTls(c: NodeInput, config: ClusterConfig | undefined): Promise<ServerTls | undefined> {
  const files = config?.tls ? await readTlsFiles(config.tls).catch((e: Error) => Promise.reject(usage(`cluster file tls: ${e.message}`))) : {};
  const cert = (await readFlagFile("--tls-cert", Option.getOrUndefined(c.tlsCert))) ?? files.cert;
  const key = (await readFlagFile("--tls-key", Option.getOrUndefined(c.tlsKey))) ?? files.key;
  const ca = (await readFlagFile("--tls-ca", Option.getOrUndefined(c.tlsCa))) ?? files.ca;
  const requireClientCert = c.requireClientCert || (config?.tls?.requireClientCert ?? false);
  if ((cert === undefined) !== (key === undefined)) throw usage("--tls-cert and --tls-key go together");
  if (cert === undefined || key === undefined) {
    if (requireClientCert) throw usage("--require-client-cert needs --tls-cert, --tls-key and --tls-ca");
    return undefined;
  }
  if (requireClientCert && ca === undefined) throw usage("--require-client-cert needs --tls-ca, the CA that signs client certificates");
  return { cert, key, ...(ca ? { ca } : {}), requireClientCert };
}

export const nodeCommand = Command.make("node", nodeFlags, (c) =>
  serveUntilStopped({
    start: async () => {
      const spec = await nodeSpec(c);
      boundHeapGrowth(); // this process serves one acceptor: its garbage is bounded with its caches
      return startAcceptor({
        ...spec,
        onSessionClosed: (peer, reason) => process.stdout.write(`${JSON.stringify({ event: "sessionClosed", peer, reason })}\n`),
      });
    },
    listening: (a) => ({ acceptorId: a.acceptorId, clusterId: a.node.members?.identity.clusterId, host: a.host, port: a.port, dataDir: a.dataDir }),
    failed: (a) => a.stopped,
    close: (a) => a.close(),
    stopped: (a) => ({ acceptorId: a.acceptorId }),
  }),
);
