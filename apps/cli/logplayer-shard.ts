
import * as Option from "effect/Option";
import { Argument, Command, Flag } from "effect/cli";
import { READ_LIMITS } from "../logplayer/wire/codec.ts";
import { ShardCallError, ShardLinks } from "../logplayer/node/shard-link.ts";
import { type ShardServer, startShardServer } from "../logplayer/node/shard-server.ts";
import { ShardStore, ShardStoreDamaged } from "../logplayer/node/shard-store.ts";
import { type SecurityInput, checkIndex, parsePeers, resolveSecurity, securityFlags } from "./cluster.ts";
import { operational, task, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";
import { json } from "./log-read.ts";
import { clusterTls } from "./log-sequencer.ts";
import { parseListen } from "./node.ts";
import { jsonValue, printJson, printLine, showValue } from "./output.ts";
import { serveUntilStopped } from "./serving.ts";

const SHARD_CLI_LIMITS = Object.freeze({
  /** Rows one `worm shard read` prints at most. */
  rowsMax: 1_000_000,
  /** A read call's deadline. */
  callTimeoutMs: 5_000,
});

interface Serving {
  readonly store: ShardStore;
  readonly server: ShardServer;
  /** Rejects when a write fails: the shard stops. */
  readonly failed: Promise<never>;
}

/** A shard serves with the cluster's certificate and token: the client-side TLS flags do not apply. */
const serveSecurityFlags = { cluster: securityFlags.cluster, token: securityFlags.token };

async function start(c: { dir: string; listen: string; sec: Pick<SecurityInput, keyof typeof serveSecurityFlags> }): Promise<Serving> {
  const where = parseListen(c.listen);
  // The cluster's certificate, token and id, as its acceptors serve with them (none without a cluster file).
  const { security, source } = await resolveSecurity({ ...c.sec, tlsCa: Option.none(), tlsCert: Option.none(), tlsKey: Option.none() });
  const tls = await clusterTls({ source });
  let store: ShardStore;
  try {
    store = await ShardStore.open(c.dir);
  } catch (e) {
    if (e instanceof ShardStoreDamaged) throw usage(`refusing to start: ${e.message}`);
    throw usage(`shard store ${c.dir} cannot be opened (in use by another shard, or not a shard store): ${(e as Error).message}`);
  }
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  try {
    const server = await startShardServer({
      store,
      host: where.host,
      port: where.port,
      ...(tls ? { tls } : {}),
      ...(security.token ? { token: security.token } : {}),
      ...(security.clusterId ? { clusterId: security.clusterId } : {}),
      onFailure: (e) => fail(operational(`shard store ${c.dir}: a write failed: ${e.message}`)),
    });
    return { store, server, failed };
  } catch (e) {
    await store.close();
    const msg = (e as Error).message ?? String(e);
    throw operational(`shard: cannot listen on ${where.host}:${where.port}: ${/in use|EADDRINUSE/i.test(msg) ? "address in use" : msg}`);
  }
}

const serve = Command.make(
  "serve",
  {
    dir: Flag.String("dir").pipe(Flag.withDescription("the shard's store (created on first use)")),
    listen: Flag.String("listen").pipe(withDefaultShown("host:port to listen on (port 0: any free port)", "127.0.0.1:0")),
    sec: serveSecurityFlags,
  },
  (c) =>
    serveUntilStopped({
      start: () => start(c),
      listening: (s) => ({ port: s.server.port, applied: s.store.state.applied, epoch: s.store.state.epoch }),
      failed: (s) => s.failed,
      close: async (s) => {
        await s.server.close();
        await s.store.close();
      },
      stopped: () => ({}),
    }),
).pipe(Command.withDescription("Run a LogPlayer shard on its store over gRPC until SIGINT/SIGTERM (with a cluster file: its TLS certificate and token); prints a JSON line with its port when it listens"));

const read = Command.make(
  "read",
  {
    shard: Argument.String("address").pipe(Argument.withDescription("the shard's host:port")),
    from: Flag.Int("from").pipe(withDefaultShown("the first log position", 0)),
    limit: Flag.Int("limit").pipe(withDefaultShown("rows to print at most", 1_000)),
    json,
    sec: securityFlags,
  },
  (c) =>
    task(async () => {
      const address = parsePeers(c.shard, "address");
      if (address.length !== 1) throw usage("give one shard address");
      let from = checkIndex(c.from, "--from");
      if (!Number.isSafeInteger(c.limit) || c.limit < 1 || c.limit > SHARD_CLI_LIMITS.rowsMax) throw usage(`--limit must be 1..${SHARD_CLI_LIMITS.rowsMax}`);
      const links = new ShardLinks(address, (await resolveSecurity(c.sec)).security);
      try {
        const rows: { position: number; data: Uint8Array }[] = [];
        let applied = -1;
        for (;;) {
          const want = Math.min(READ_LIMITS.rowsMax, c.limit - rows.length);
          const page = await links
            .read(0, from, want, SHARD_CLI_LIMITS.callTimeoutMs)
            .catch((e: Error) => Promise.reject(e instanceof ShardCallError && e.misconfigured ? usage(e.message) : operational(e.message)));
          applied = page.applied;
          rows.push(...page.rows);
          if (page.rows.length === 0 || rows.length >= c.limit) break;
          from = page.rows[page.rows.length - 1]!.position + 1;
        }
        if (c.json) printJson({ shard: address[0], applied, rows: rows.map((r) => ({ position: r.position, value: jsonValue(r.data) })) });
        else for (const r of rows) printLine(`${r.position}\t${showValue(r.data)}`);
      } finally {
        links.close();
      }
    }),
).pipe(Command.withDescription("Print a LogPlayer shard's durable rows (position and value) from --from on"));

export const shardCommand = Command.make("shard").pipe(
  Command.withDescription("LogPlayer shards: serve one on its store, read its rows"),
  Command.withSubcommands([serve, read]),
);
