/**
 * `worm kv serve`: run KV nodes (apps/kv/node/kv-node.ts) until SIGINT/SIGTERM, one for each
 * `--partition`, on the `--data-dir` given in the same place: its partition's storage shard on that
 * store, the KV API on the same port (the map's address for the partition), the LogPlayer that
 * delivers the partition's log to the shard, and an embedded sequencer for the log (the node is its
 * only writer). With the cluster file's TLS, token and id, as every server of the cluster. A failed
 * write to a store ends the verb (exit 1); restarted on its stores, each node resumes from what it
 * made durable.
 *
 * The nodes of one process share one register client (one stream to each acceptor): the appends
 * their partitions make in one turn reach each acceptor in one message and one synced write. On a
 * small machine that is most of what a partition costs (apps/kv/README.md, "Where the time goes").
 */
import { TxnCoordinator } from "../txn/node/coordinator.ts";
import { txnSpaceOf } from "../kv/core/cross.ts";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { Command, Flag } from "effect/cli";
import { WormLog } from "../log/node/log-client.ts";
import { SequencerNode } from "../log/node/sequencer-node.ts";
import type { Partition, PartitionMap } from "../kv/core/partitions.ts";
import { type KvNode, startKvNode } from "../kv/node/kv-node.ts";
import { describePartition, readMap } from "../kv/node/kv-map.ts";
import { KvShardStoreDamaged } from "../kv/node/shard-layout.ts";
import { KvShardStore } from "../kv/node/shard-store.ts";
import type { PlayerEvent } from "../logplayer/node/player.ts";
import type { WorClient } from "../../wor/node/client.ts";
import type { Participant } from "../txn/node/participant.ts";
import { type ConnectionInput, type Target, checkSpaceName, connectionFlags, openClient } from "./cluster.ts";
import { operational, usage } from "./errors.ts";
import { kvNameFlag, mapOf } from "./kv-flags.ts";
import { clusterTls } from "./log-sequencer.ts";
import { parseListen } from "./node.ts";
import { serveUntilStopped } from "./serving.ts";
import { printJson } from "./output.ts";

interface Serving {
  readonly name: string;
  readonly nodes: readonly { readonly partition: Partition; readonly running: RunningKvNode }[];
  readonly close: () => Promise<void>;
  readonly failed: Promise<never>;
}

/** What the KV nodes of one process share: one register client (their appends of a turn reach the
 *  acceptors together; the caller closes it after the nodes), and their participants (a transaction
 *  across two of them calls the other directly, not through its port). */
export interface ProcessShared {
  readonly client: WorClient;
  readonly participants: Map<string, Participant>;
}

/** A KV node running in this process, and what stops it (and its sequencer and store). */
export interface RunningKvNode {
  readonly node: KvNode;
  readonly store: KvShardStore;
  readonly close: () => Promise<void>;
}

/**
 * Start partition `p` of KV `name`'s node on `dataDir`, at the map's address for it (`worm kv serve`,
 * and `worm dev --kv` for each partition): its store (refused if it holds another partition), an
 * embedded sequencer for its log, the node and its player, with `target`'s cluster TLS, token and
 * id, with what the nodes of its process share. `fail` hears of a failure after it serves (a store
 * write, the player stopped); `hear` of the player's events, and of the partition moving away (the
 * node then refuses everything, and serves on so that clients learn where it went).
 */
