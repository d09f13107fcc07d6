/**
 * `worm log sequencer`: run a remote sequencer (docs/ARCHITECTURE.md §4.1) for every log its appenders ask
 * about, serving gRPC until SIGINT/SIGTERM. Prints `{"event":"listening","host":…,"port":N,"owner":…}`
 * once it serves and `{"event":"stopped"}` after a clean shutdown.
 *
 * The owner id and the address it serves at (`--advertise`, default the listen address) go into the
 * allocation metadata of the segments it claims; each run must use a new owner (default: random).
 * A sequencer that finds another one serving the log stands by and redirects its clients there; it
 * takes over (fencing the old one's tokens by capturing with a higher ballot, and finding the tail
 * from the allocation registers) when a client reports that the active one stopped answering. With a
 * cluster file, the sequencer serves with the cluster's TLS certificate, requires its token and
 * refuses appenders that name another cluster id, like an acceptor.
 */
import { randomUUID } from "node:crypto";
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { SequencerNode } from "../log/node/sequencer-node.ts";
import { startSequencerServer } from "../log/node/sequencer-server.ts";
import { readTlsFiles } from "../../wor/node/cluster-config.ts";
import type { ServerTls } from "../../wor/node/grpc-serving.ts";
import { type ConnectionInput, type Target, connectionFlags, loadCluster, openClient, parsePeers, resolveTarget } from "./cluster.ts";
import { operational, usage } from "./errors.ts";
import { parseListen } from "./node.ts";
import { serveUntilStopped } from "./serving.ts";

/** The cluster file's server certificate, when it has one (servers the CLI runs beside acceptors use it). */
export async function clusterTls(target: Pick<Target, "source">): Promise<ServerTls | undefined> {
  const file = target.source?.file;
  if (file === undefined) return undefined;
  const tls = (await loadCluster(file)).tls;
  if (!tls) return undefined;
  const files = await readTlsFiles(tls).catch((e: Error) => Promise.reject(usage(`cluster file tls: ${e.message}`)));
  if (!files.cert || !files.key) return undefined;
  return { cert: files.cert, key: files.key, ...(files.ca ? { ca: files.ca } : {}), requireClientCert: tls.requireClientCert ?? false };
}

async function start(c: { listen: string; advertise: Option.Option<string>; owner: Option.Option<string>; conn: ConnectionInput }) {
  const where = parseListen(c.listen);
  const advertise = Option.map(c.advertise, (a) => parsePeers(a, "--advertise"));
  if (Option.isSome(advertise) && advertise.value.length !== 1) throw usage("--advertise takes one host:port");
  const owner = Option.getOrElse(c.owner, () => `sequencer-${randomUUID()}`);
  if (owner.length === 0 || owner.length > 128 || /\s/.test(owner)) throw usage("--owner must be 1-128 characters without whitespace");
  const target = await resolveTarget(c.conn);
  const tls = await clusterTls(target);
  const { client } = openClient(target);
  const sequencer = new SequencerNode({ client, owner });
  try {
    const server = await startSequencerServer({
      sequencer,
      host: where.host,
      port: where.port,
      ...(tls ? { tls } : {}),
      ...(target.security.token ? { token: target.security.token } : {}),
      ...(target.clusterId ? { clusterId: target.clusterId } : {}),
    });
    const address = Option.isSome(advertise) ? advertise.value[0]! : `${where.host.includes(":") ? `[${where.host}]` : where.host}:${server.port}`;
    sequencer.advertise(address);
    return { host: where.host, owner, address, server, sequencer, client };
  } catch (e) {
    sequencer.close();
    client.close();
    const msg = (e as Error).message ?? String(e);
    throw operational(`sequencer: cannot listen on ${where.host}:${where.port}: ${/in use|EADDRINUSE/i.test(msg) ? "address in use" : msg}`);
  }
}

export const logSequencerCommand = Command.make(
  "sequencer",
  {
    listen: Flag.String("listen").pipe(Flag.withDescription("host:port to listen on (port 0: any free port)")),
    owner: Flag.optional(Flag.String("owner").pipe(Flag.withDescription("this sequencer's unique id, written into the segments it claims (default: random)"))),
    advertise: Flag.optional(
      Flag.String("advertise").pipe(Flag.withDescription("host:port clients reach this sequencer at, written into the segments it claims (default: the listen address)")),
    ),
    conn: connectionFlags,
  },
  (c) =>
    serveUntilStopped({
      start: () => start(c),
      listening: (s) => ({ host: s.host, port: s.server.port, address: s.address, owner: s.owner }),
      close: async (s) => {
        await s.server.close();
        s.sequencer.close();
        s.client.close();
      },
      stopped: (s) => ({ owner: s.owner }),
    }),
).pipe(Command.withDescription("Run a remote sequencer for the cluster's logs until SIGINT/SIGTERM; prints a JSON line with its port when it listens"));
