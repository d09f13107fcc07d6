
import { createServer } from "node:net";
import { join } from "node:path";
import { parseAddress } from "../../wor/wire/address.ts";
import { WorError } from "../../wor/node/wor-error.ts";
import { type Partition, type PartitionMap, partitionMap } from "../kv/core/partitions.ts";
import { KvClient } from "../kv/node/kv-client.ts";
import { createKv, describeMap, readMap, readMapAt } from "../kv/node/kv-map.ts";
import { type Target, openClient, withClient } from "./cluster.ts";
import { type DevLayout, type StatusRow, displayPath } from "./dev-cluster.ts";
import { operational, usage } from "./errors.ts";
import { type ProcessShared, startKvServing } from "./kv-node-serving.ts";

/** The KV's name (`worm kv`'s default). */
export const DEV_KV = "kv";
/** Partitions `worm dev --kv` runs at most, and by default. */
export const DEV_KV_PARTITIONS = Object.freeze({ max: 8, default: 2 });

export const kvDir = (dataDir: string, k: number) => join(dataDir, `kv-${k}`);

/** The keys where partitions 1..n-1 start: the 26 lowercase letters cut evenly. */
const kvSplits = (n: number): string[] => Array.from({ length: n - 1 }, (_, i) => String.fromCharCode(97 + Math.floor((26 * (i + 1)) / n)));

/** `worm kv serve`'s arguments for partition k (dev-processes.ts starts it, and prints it to start it again). */
export const kvServeArgs = (dataDir: string, clusterFile: string, k: number): string[] => ["kv", "serve", "--partition", String(k), "--data-dir", kvDir(dataDir, k), "--cluster", clusterFile];

/** The same partitions at the same nodes (whatever the epoch: a partition moved away and back is in place again). */
const sameMap = (a: PartitionMap, b: PartitionMap): boolean => {
  const flat = (m: PartitionMap) => JSON.stringify(m.partitions.map((p) => [p.id, p.from, p.log, p.node]));
  return flat(a) === flat(b);
};

