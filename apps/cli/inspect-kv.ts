/**
 * `worm inspect`'s view of the example KVs (docs/ARCHITECTURE.md §4.5): for every space of kind kv,
 * its newest partition map, and each partition's node asked directly (with the cluster's TLS and
 * token): its log, how far its shard applied it against the log's tail (lag), its revision and keys.
 * A node that does not answer is shown unreachable; it does not fail the inspect.
 */
import type { WorClient } from "../../wor/node/client.ts";
import type { ClientSecurity } from "../../wor/node/credentials.ts";
import { WormLog } from "../log/node/log-client.ts";
import { KvClient } from "../kv/node/kv-client.ts";
import { readMap } from "../kv/node/kv-map.ts";
import { printLine, table } from "./output.ts";

export interface KvPartitionView {
  readonly partition: number;
  readonly from: string;
  readonly node: string;
  readonly log: string;
  /** The log's next slot; absent when it could not be read. */
  readonly tail?: number;
  readonly applied?: number;
  readonly revision?: number;
  readonly keys?: number;
  /** Why the node (or the log's tail) did not answer. */
  readonly error?: string;
}

export interface KvView {
  readonly kv: string;
  readonly mapEpoch?: number;
  readonly partitions: readonly KvPartitionView[];
  /** Why the map could not be read. */
  readonly error?: string;
}

/** One view per KV (a space of kind kv). */
export async function inspectKvs(client: WorClient, security: ClientSecurity, names: readonly string[], timeoutMs: number): Promise<KvView[]> {
  const views: KvView[] = [];
  for (const kv of names) {
    let map: Awaited<ReturnType<typeof readMap>>;
    try {
      map = await readMap(client, kv);
    } catch (e) {
      views.push({ kv, partitions: [], error: (e as Error).message });
      continue;
    }
    const nodes = new KvClient({ ...security, map, attemptTimeoutMs: timeoutMs, retryForMs: 0 });
    try {
      const statuses = await nodes.status();
      const partitions = await Promise.all(
        map.partitions.map(async (p, i): Promise<KvPartitionView> => {
          const base = { partition: p.id, from: p.from, node: p.node, log: p.log };
          const tail = await new WormLog({ client, log: p.log }).tail().catch(() => undefined);
          const s = statuses[i]!;
          if (!s.ok) return { ...base, ...(tail !== undefined ? { tail } : {}), error: s.failure.message };
          return { ...base, ...(tail !== undefined ? { tail } : {}), applied: s.value.applied, revision: s.value.revision, keys: s.value.keys };
        }),
      );
      views.push({ kv, mapEpoch: map.epoch, partitions });
    } finally {
      nodes.close();
    }
  }
  return views;
}

export function printKvs(views: readonly KvView[]): void {
  if (views.length === 0) return;
  printLine("");
  printLine(
    table(
      ["KV", "MAP EPOCH", "PARTITION", "FROM", "NODE", "LOG", "TAIL", "APPLIED", "LAG", "REVISION", "KEYS", "STATE"],
      views.flatMap((v) => {
        if (v.error !== undefined) return [[v.kv, "-", "", "", "", "", "", "", "", "", "", `not readable: ${v.error}`]];
        return v.partitions.map((p) => {
          const tail = p.tail === undefined ? "-" : String(p.tail);
          const head = [v.kv, String(v.mapEpoch), String(p.partition), p.from === "" ? "(start)" : p.from, p.node, p.log, tail];
          if (p.error !== undefined) return [...head, "", "", "", "", `unreachable: ${p.error}`];
          const lag = p.tail === undefined ? "-" : String(Math.max(0, p.tail - 1 - p.applied!));
          return [...head, String(p.applied), lag, String(p.revision), String(p.keys), "up"];
        });
      }),
    ),
  );
}