export async function startKvServing(
  target: Target,
  shared: ProcessShared,
  name: string,
  map: PartitionMap,
  p: Partition,
  dataDir: string,
  fail: (e: Error) => void,
  hear: { readonly player?: (e: PlayerEvent) => void; readonly moved?: (why: string) => void } = {},
): Promise<RunningKvNode> {
  const onEvent = hear.player;
  const where = parseListen(p.node);
  const tls = await clusterTls(target);
  const { tls: _acceptorsTls, ...plain } = target.security;
  const token = target.security.token;
  const { client } = shared;
  const opened: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const f of opened.reverse()) await f();
    opened.length = 0;
  };
  try {
    let store: KvShardStore;
    try {
      store = await KvShardStore.open(dataDir, { holds: describePartition(name, p) });
    } catch (e) {
      if (e instanceof KvShardStoreDamaged) throw usage(`refusing to start: ${e.message}`);
      throw usage(`KV store ${dataDir} cannot be opened (in use by another node, or not a KV store): ${(e as Error).message}`);
    }
    opened.push(() => store.close());
    const tokens = new SequencerNode({ client, owner: `kv-${name}-p${p.id}-${randomUUID()}` });
    opened.push(() => tokens.close());
    const log = new WormLog({ client, log: p.log, tokens, timeoutMs: target.timeoutMs });
    // A KV created before transactions across partitions has no transaction space yet (a no-op if it has).
    await TxnCoordinator.create(client, txnSpaceOf(name));
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
      onFailure: (e) => fail(operational(`KV store ${dataDir}: a write failed: ${e.message}`)),
      ...(hear.moved ? { onMoved: hear.moved } : {}),
      player: { client, address: p.node, security: tls ? target.security : plain, ...(onEvent ? { onEvent } : {}) },
      txn: { client, space: txnSpaceOf(name), security: tls ? target.security : plain, colocated: shared.participants, refreshMap: () => readMap(client, name) },
    }).catch((e: unknown) => {
      const msg = (e as Error).message ?? String(e);
      throw /in use|EADDRINUSE/i.test(msg) ? operational(`KV node ${p.id} cannot listen on ${p.node}, which the KV's map names: address in use`) : e;
    });
    opened.push(() => node.close());
    void node.player?.done.then((end) => {
      if (end) fail(operational(`KV node ${p.id}: the partition's player stopped: ${JSON.stringify(end)}`));
    });
    return { node, store, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Why `--partition` and `--data-dir` do not pair up (one of each per node, distinct), or undefined. */
function servedProblem(partitions: readonly number[], dataDirs: readonly string[]): string | undefined {
  if (partitions.length !== dataDirs.length) return `${partitions.length} --partition and ${dataDirs.length} --data-dir: give one --data-dir for each --partition, in the same order`;
  const twice = partitions.find((k, i) => partitions.indexOf(k) !== i);
  if (twice !== undefined) return `--partition ${twice} is given twice`;
  const dirs = dataDirs.map((d) => resolve(d));
  const shared = dirs.findIndex((d, i) => dirs.indexOf(d) !== i);
  if (shared >= 0) return `--data-dir ${dataDirs[shared]} is given for two partitions: each partition's node has a store of its own`;
  return undefined;
}

async function start(c: { readonly kv: string; readonly partition: readonly number[]; readonly dataDir: readonly string[]; readonly conn: ConnectionInput }): Promise<Serving> {
  const name = checkSpaceName(c.kv);
  const problem = servedProblem(c.partition, c.dataDir);
  if (problem) throw usage(problem);
  const { map, target } = await mapOf(c.conn, name);
  const partitions = c.partition.map((k) => {
    const p = map.partitions.find((x) => x.id === k);
    if (!p) throw usage(`--partition ${k}: KV ${name} has partitions ${map.partitions.map((x) => x.id).join(", ")}`);
    return p;
  });
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  // Handled once it serves (the verb ends with it); a node failing while the next one starts is
  // not an unhandled rejection meanwhile.
  failed.catch(() => {});
  const { client } = openClient(target);
  const shared: ProcessShared = { client, participants: new Map() };
  // Started side by side: each node's restart scan runs while the others start.
  const started = await Promise.allSettled(
    partitions.map(async (p, i) => ({ partition: p, running: await startKvServing(target, shared, name, map, p, c.dataDir[i]!, fail, { player: (e) => printJson({ player: e, partition: p.id }), moved: (why) => printJson({ event: "moved", partition: p.id, why }) }) })),
  );
  const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const close = async () => {
    await Promise.allSettled(nodes.map((n) => n.running.close()));
    client.close();
  };
  const refused = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (refused) {
    await close();
    throw refused.reason;
  }
  return { name, nodes, close, failed };
}

export const kvServeCommand = Command.make(
  "serve",
  {
    kv: kvNameFlag,
    partition: Flag.Int("partition").pipe(
      Flag.atLeast(1),
      Flag.withDescription("a partition to serve (its address is in the KV's map); repeatable: one process serves them all, over one client to the acceptors"),
    ),
    dataDir: Flag.String("data-dir").pipe(Flag.atLeast(1), Flag.withDescription("the node's store (created on first use); with several --partition, one --data-dir each, in the same order")),
    conn: connectionFlags,
  },
  (c) =>
    serveUntilStopped({
      start: () => start(c),
      listening: (s) => s.nodes.map(({ partition: p, running: r }) => ({ kv: s.name, partition: p.id, address: p.node, port: r.node.port, applied: r.store.applied, revision: r.store.revision })),
      failed: (s) => s.failed,
      close: (s) => s.close(),
      stopped: (s) => s.nodes.map(({ partition: p }) => ({ kv: s.name, partition: p.id })),
    }),
).pipe(
  Command.withDescription(
    "Run KV nodes (each a partition's shard, its player and its API) until SIGINT/SIGTERM; prints a JSON line for each when it serves",
  ),
);
