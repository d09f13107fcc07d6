
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { mapMachine } from "../smr/core/map-machine.ts";
import { ReplicaNode } from "../smr/node/replica-node.ts";
import { startSmrServer } from "../smr/node/server.ts";
import { type ConnectionInput, checkSpaceName, connectionFlags, openClient, openTyped, resolveTarget } from "./cluster.ts";
import { operational, usage } from "./errors.ts";
import { clusterTls } from "./log-sequencer.ts";
import { parseListen } from "./node.ts";
import { serveUntilStopped } from "./serving.ts";
import { replicaList, replicasFlag, smrNameArg } from "./smr-flags.ts";

interface ServeInput {
  readonly name: string;
  readonly listen: string;
  readonly replicas: string;
  readonly dataDir: string;
  readonly checkpointCommands: Option.Option<number>;
  readonly checkpointBytes: Option.Option<number>;
  readonly trailingSlots: Option.Option<number>;
  readonly electionTimeout: Option.Option<number>;
  readonly conn: ConnectionInput;
}

const atLeast = (least: number, o: Option.Option<number>, flag: string): number | undefined => {
  const n = Option.getOrUndefined(o);
  if (n !== undefined && (!Number.isSafeInteger(n) || n < least)) throw usage(`${flag} must be ${least === 0 ? "a non-negative" : "a positive"} integer`);
  return n;
};
const positive = (o: Option.Option<number>, flag: string) => atLeast(1, o, flag);

async function start(c: ServeInput) {
  const smr = checkSpaceName(c.name);
  const where = parseListen(c.listen);
  const replicas = replicaList(c.replicas);
  const id = `${where.host}:${where.port}`;
  if (!replicas.includes(id)) throw usage(`--listen ${id} is not one of --replicas ${replicas.join(",")} (each replica listens at its own address in the list)`);
  const checkpointCommands = positive(c.checkpointCommands, "--checkpoint-commands");
  const checkpointBytes = positive(c.checkpointBytes, "--checkpoint-bytes");
  const trailingSlots = atLeast(0, c.trailingSlots, "--trailing-slots");
  const electionTimeoutMs = positive(c.electionTimeout, "--election-timeout");
  const target = await resolveTarget(c.conn);
  // The cluster's certificate and token, as its acceptors serve with them (plaintext without a
  // cluster file that has one). The peer links and the snapshot fetch reach the other replicas,
  // served alike, with the cluster's TLS exactly when this one serves TLS, its token and its id
  // (a replica refuses clients and peers that name another cluster).
  const tls = await clusterTls(target);
  const { tls: _acceptorsTls, ...plain } = target.security;
  const { client } = openClient(target);
  const token = target.security.token;
  let node: ReplicaNode | undefined;
  try {
    await openTyped(client, target, smr, "smr");
    node = await ReplicaNode.start({
      client,
      smr,
      id,
      peers: replicas,
      machine: mapMachine,
      dataDir: c.dataDir,
      config: {
        ...(checkpointCommands ? { checkpointCommands } : {}),
        ...(checkpointBytes ? { checkpointBytes } : {}),
        ...(trailingSlots !== undefined ? { trailingSlots } : {}),
        ...(electionTimeoutMs ? { electionTimeoutMs, heartbeatMs: Math.max(10, Math.floor(electionTimeoutMs / 10)) } : {}),
      },
      security: tls ? target.security : plain,
    });
    const server = await startSmrServer({ node, smr, host: where.host, port: where.port, ...(tls ? { tls } : {}), ...(token ? { token } : {}), ...(target.clusterId ? { clusterId: target.clusterId } : {}) });
    return { smr, id, node, server, client };
  } catch (e) {
    await node?.close();
    client.close();
    const msg = (e as Error).message ?? String(e);
    if (/in use|EADDRINUSE/i.test(msg)) throw operational(`smr serve: cannot listen on ${id}: address in use`);
    throw e;
  }
}

export const smrServeCommand = Command.make(
  "serve",
  {
    name: smrNameArg,
    listen: Flag.String("listen").pipe(Flag.withDescription("host:port to serve at: this replica's address, one of --replicas")),
    replicas: replicasFlag,
    dataDir: Flag.String("data-dir").pipe(Flag.withDescription("where this replica keeps its checkpoints")),
    checkpointCommands: Flag.optional(Flag.Int("checkpoint-commands").pipe(Flag.withDescription("take a checkpoint every N commands (default 100000; every replica alike)"))),
    checkpointBytes: Flag.optional(Flag.Int("checkpoint-bytes").pipe(Flag.withDescription("or every N bytes of log, whichever comes first (default 67108864; every replica alike)"))),
    trailingSlots: Flag.optional(Flag.Int("trailing-slots").pipe(Flag.withDescription("slots kept below the position a majority checkpointed when the log is trimmed (default 1024)"))),
    electionTimeout: Flag.optional(Flag.Int("election-timeout").pipe(Flag.withDescription("milliseconds without a leader's heartbeat before taking over (default 1000)"))),
    conn: connectionFlags,
  },
  (c) =>
    serveUntilStopped({
      start: () => start(c),
      listening: (s) => ({ smr: s.smr, address: s.id, port: s.server.port }),
      close: async (s) => {
        await s.server.close();
        await s.node.close();
        s.client.close();
      },
      stopped: (s) => ({ smr: s.smr, address: s.id }),
    }),
).pipe(Command.withDescription("Run one replica of a replicated state machine (the map) until SIGINT/SIGTERM; prints a JSON line when it serves"));
