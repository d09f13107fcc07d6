/**
 * `worm kv serve`: run one KV node (apps/kv/node/kv-node.ts) until SIGINT/SIGTERM: its partition's
 * storage shard on its store (`--data-dir`), the KV API on the same port (the map's address for the
 * partition), the LogPlayer that delivers the partition's log to the shard, and an embedded
 * sequencer for the log (the node is its only writer). With the cluster file's TLS, token and id,
 * as every server of the cluster. A failed write to the store ends the verb (exit 1); restarted on
 * the store, the node resumes from what it made durable.
 */
import { randomUUID } from "node:crypto";
import { Command, Flag } from "effect/cli";
import { WorError } from "../../wor/node/wor-error.ts";
import { WormLog } from "../log/node/log-client.ts";
import { SequencerNode } from "../log/node/sequencer-node.ts";
import { type KvNode, startKvNode } from "../kv/node/kv-node.ts";
import { describePartition, readMap } from "../kv/node/kv-map.ts";
import { KvShardStore, KvShardStoreDamaged } from "../kv/node/shard-store.ts";
import { type ConnectionInput, checkSpaceName, connectionFlags, openClient, resolveTarget } from "./cluster.ts";
import { operational, usage } from "./errors.ts";
import { kvNameFlag } from "./kv-flags.ts";
import { clusterTls } from "./log-sequencer.ts";
import { parseListen } from "./node.ts";
import { serveUntilStopped } from "./serving.ts";
import { printJson } from "./output.ts";

interface Serving {
  readonly name: string;
  readonly partition: number;
  readonly address: string;
  readonly node: KvNode;
  readonly store: KvShardStore;
  readonly close: () => Promise<void>;
  readonly failed: Promise<never>;
}

async function start(c: { readonly kv: string; readonly partition: number; readonly dataDir: string; readonly conn: ConnectionInput }): Promise<Serving> {
  const name = checkSpaceName(c.kv);
  const target = await resolveTarget(c.conn);
  const tls = await clusterTls(target);
  const { tls: _acceptorsTls, ...plain } = target.security;
  const token = target.security.token;
  const { client } = openClient(target);
  const opened: (() => Promise<void> | void)[] = [() => client.close()];
  const closeAll = async () => {
    for (const f of opened.reverse()) await f();
  };
  try {
    const map = await readMap(client, name).catch((e: unknown) => {
      if (e instanceof WorError && e.code === "unknownSpace") throw usage(`no KV named ${name}; create it with 'worm kv create --kv ${name} --nodes HOST:PORT,...'`);
      throw e;
    });
    const p = map.partitions.find((x) => x.id === c.partition);
    if (!p) throw usage(`--partition ${c.partition}: KV ${name} has partitions ${map.partitions.map((x) => x.id).join(", ")}`);
    const where = parseListen(p.node);
    let store: KvShardStore;
    try {
      store = await KvShardStore.open(c.dataDir, { holds: describePartition(name, p) });
    } catch (e) {
      if (e instanceof KvShardStoreDamaged) throw usage(`refusing to start: ${e.message}`);
      throw usage(`KV store ${c.dataDir} cannot be opened (in use by another node, or not a KV store): ${(e as Error).message}`);
    }
    opened.push(() => store.close());
    const tokens = new SequencerNode({ client, owner: `kv-${name}-p${p.id}-${randomUUID()}` });
    opened.push(() => tokens.close());
    const log = new WormLog({ client, log: p.log, tokens, timeoutMs: target.timeoutMs });
    let fail!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    const node = await startKvNode({
      log,
      store,
      map,
      partition: p.id,
      host: where.host,
      port: where.port,
      ...(tls ? { tls } : {}),
      ...(token ? { token } : {}),
      ...(target.clusterId ? { clusterId: target.clusterId } : {}),
      onFailure: (e) => fail(operational(`KV store ${c.dataDir}: a write failed: ${e.message}`)),
      player: { client, address: p.node, security: tls ? target.security : plain, onEvent: (e) => printJson({ player: e }) },
    }).catch((e: unknown) => {
      const msg = (e as Error).message ?? String(e);
      throw /in use|EADDRINUSE/i.test(msg) ? operational(`kv serve: cannot listen on ${p.node}: address in use`) : e;
    });
    opened.push(() => node.close());
    void node.player?.done.then((end) => {
      if (end) fail(operational(`the partition's player stopped: ${JSON.stringify(end)}`));
    });
    return { name, partition: p.id, address: p.node, node, store, close: closeAll, failed };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

export const kvServeCommand = Command.make(
  "serve",
  {
    kv: kvNameFlag,
    partition: Flag.Int("partition").pipe(Flag.withDescription("the partition this node serves (its address is in the KV's map)")),
    dataDir: Flag.String("data-dir").pipe(Flag.withDescription("the node's store: its partition's applied state (created on first use)")),
    conn: connectionFlags,
  },
  (c) =>
    serveUntilStopped({
      start: () => start(c),
      listening: (s) => ({ kv: s.name, partition: s.partition, address: s.address, port: s.node.port, applied: s.store.applied, revision: s.store.revision }),
      failed: (s) => s.failed,
      close: (s) => s.close(),
      stopped: (s) => ({ kv: s.name, partition: s.partition }),
    }),
).pipe(Command.withDescription("Run one KV node (a partition's shard, its player and its API) until SIGINT/SIGTERM; prints a JSON line when it serves"));
