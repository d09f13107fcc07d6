/**
 * `worm kv serve --partition K --data-dir DIR --listen H:P` where the map names another node for K:
 * a **standby** (apps/kv/node/kv-standby.ts). It plays partition K's log into its store at H:P while
 * the old node serves, and reads the map when the acceptors push a newer one (a watch of the map's
 * chain), or every half second (a push can be lost: apps/kv/node/map-watch.ts); once the newest map
 * names H:P for K (`worm kv move --partition K --to H:P`), it hands its store, caught up, to a node
 * started there as `kv serve` starts one, which claims the partition at once, and prints
 * `{"event":"serving",…}`. A move is then a matter of the claim, not of replaying the log.
 */
import { WormLog } from "../log/node/log-client.ts";
import type { Partition, PartitionMap } from "../kv/core/partitions.ts";
import { watchMaps } from "../kv/node/map-watch.ts";
import { startKvStandby } from "../kv/node/kv-standby.ts";
import { kvTrace } from "../kv/node/kv-trace.ts";
import type { Target } from "./cluster.ts";
import { operational } from "./errors.ts";
import { type NodeEvents, type ProcessShared, type RunningKvNode, nodeSecurity, openKvStore, seedKvStore, startKvServing } from "./kv-node-serving.ts";
import { parseListen } from "./node.ts";
import { printJson } from "./output.ts";

export interface StandbyServing {
  /** The listening line's fields now (the standby's, or the node's once it serves). */
  readonly fields: () => Record<string, unknown>;
  readonly close: () => Promise<void>;
}

export async function startStandbyServing(
  target: Target,
  shared: ProcessShared,
  name: string,
  map: PartitionMap,
  p: Partition,
  address: string,
  dataDir: string,
  fail: (e: Error) => void,
  hear: NodeEvents = {},
): Promise<StandbyServing> {
  const { client } = shared;
  const where = parseListen(address);
  const { serve, reach } = await nodeSecurity(target);
  // A new standby copies the serving node's store, and replays only the log after the copy.
  await seedKvStore(name, p, dataDir, async () => [p.node], reach);
  const store = await openKvStore(name, p, dataDir);
  let standby: Awaited<ReturnType<typeof startKvStandby>> | undefined;
  try {
    const log = new WormLog({ client, log: p.log, timeoutMs: target.timeoutMs });
    standby = await startKvStandby({ client, log, store, address, mapEpoch: map.epoch, host: where.host, port: where.port, ...serve, security: reach, ...(hear.player ? { onEvent: hear.player } : {}), onFailure: fail });
  } catch (e) {
    await store.close();
    throw /in use|EADDRINUSE/i.test((e as Error).message ?? "") ? operational(`the standby of partition ${p.id} cannot listen on ${address}: address in use`) : e;
  }
  let node: RunningKvNode | undefined;
  let closed = false;
  /** The standby and its store are closed (handed over, or stopped). */
  let handedOver = false;
  /** Once the newest map names this address for the partition: hand the store to a node there. */
  const promote = async (newest: PartitionMap, mine: Partition) => {
    handedOver = true;
    kvTrace?.({ ev: "promote", mapEpoch: newest.epoch, applied: store.applied });
    await standby!.close();
    await store.close();
    if (closed) return;
    node = await startKvServing(target, shared, name, newest, mine, dataDir, fail, hear);
    printJson({ event: "serving", kv: name, partition: p.id, address, mapEpoch: newest.epoch, applied: node.store.applied, revision: node.store.revision });
  };
  // The maps after this one, as they are chosen: the first that names this address is the move.
  const watch = watchMaps(client, name, map, async (newest) => {
    const here = newest.partitions.find((x) => x.node === address);
    if (!here) return false;
    if (here.id !== p.id) throw operational(`the KV's map (epoch ${newest.epoch}) names ${address} for partition ${here.id}, not ${p.id}: this standby stops`);
    await promote(newest, here);
    return true;
  });
  const watching = watch.done.catch((e: unknown) => fail(e as Error));
  return {
    fields: () =>
      node
        ? { kv: name, partition: p.id, address, port: node.node.port, applied: node.store.applied, revision: node.store.revision }
        : { kv: name, partition: p.id, address, standby: true, mapEpoch: map.epoch, applied: store.applied, revision: store.revision },
    close: async () => {
      closed = true;
      await watch.close();
      await watching;
      if (node) await node.close();
      else if (!handedOver) {
        await standby?.close();
        await store.close();
      }
    },
  };
}
