/**
 * The LogPlayer that plays a partition's log into a KV store served in this process (a node's,
 * ./kv-node.ts, or a standby's, ./kv-standby.ts): one shard, its own, delivered to without the
 * network, and the log never trimmed (it is the partition's only full copy; the shard holds its
 * applied state).
 */
import { createHash } from "node:crypto";
import type { WorClient } from "../../../wor/node/client.ts";
import type { ClientSecurity } from "../../../wor/node/credentials.ts";
import type { WormLog } from "../../log/node/log-client.ts";
import { LogPlayer, type PlayerEvent } from "../../logplayer/node/player.ts";
import type { LocalShard } from "../../logplayer/node/shard-link.ts";
import type { KvShardStore } from "./shard-store.ts";

export interface PartitionPlayerOptions {
  readonly client: WorClient;
  readonly log: WormLog;
  readonly store: KvShardStore;
  /** The shard serving `store` here, and its "host:port" as the player names it. */
  readonly shard: LocalShard;
  readonly address: string;
  /** The map epoch the node serves under (a standby: the one a move to it would make). */
  readonly mapEpoch: number;
  /** The log's appends are this process's own (a node's: it is the log's only writer). */
  readonly ownAppends?: boolean;
  readonly security?: ClientSecurity;
  readonly onEvent?: (e: PlayerEvent) => void;
}

/** The player group (its space of epochs): the one the store is bound to, or for a new store one per
 *  map epoch and address (a group names its shards: the node of a moved partition is at another
 *  address, and two standbys for the next epoch, or a standby and a node started elsewhere, must
 *  not share one). */
function playerGroupOf(log: string, store: KvShardStore, mapEpoch: number, address: string): string {
  const bound = store.state.binding?.group;
  if (bound !== undefined) return bound;
  if (mapEpoch === 0) return `${log}-kv`;
  const named = `${log}-kv-e${mapEpoch}-${address.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  return named.length <= 64 ? named : `${log}-kv-e${mapEpoch}-${createHash("sha256").update(address).digest("hex").slice(0, 12)}`;
}

export function startPartitionPlayer(o: PartitionPlayerOptions): Promise<LogPlayer> {
  return LogPlayer.start({
    client: o.client,
    log: o.log,
    group: playerGroupOf(o.log.name, o.store, o.mapEpoch, o.address),
    shards: [o.address],
    tuning: { trimEvery: Number.POSITIVE_INFINITY },
    localShards: new Map([[o.address, o.shard]]),
    ...(o.ownAppends ? { ownAppends: true } : {}),
    ...(o.security ? { security: o.security } : {}),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  });
}
