/**
 * Where a KV's partition map lives (docs/ARCHITECTURE.md §4.5): a space of kind `kv` named after the
 * KV, whose address e holds the map of epoch e. Each is write-once (the first writer wins), so the
 * maps form a chain nobody can fork, like the acceptors' configurations (§3.5); a reader takes the
 * newest, the last written address. Each partition's log is `${name}-p${k}`.
 */
import { TxnCoordinator } from "../../txn/node/coordinator.ts";
import { txnSpaceOf } from "../core/cross.ts";
import { firstWins } from "../../../wor/core/first-wins.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { drive } from "../../../wor/node/driver.ts";
import { WorError } from "../../../wor/node/wor-error.ts";
import { WormLog } from "../../log/node/log-client.ts";
import { type Partition, type PartitionMap, decodeMap, encodeMap, mapProblem } from "../core/partitions.ts";

const KV_MAP_LIMITS = Object.freeze({
  /** Tries to choose a map against other writers' captures. */
  attemptsMax: 8,
  /** Maps read at once while looking for the newest. */
  chunk: 16,
});

/**
 * Create KV `name` with `map` (epoch 0), its partitions' logs and its transaction space. Again with the same map is a
 * no-op (an earlier run that was cut short is finished); with another map it is refused, naming the
 * map in place.
 */
export async function createKv(client: WorClient, name: string, map: PartitionMap): Promise<{ readonly created: boolean }> {
  const problem = mapProblem(map) ?? (map.epoch === 0 ? undefined : "a new KV's map has epoch 0");
  if (problem) throw new WorError({ code: "invalid", message: problem });
  const space = await client.createSpace(name, { kind: "kv" });
  if (space.meta.kind !== "kv") throw new WorError({ code: "wrongKind", message: `${name} is a space of kind ${space.meta.kind}, not a KV` });
  const chosen = await firstWinsAt(client, name, 0, encodeMap(map));
  const found = decodeMap(chosen.value);
  if (typeof found === "string") throw new WorError({ code: "internal", message: `the map of KV ${name} is unreadable: ${found}` });
  if (JSON.stringify(found) !== JSON.stringify(map)) {
    throw new WorError({ code: "invalid", message: `KV ${name} exists with another map: ${describeMap(found)}` });
  }
  for (const p of map.partitions) await WormLog.create(client, p.log);
  await TxnCoordinator.create(client, txnSpaceOf(name));
  return { created: chosen.won };
}

const mapOf = (name: string, epoch: number, bytes: Uint8Array): PartitionMap => {
  const map = decodeMap(bytes);
  if (typeof map === "string") throw new WorError({ code: "internal", message: `map ${epoch} of KV ${name} is unreadable: ${map}` });
  return map;
};

/** Maps `from` to `to` - 1 of KV `name`, in one read (the first, 0, is the one it was created with). */
export async function readMapsAt(client: WorClient, name: string, from: number, to: number): Promise<PartitionMap[]> {
  await client.openSpace(name, "kv");
  const read = await client.readRange(name, from, to, { recover: true });
  return Array.from({ length: to - from }, (_, i) => {
    const r = read.get(from + i);
    if (r?._tag !== "Written") throw new WorError({ code: "invalid", message: `KV ${name} has no map ${from + i}` });
    return mapOf(name, from + i, r.value);
  });
}

/** Map `epoch` of KV `name`. */
export async function readMapAt(client: WorClient, name: string, epoch: number): Promise<PartitionMap> {
  return (await readMapsAt(client, name, epoch, epoch + 1))[0]!;
}

/** The newest map of KV `name`. `recover: false`: the newest chosen one, found without capturing
 *  the addresses after it (a map still being written is missed until it is chosen). */
