/**
 * One KV node started in this process (apps/kv/node/kv-node.ts), as `worm kv serve` (kv-serve.ts),
 * its standby (kv-standby.ts) and `worm dev --kv` (dev-kv.ts) start them: its store, an embedded
 * sequencer for its log (the node is its only writer), the node and its player, with the cluster's
 * TLS, token and id, and what the nodes of one process share.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { WorClient } from "../../wor/node/client.ts";
import type { ClientSecurity } from "../../wor/node/credentials.ts";
import type { ServeOptions } from "../../wor/node/grpc-serving.ts";
import { txnSpaceOf } from "../kv/core/cross.ts";
import type { Partition, PartitionMap } from "../kv/core/partitions.ts";
import { describePartition, readMap, readMapsAt } from "../kv/node/kv-map.ts";
import { type KvNode, startKvNode } from "../kv/node/kv-node.ts";
import { partitionSequencer } from "../kv/node/kv-owner.ts";
import { KvShardStoreDamaged } from "../kv/node/shard-layout.ts";
import { installSnapshot } from "../kv/node/shard-snapshot.ts";
import { KvShardStore } from "../kv/node/shard-store.ts";
import { WormLog } from "../log/node/log-client.ts";
import type { PlayerEvent } from "../logplayer/node/player.ts";
import { TxnCoordinator } from "../txn/node/coordinator.ts";
import type { Participant } from "../txn/node/participant.ts";
import type { Target } from "./cluster.ts";
import { operational, usage } from "./errors.ts";
import { clusterTls } from "./log-sequencer.ts";
import { parseListen } from "./node.ts";
import { printJson } from "./output.ts";

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
/** Partition `p`'s store at `dataDir`, refused (exit 2) if it holds another partition or is not a KV store. */
export async function openKvStore(name: string, p: Partition, dataDir: string): Promise<KvShardStore> {
  try {
    return await KvShardStore.open(dataDir, { holds: describePartition(name, p) });
  } catch (e) {
    if (e instanceof KvShardStoreDamaged) throw usage(`refusing to start: ${e.message}`);
    throw usage(`KV store ${dataDir} cannot be opened (in use by another node, or not a KV store): ${(e as Error).message}`);
  }
}

/** How long a snapshot's copy may take. */
const SEED_TIMEOUT_MS = 600_000;

/** Earlier maps a node new at a moved partition's address looks for a node to copy in. */
const SEED_MAPS_BACK = 16;

/**
 * A new store for partition `p` (none at `dataDir` yet: else nothing is done, `sources` not asked)
 * seeded with a snapshot of the first of `sources` that gives one (apps/kv/node/shard-snapshot.ts),
 * so that its player replays only the log after the copy. Says on stdout that it did (`seeded`), or
 * why not (`notSeeded`, each source's failure: the node replays the whole log).
 */
export async function seedKvStore(name: string, p: Partition, dataDir: string, sources: () => Promise<readonly string[]>, reach: ClientSecurity): Promise<void> {
  if (existsSync(join(dataDir, "CURRENT"))) return;
  const from = await sources();
  if (from.length === 0) return;
  const failures: string[] = [];
  for (const source of from) {
    const began = Date.now();
    try {
      const s = await installSnapshot({ dir: dataDir, holds: describePartition(name, p), source, security: reach, timeoutMs: SEED_TIMEOUT_MS });
      printJson({ event: "seeded", kv: name, partition: p.id, from: source, applied: s.applied, revision: s.revision, entries: s.entries, ms: Date.now() - began });
      return;
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  printJson({ event: "notSeeded", kv: name, partition: p.id, from, why: failures.join("; "), instead: "it replays the partition's log" });
}

/** The nodes earlier maps named for partition `p` (not `p.node`), newest first: where a node new at
 *  a moved partition's address may copy the store from (the last move may not have served). */
async function earlierNodes(client: WorClient, name: string, map: PartitionMap, p: Partition): Promise<string[]> {
  const maps = await readMapsAt(client, name, Math.max(0, map.epoch - SEED_MAPS_BACK), map.epoch);
  const nodes = maps.reverse().map((m) => m.partitions.find((x) => x.id === p.id)?.node);
  return [...new Set(nodes)].filter((node): node is string => node !== undefined && node !== p.node);
}

/** How a KV node of `target` serves (the cluster's server TLS, token and id) and reaches the other
 *  servers (with TLS, the cluster's client security; without, the token and id alone). */
export async function nodeSecurity(target: Target): Promise<{ readonly serve: Pick<ServeOptions, "tls" | "token" | "clusterId">; readonly reach: ClientSecurity }> {
  const tls = await clusterTls(target);
  const { tls: _acceptorsTls, ...plain } = target.security;
  const token = target.security.token;
  return {
    serve: { ...(tls ? { tls } : {}), ...(token ? { token } : {}), ...(target.clusterId ? { clusterId: target.clusterId } : {}) },
    reach: tls ? target.security : plain,
  };
}

/** What a node's owner hears of: its player's events, and its partition moving away. */
export interface NodeEvents {
  readonly player?: (e: PlayerEvent) => void;
  readonly moved?: (why: string) => void;
}

export async function startKvServing(
  target: Target,
  shared: ProcessShared,
  name: string,
  map: PartitionMap,
  p: Partition,
  dataDir: string,
  fail: (e: Error) => void,
  hear: NodeEvents = {},
): Promise<RunningKvNode> {
  const onEvent = hear.player;
  const where = parseListen(p.node);
  const { serve, reach } = await nodeSecurity(target);
  const { client } = shared;
  const opened: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const f of opened.reverse()) await f();
    opened.length = 0;
  };
  try {
    // A node new at an address a move named: seeded by a node an earlier map named.
    if (map.epoch > 0) await seedKvStore(name, p, dataDir, () => earlierNodes(client, name, map, p), reach);
    const store = await openKvStore(name, p, dataDir);
    opened.push(() => store.close());
    const tokens = partitionSequencer(client, name, p.id, map.epoch);
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
      ...serve,
      onFailure: (e) => fail(operational(`KV store ${dataDir}: a write failed: ${e.message}`)),
      ...(hear.moved ? { onMoved: hear.moved } : {}),
      player: { client, address: p.node, security: reach, ...(onEvent ? { onEvent } : {}) },
      txn: { client, space: txnSpaceOf(name), security: reach, colocated: shared.participants, refreshMap: () => readMap(client, name) },
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
