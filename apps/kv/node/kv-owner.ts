/**
 * A KV node's claim on its partition (docs/ARCHITECTURE.md §4.5, moving a partition). The map names
 * one node per partition; a move chooses map e+1 naming another (./kv-map.ts `moveKv`). A node that
 * has not heard of it (paused, cut off, never told) would go on acting for the partition, so the
 * partition's **log** decides who owns it, not the map a node read:
 *
 * - Before it serves anything, a node catches its shard up with the log's tail and, if its map is
 *   newer than the last **owner entry** there (../core/records.ts), appends one naming itself under
 *   its map's epoch. Its batches and commit entries carry that epoch; the shards apply an entry of
 *   an older epoch than the last owner entry as nothing (../core/shard-state.ts), so whatever the old
 *   node appends once the new owner's entry is in the log changes nothing, and its clients, told the
 *   partition moved, retry at the new node with the same idempotency key (applied once there).
 * - A node whose shard has applied a newer owner entry than its map's epoch is **superseded**: it
 *   refuses every request (`wrongPartition`, naming the new owner) and votes NO in every transaction
 *   across partitions. A vote is cast only after the shard has applied the log below a tail read
 *   after the prepare arrived, so a YES of the old node is either in a transaction block the new
 *   owner's restart scan captures (it began before the owner entry) or refused here.
 * - The node's embedded sequencer is named for its map epoch and gives way to the sequencer of a
 *   newer one (../core/log-writer.ts): an old node that has not heard of the move stops appending
 *   when it finds the new node's segment last, instead of recovering over it.
 */
import { randomUUID } from "node:crypto";
import type { WorClient } from "../../../wor/node/client.ts";
import type { WormLog } from "../../log/node/log-client.ts";
import { LogError } from "../../log/node/log-error.ts";
import { SequencerNode } from "../../log/node/sequencer-node.ts";
import { givesWayTo, logWriter } from "../core/log-writer.ts";
import type { Partition, PartitionMap } from "../core/partitions.ts";
import { encodeOwner, supersededBy } from "../core/records.ts";
import { readPosition } from "../core/shard-state.ts";
import { kvTrace } from "./kv-trace.ts";
import type { KvShardStore } from "./shard-store.ts";

/** A node taking a partition over catches up with the registers' tail until it was this close, at
 *  most this many times, before it asks its own sequencer. */
const NEAR_SLOTS = 256;
const NEAR_ROUNDS_MAX = 4;

/** A claim's register round that times out is tried again while the shard applies the log between
 *  tries (a node replaying a long log is busy, and its rounds wait their turn), and fails after this
 *  many timeouts in a row with nothing applied between. */
const STALLED_TIMEOUTS_MAX = 3;

/** The idempotency key's client half of owner entries (a restarted node's second append of the same
 *  epoch's entry is stored once). */
const OWNER_CLIENT = "kv-owner";

/** The embedded sequencer of a node serving partition `partition` of `kv` under map epoch `epoch`:
 *  named for that epoch, giving way to a node of a newer one (../core/log-writer.ts), and claiming
 *  the next segment only when the last has a sixteenth left: a node taking the partition over
 *  seals what the old one claimed and left unused, one fill per slot, and a whole segment claimed
 *  ahead doubled that (a move's stall 0.54-1.1 s against 0.23-0.66), while claiming only when
 *  the last is used up cost puts a wait (8% fewer in 7 alternated pairs; a sixteenth: none seen). */
export const partitionSequencer = (client: WorClient, kv: string, partition: number, epoch: number): SequencerNode =>
  new SequencerNode({ client, owner: logWriter(kv, partition, epoch, randomUUID()), config: { yieldsTo: givesWayTo(kv, partition, epoch), aheadSegments: 1 / 16 } });

/** Why a node serving `mine` under map epoch `mapEpoch` no longer may (its log names a newer owner), or undefined. */
export const superseded = (store: KvShardStore, mine: Partition, mapEpoch: number): string | undefined => supersededBy(store.owner, mine.id, mapEpoch);

/**
 * Make this node the owner of its partition as `map` says: its shard caught up with the log's tail,
 * then an owner entry appended if the log's last one is older than `map` (and applied). Refused if
 * the log names a newer owner (the map this node read is stale) or another node at `map`'s epoch.
 */
export async function claimPartition(log: WormLog, store: KvShardStore, map: PartitionMap, mine: Partition, signal?: AbortSignal, stallMs = 10_000): Promise<void> {
  // Catching up takes as long as the log takes to replay: only a shard that applies nothing for `stallMs` fails it.
  const caughtUp = (position: number) => appliedUpTo(store, position, stallMs, signal);
  // Taking the partition over: catch up first with what the registers hold, while the old node (if
  // it runs) still serves, and again while that was far (it went on appending); our sequencer's
  // first tail makes it give way (../core/log-writer.ts), so the partition waits only for the rest.
  for (let round = 0; map.epoch > store.mapEpoch && round < NEAR_ROUNDS_MAX; round++) {
    const near = await patiently(store, () => log.chosenTail());
    const behind = readPosition(near) - store.applied;
    await caughtUp(readPosition(near));
    kvTrace?.({ ev: "claimNear", tail: near, applied: store.applied });
    if (behind <= NEAR_SLOTS) break;
  }
  const tail = await patiently(store, () => log.tail());
  kvTrace?.({ ev: "claimTail", tail });
  await caughtUp(readPosition(tail));
  kvTrace?.({ ev: "claimCaughtUp", applied: store.applied });
  const check = () => {
    const moved = superseded(store, mine, map.epoch);
    if (moved) throw new Error(moved);
    const owner = store.owner;
    if (owner && owner.epoch === map.epoch && owner.node !== mine.node) {
      throw new Error(`the log of partition ${mine.id} names the node at ${owner.node} for map epoch ${map.epoch}, not ${mine.node}: read the map again`);
    }
  };
  check();
  if (map.epoch <= store.mapEpoch) return;
  const { slot } = await log.append(encodeOwner({ epoch: map.epoch, node: mine.node }), { key: { client: OWNER_CLIENT, seq: map.epoch } });
  kvTrace?.({ ev: "ownerAppended", slot });
  await caughtUp(slot);
  check();
}

/** `read()` (a read of the log's tail: asking again is harmless), again after a timeout while the
 *  shard still applies the log (STALLED_TIMEOUTS_MAX). */
async function patiently<T>(store: KvShardStore, read: () => Promise<T>): Promise<T> {
  for (let stalled = 0, at = store.applied; ; ) {
    try {
      return await read();
    } catch (e) {
      if ((e as { failure?: { code?: string } }).failure?.code !== "timeout") throw e;
      stalled = store.applied > at ? 0 : stalled + 1;
      at = store.applied;
      if (stalled >= STALLED_TIMEOUTS_MAX) throw e;
      kvTrace?.({ ev: "claimRetry", why: (e as Error).message, applied: at });
    }
  }
}

/** Until the shard has applied `position`, however long, while it applies something at least every
 *  `stallMs` (a `timeout` LogError once it does not); `signal` aborts the wait. */
async function appliedUpTo(store: KvShardStore, position: number, stallMs: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const at = store.applied;
    const slice = AbortSignal.timeout(stallMs);
    try {
      return await store.whenApplied(position, signal ? AbortSignal.any([signal, slice]) : slice);
    } catch (e) {
      if (!slice.aborted || signal?.aborted) throw e;
      if (store.applied > at) continue;
      throw new LogError({ code: "timeout", message: `the shard applied nothing for ${stallMs} ms, at position ${store.applied} of ${position}` });
    }
  }
}