/** `n` ports free on `host` now (each bound once to learn it, then released). */
async function freePorts(host: string, n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    await Promise.all(servers.map((s) => new Promise<void>((resolve, reject) => s.once("error", reject).listen(0, host, resolve))));
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** Why the map in place is not this run's, and the flags that would find it. */
function mismatch(layout: DevLayout, found: PartitionMap, wanted: PartitionMap): string {
  const n = found.partitions.length;
  const ranges = (m: PartitionMap) => JSON.stringify(m.partitions.map((p) => [p.id, p.from, p.log]));
  const away = ranges(found) === ranges(wanted) ? found.partitions.filter((p, k) => p.node !== wanted.partitions[k]!.node) : [];
  if (found.epoch > 0 && away.length > 0) {
    const back = away.map((p) => `'worm kv move --partition ${p.id} --to ${wanted.partitions[p.id]!.node}'`).join(", ");
    const where = away.map((p) => `partition ${p.id} to ${p.node}`).join(", ");
    return `KV ${DEV_KV} of ${layout.dataDir}: ${where} was moved (map epoch ${found.epoch}, 'worm kv move'), and worm dev --kv serves each partition at its own port: run worm dev without --kv, move it back (${back}), then again with --kv; or use another --data-dir`;
  }
  const byDev = n <= DEV_KV_PARTITIONS.max && sameMap(found, partitionMap(DEV_KV, 0, found.partitions.map((p) => p.node), kvSplits(n)));
  const port0 = parseAddress(found.partitions[0]!.node);
  const base = typeof port0 === "string" ? -1 : port0.port - layout.kvOffset;
  const exact = byDev && base > 0 && sameMap(found, partitionMap(DEV_KV, 0, found.partitions.map((_, k) => `${layout.host}:${base + layout.kvOffset + k}`), kvSplits(n)));
  const flags = exact ? `--kv-partitions ${n} --base-port ${base}` : `--kv-partitions ${n} and the --base-port it was made with (or 0, which keeps the nodes' addresses in place)`;
  const hint = byDev ? `run with ${flags}, or use another --data-dir` : "it was not made by worm dev: use another --data-dir";
  return `KV ${DEV_KV} of ${layout.dataDir} has another map: ${describeMap(found)}; these flags make ${describeMap(wanted)}; ${hint}`;
}

/** Create KV `kv` with this run's map, or find it in place (a no-op); another map in place is refused (exit 2). */
export async function ensureDevKv(layout: DevLayout, target: Target): Promise<PartitionMap> {
  const n = layout.kvPartitions;
  const otherKind = (e: unknown): never => {
    if (e instanceof WorError && e.code === "wrongKind") throw usage(`${e.failure.message}: worm dev --kv needs the name ${DEV_KV}; use another --data-dir`);
    throw e;
  };
  return withClient(target, async (client) => {
    const found = await readMap(client, DEV_KV).catch((e: unknown) => {
      // None yet, or its creation was cut short (createKv finishes it).
      if (e instanceof WorError && (e.code === "unknownSpace" || e.code === "invalid")) return undefined;
      return otherKind(e);
    });
    // With --base-port 0: the ports of the map this KV was made with (a partition moved away since
    // is not at one of worm dev's ports: refused below, saying how to move it back).
    const first = found && found.epoch > 0 ? await readMapAt(client, DEV_KV, 0) : found;
    const nodes =
      layout.basePort !== 0
        ? Array.from({ length: n }, (_, k) => `${layout.host}:${layout.basePort + layout.kvOffset + k}`)
        : first?.partitions.length === n
          ? first.partitions.map((p) => p.node)
          : (await freePorts(layout.host, n)).map((port) => `${layout.host}:${port}`);
    const map = partitionMap(DEV_KV, 0, nodes, kvSplits(n));
    if (found && !sameMap(found, map)) throw usage(mismatch(layout, found, map));
    await createKv(client, DEV_KV, map).catch(otherKind);
    // The newest map: after a partition moved away and back, a later epoch than the flags' 0.
    return found ?? map;
  });
}

/** The KV's nodes in this process. */
export interface DevKvNodes {
  rows(): StatusRow[];
  /** Rejects when a node fails (its store, its player); never resolves. */
  readonly stopped: Promise<never>;
  close(): Promise<void>;
}

interface DevKvNode {
  readonly partition: Partition;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** Start a node for each partition of `map` here, as `worm kv serve` of them all does (sharing one client and their participants). */
export async function startDevKvNodes(target: Target, map: PartitionMap, dataDir: string, moved?: (partition: number, why: string) => void): Promise<DevKvNodes> {
  let fail!: (e: Error) => void;
  const stopped = new Promise<never>((_, reject) => {
    fail = reject;
  });
  stopped.catch(() => {});
  const { client } = openClient(target);
  const shared: ProcessShared = { client, participants: new Map() };
  const started = await Promise.allSettled(map.partitions.map((p) => startDevKvNode(target, shared, map, p, kvDir(dataDir, p.id), fail, moved)));
  const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const close = async () => {
    await Promise.allSettled(nodes.map((n) => n.close()));
    client.close();
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await close();
    throw failed.reason;
  }
  const rows = () => nodes.map((n): StatusRow => ({ role: `kv node ${n.partition.id}`, address: n.partition.node, pid: process.pid, state: "up", data: displayPath(n.dataDir) }));
  return { rows, stopped, close };
}

async function startDevKvNode(target: Target, shared: ProcessShared, map: PartitionMap, p: Partition, dataDir: string, fail: (e: Error) => void, moved?: (partition: number, why: string) => void): Promise<DevKvNode> {
  const where = parseAddress(p.node);
  if (typeof where === "string") throw usage(`KV ${DEV_KV} partition ${p.id}: its node ${where}`);
  // A partition moved away (`worm kv move`) leaves its node here refusing, saying where it went.
  const { close } = await startKvServing(target, shared, DEV_KV, map, p, dataDir, fail, moved ? { moved: (why) => moved(p.id, why) } : {});
  return { partition: p, dataDir, close };
}

/** What the KV self-check did: in each partition, the key it put and read back, and the revision it made. */
export type KvSelfCheck = readonly { readonly partition: number; readonly key: string; readonly revision: number }[];

/** Partition p's self-check key: "a-self-check", "n-self-check" (a dev map's splits are letters after "c"). */
const selfCheckKey = (p: Partition): string => `${p.from === "" ? "a" : p.from}-self-check`;

/** Put one key in each partition and read it back (linearizable) through the nodes the map names. */
export async function kvSelfCheck(target: Target, map: PartitionMap): Promise<KvSelfCheck> {
  const kv = new KvClient({ ...target.security, map, attemptTimeoutMs: target.timeoutMs, retryForMs: target.timeoutMs });
  try {
    const value = new TextEncoder().encode(`self-check ${new Date().toISOString()}`);
    return await Promise.all(
      map.partitions.map(async (p) => {
        const key = selfCheckKey(p);
        const put = await kv.put(key, value);
        if (!put.ok) throw operational(`self-check: kv put ${key} (partition ${p.id}, ${p.node}) failed: ${put.failure.message}`);
        const got = await kv.get(key);
        if (!got.ok) throw operational(`self-check: kv get ${key} (partition ${p.id}, ${p.node}) failed: ${got.failure.message}`);
        if (!got.value.record || Buffer.compare(got.value.record.value, value) !== 0) throw operational(`self-check: kv get ${key} (partition ${p.id}) did not give the value put`);
        return { partition: p.id, key, revision: put.value.revision };
      }),
    );
  } finally {
    kv.close();
  }
}
