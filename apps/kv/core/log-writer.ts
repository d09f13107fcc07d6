/**
 * Who writes a partition's log (docs/ARCHITECTURE.md §4.5, moving a partition). A KV node is its
 * log's only writer through an embedded sequencer, whose owner name (written in every segment it
 * claims) says which map epoch the node serves under: `kv-<kv>-p<partition>-e<epoch>-<uuid>`.
 *
 * When a partition moves, the new node (a newer epoch) recovers the log over the old node's
 * segments. The old one, still appending until its shard applies the new owner entry, would find
 * the new node's segment above its own and recover over it in turn, and the two would take the log
 * from each other until it stops. So a node's sequencer **gives way** to a writer of a newer epoch
 * (apps/log's `yieldsTo`): deposed, its appends fail and its clients read the map again. Only a
 * strictly newer epoch: two incarnations of one epoch (a restart) fence each other as before, and
 * no two writers give way to each other. The log's owner entries, not this, decide who owns the
 * partition: giving way only spares the new owner rounds.
 */

/** The owner name of the sequencer of a node serving `partition` of `kv` under map epoch `epoch`;
 *  `incarnation` a fresh UUID per sequencer. */
export const logWriter = (kv: string, partition: number, epoch: number, incarnation: string): string => `kv-${kv}-p${partition}-e${epoch}-${incarnation}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The map epoch in `owner`, a `logWriter` name of this partition's, or undefined (another name). */
export function writerEpoch(kv: string, partition: number, owner: string): number | undefined {
  const prefix = `kv-${kv}-p${partition}-e`;
  if (!owner.startsWith(prefix)) return undefined;
  const rest = owner.slice(prefix.length);
  const dash = rest.indexOf("-");
  const digits = rest.slice(0, dash);
  if (dash < 1 || !/^\d+$/.test(digits) || !UUID.test(rest.slice(dash + 1))) return undefined;
  return Number(digits);
}

/** Whom the sequencer of a node serving under map epoch `epoch` gives way to: writers of a newer one. */
export const givesWayTo =
  (kv: string, partition: number, epoch: number) =>
  (owner: string): boolean =>
    (writerEpoch(kv, partition, owner) ?? -1) > epoch;