export async function readMap(client: WorClient, name: string, opts: { readonly recover?: boolean } = {}): Promise<PartitionMap> {
  const meta = await client.openSpace(name, "kv");
  let newest: PartitionMap | undefined;
  for (let from = 0; ; from += KV_MAP_LIMITS.chunk) {
    const read = await client.readRange(name, from, from + KV_MAP_LIMITS.chunk, { recover: opts.recover ?? true });
    for (let e = from; e < from + KV_MAP_LIMITS.chunk; e++) {
      const r = read.get(e);
      if (r?._tag !== "Written") {
        if (!newest) throw new WorError({ code: "invalid", message: `KV ${name} has no map: its creation did not finish (create it again)` });
        return newest;
      }
      newest = mapOf(name, e, r.value);
    }
    if (meta.segmentSize <= from + KV_MAP_LIMITS.chunk) return newest!;
  }
}

/**
 * Move partition `id` of KV `name` to the node at `node` ("host:port"): the map after the newest,
 * the same but for that partition's node, chosen at the next address of the chain. Refused if the
 * partition is there already, if another node of the map has that address, or if another change
 * took the next epoch first (naming it). The new node claims the partition when it starts
 * (./kv-owner.ts); until then the old one serves it.
 */
export async function moveKv(client: WorClient, name: string, id: number, node: string): Promise<{ readonly from: PartitionMap; readonly to: PartitionMap }> {
  const from = await readMap(client, name);
  const p = from.partitions.find((x) => x.id === id);
  if (!p) throw new WorError({ code: "invalid", message: `KV ${name} has no partition ${id} (it has ${from.partitions.map((x) => x.id).join(", ")})` });
  if (p.node === node) throw new WorError({ code: "invalid", message: `partition ${id} of KV ${name} is at ${node} already (map epoch ${from.epoch})` });
  const to: PartitionMap = { epoch: from.epoch + 1, partitions: from.partitions.map((x) => (x.id === id ? { ...x, node } : x)) };
  const problem = mapProblem(to);
  if (problem) throw new WorError({ code: "invalid", message: problem });
  const meta = await client.openSpace(name, "kv");
  if (to.epoch >= meta.segmentSize) throw new WorError({ code: "invalid", message: `KV ${name} has had ${meta.segmentSize} maps, all its chain holds: no more moves` });
  const chosen = await firstWinsAt(client, name, to.epoch, encodeMap(to));
  if (!chosen.won) {
    const other = decodeMap(chosen.value);
    throw new WorError({ code: "contended", message: `another change of KV ${name} took map epoch ${to.epoch} first: ${typeof other === "string" ? other : describeMap(other)}; read the map and try again` });
  }
  return { from, to };
}

/** "partition 0 of KV kv (log kv-p0)": what a node's store holds (KvShardStore's `holds`). */
export const describePartition = (kv: string, p: Partition): string => `partition ${p.id} of KV ${kv} (log ${p.log})`;

/** "2 partitions: 0 [start, m) at h:p, 1 [m, end) at h:q (epoch 0)". */
export function describeMap(map: PartitionMap): string {
  const ps = map.partitions;
  const ranges = ps.map((p, i) => `${p.id} [${p.from === "" ? "start" : JSON.stringify(p.from)}, ${ps[i + 1] ? JSON.stringify(ps[i + 1]!.from) : "end"}) at ${p.node}`);
  return `${ps.length} partition${ps.length === 1 ? "" : "s"}: ${ranges.join(", ")} (epoch ${map.epoch})`;
}

/** Choose `value` at `index` unless something is there: what is chosen, and whether it is ours. */
async function firstWinsAt(client: WorClient, space: string, index: number, value: Uint8Array): Promise<{ readonly value: Uint8Array; readonly won: boolean }> {
  for (let attempt = 0; attempt < KV_MAP_LIMITS.attemptsMax; attempt++) {
    const r = await drive(firstWins(space, index, value), client);
    if (r.kind === "won") return { value, won: true };
    if (r.kind === "found") return { value: r.value, won: false };
    if (r.kind === "failed") throw new WorError(r.failure);
  }
  throw new WorError({ code: "contended", message: `another writer kept preempting the map of KV ${space} at ${index}` });
}
