/**
 * A standby for a partition (docs/ARCHITECTURE.md §4.5, moving a partition): the partition's log
 * played into a store at an address the map does not name for it yet, so that a node started there
 * once a move names it (./kv-map.ts `moveKv`) begins caught up, and claims the partition at once
 * instead of replaying the whole log first. It reads the log only (no sequencer: it appends
 * nothing) and serves nothing but its shard's delivery, under a player group of its own (the one
 * the node will use: its store is bound to it). A client that reached it early (it read the move's
 * map before the node started here) is answered `UNAVAILABLE`, so it tries again shortly.
 */
import * as grpc from "@grpc/grpc-js";
import type { ClientSecurity } from "../../../wor/node/credentials.ts";
import { type ServeOptions, statusError } from "../../../wor/node/grpc-serving.ts";
import type { WormLog } from "../../log/node/log-client.ts";
import type { PlayerEvent } from "../../logplayer/node/player.ts";
import { startShardServer } from "../../logplayer/node/shard-server.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { type KvHandlers, KvService } from "../wire/service.ts";
import { startPartitionPlayer } from "./partition-player.ts";
import type { KvShardStore } from "./shard-store.ts";

export interface StandbyOptions extends ServeOptions {
  readonly client: WorClient;
  /** The partition's log, read-only (no token source). */
  readonly log: WormLog;
  readonly store: KvShardStore;
  /** "host:port" where the node will serve (its player names its shard so). */
  readonly address: string;
  /** The newest map's epoch now: a move to this address makes a later one. */
  readonly mapEpoch: number;
  readonly security?: ClientSecurity;
  readonly onEvent?: (e: PlayerEvent) => void;
  /** The store failed, or the player stopped on its own. */
  readonly onFailure?: (e: Error) => void;
}

export interface KvStandby {
  /** Stop playing and serving (the store stays open: the caller closes it, or hands it on). */
  close(): Promise<void>;
}

/** The KV API of a standby: not yet (a move names this address, then a node serves here). */
function notYet(address: string): KvHandlers {
  const why = () => statusError(grpc.status.UNAVAILABLE, `the KV node at ${address} is a standby (it serves once moved here)`);
  return {
    session: (call) => void call.emit("error", why()),
    status: (_call, callback) => callback(why()),
    watch: (call) => void call.emit("error", why()),
    snapshot: (call) => void call.emit("error", why()),
  };
}

export async function startKvStandby(o: StandbyOptions): Promise<KvStandby> {
  const services = [{ definition: KvService, handlers: notYet(o.address) }];
  const shard = await startShardServer({ ...o, services, ...(o.onFailure ? { onFailure: o.onFailure } : {}) });
  try {
    // Under the group the node will use: a move to this address makes the next map epoch.
    const player = await startPartitionPlayer({ ...o, shard, mapEpoch: o.mapEpoch + 1 });
    void player.done.then((end) => {
      if (end) o.onFailure?.(new Error(`the standby's player stopped: ${JSON.stringify(end)}`));
    });
    return {
      close: async () => {
        player.stop();
        await shard.close();
      },
    };
  } catch (e) {
    await shard.close();
    throw e;
  }
}
