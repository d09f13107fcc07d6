/**
 * Following a KV's chain of maps (docs/ARCHITECTURE.md §4.5, moving a partition): a watch of the
 * chain (the acceptors push each map as it is chosen) and, since a push can be lost, a read every
 * `MAP_POLL_MS` besides; each map newer than the last one heard goes to `newer`, until it says stop. A
 * standby waits this way for the move that names it; long-lived clients (`KvClient.adopt`) for the
 * moves of the partitions they use, so a request at a node that no longer serves its partition
 * (paused, cut off) goes to the new one at once, not after its attempt's timeout.
 */
import type { WorClient } from "../../../wor/node/client.ts";
import type { PartitionMap } from "../core/partitions.ts";
import { readMap } from "./kv-map.ts";

/** How often the map is read when no newer one was pushed. */
const MAP_POLL_MS = 500;

export interface MapWatch {
  /** Ends when `newer` said stop or the watch was closed; rejects with what `newer` threw. */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/** Hear of every map of KV `name` after `from`; `newer` returns true to stop watching. */
export function watchMaps(client: WorClient, name: string, from: PartitionMap, newer: (map: PartitionMap) => boolean | Promise<boolean>): MapWatch {
  const feed = client.watch(name, from.epoch + 1);
  // A failed watch leaves the poll alone.
  const arm = (): Promise<boolean> => feed.next().then(() => true, () => new Promise<boolean>(() => {}));
  let pushed = arm();
  let closed = false;
  let wake: (() => void) | undefined;
  let heard = from.epoch;
  const done = (async () => {
    while (!closed) {
      let timer: NodeJS.Timeout | undefined;
      const news = await Promise.race([
        pushed,
        new Promise<false>((resolve) => {
          wake = () => resolve(false);
          timer = setTimeout(wake, MAP_POLL_MS);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      if (news) pushed = arm();
      if (closed) return;
      // Not recovering: a capture of the addresses after the newest map, twice a second by every
      // watcher, would be a synced write at each acceptor and could preempt the next move's write.
      const map = await readMap(client, name, { recover: false }).catch(() => undefined);
      if (closed) return;
      if (!map || map.epoch <= heard) continue;
      heard = map.epoch;
      if (await newer(map)) return;
    }
  })().finally(() => void feed.return?.());
  return {
    done,
    close: async () => {
      closed = true;
      wake?.();
      await done.catch(() => {});
    },
  };
}
