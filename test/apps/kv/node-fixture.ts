/**
 * KV nodes in process over acceptors in memory (across.test.ts, move.test.ts): KV `kv` of two
 * partitions split at "m", each node started on its own store by `start`, closed after the test.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { txnSpaceOf } from "../../../apps/kv/core/cross.ts";
import { type PartitionMap, partitionMap } from "../../../apps/kv/core/partitions.ts";
import { KvClient } from "../../../apps/kv/node/kv-client.ts";
import { createKv, describePartition, readMap } from "../../../apps/kv/node/kv-map.ts";
import { type KvNode, startKvNode } from "../../../apps/kv/node/kv-node.ts";
import { partitionSequencer } from "../../../apps/kv/node/kv-owner.ts";
import { KvShardStore } from "../../../apps/kv/node/shard-store.ts";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import type { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import type { ParticipantTimings } from "../../../apps/txn/node/participant-shell.ts";
import type { Participant } from "../../../apps/txn/node/participant.ts";
import { stableAddresses } from "../../ports.ts";
import { MemoryCluster } from "../../wor/memory-cluster.ts";

export const SPACE = txnSpaceOf("kv");

export interface StartOptions {
  readonly colocated?: Map<string, Participant>;
  /** The map the node starts with (default: the KV's first). */
  readonly map?: PartitionMap;
  /** Its store's directory, under the test's (default `node${k}`). */
  readonly store?: string;
  /** Follow moves: the node reads the KV's newest map when a transaction's partition does not answer. */
  readonly follow?: boolean;
  /** Hears that its partition moved away. */
  readonly onMoved?: (why: string) => void;
}

export async function kvFixture(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), "worm-kv-node-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cluster = await MemoryCluster.start();
  t.after(() => cluster.close());
  const admin = cluster.client({ segmentSize: 64 }).client;
  const map = partitionMap("kv", 0, await stableAddresses(2), ["m"]);
  await createKv(admin, "kv", map);
  const start = async (k: number, timings: ParticipantTimings, o: StartOptions = {}): Promise<{ readonly node: KvNode; readonly sequencer: SequencerNode; close(): Promise<void> }> => {
    const { client } = cluster.client({ segmentSize: 64 });
    const m = o.map ?? map;
    const store = await KvShardStore.open(join(dir, o.store ?? `node${k}`), { holds: describePartition("kv", m.partitions[k]!) });
    const sequencer = partitionSequencer(client, "kv", k, m.epoch);
    const p = m.partitions[k]!;
    const log = new WormLog({ client, log: p.log, tokens: sequencer });
    const [host, port] = p.node.split(":");
    const node = await startKvNode({
      log,
      store,
      map: m,
      partition: k,
      host: host!,
      port: Number(port),
      player: { client, address: p.node },
      txn: { client, space: SPACE, timings, ...(o.colocated ? { colocated: o.colocated } : {}), ...(o.follow ? { refreshMap: () => readMap(client, "kv") } : {}) },
      ...(o.onMoved ? { onMoved: o.onMoved } : {}),
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await node.close();
      sequencer.close();
      await store.close();
      client.close();
    };
    t.after(close);
    return { node, sequencer, close };
  };
  const kv = new KvClient({ map, attemptTimeoutMs: 3_000 });
  t.after(() => kv.close());
  return { admin, map, start, kv, dir };
}
