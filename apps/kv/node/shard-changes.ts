/**
 * A KV shard's latest changes and the watches they are pushed to (docs/ARCHITECTURE.md §4.5; the
 * store: ./shard-store.ts). The changes are kept in memory (../core/changes.ts: at most `max`,
 * whole revisions) and on disk, one blob per synced write of the store ("e:" + the blob's first
 * revision, ./shard-layout.ts), written in the same batch as the records they changed, so that a
 * node restarted (killed or stopped) still serves a watch resuming from a revision before it
 * started: the changes of the revisions it made durable are loaded back, the rest replayed from
 * the log. Blobs wholly older than the changes kept are deleted by a later write.
 */
import { Changes } from "../core/changes.ts";
import { type KeyRange, inRange } from "../core/keys.ts";
import type { KvEvent } from "../core/messages.ts";
import { encodeChanges } from "../core/stored.ts";
import { type LoadedChanges, type Op, changesKey } from "./shard-layout.ts";

interface Watch {
  readonly range: KeyRange;
  /** The first revision it wants (a watch may start past the revision applied now). */
  readonly from: number;
  readonly deliver: (events: KvEvent[], revision: number) => void;
  readonly end: (reason: Error) => void;
}

export class ShardChanges {
  private readonly kept = new Changes();
  private readonly watches = new Set<Watch>();
  /** Changes applied since the last write: the next write's blob. */
  private pending: KvEvent[] = [];
  /** The first revision of each blob on disk, ascending. */
  private blobs: number[];

  /** Changes after `loaded` (the store's durable revision `revision`), at most `max` kept. */
  constructor(loaded: LoadedChanges, revision: number, max: number) {
    this.kept.reset(loaded.events[0]?.revision ?? revision + 1, max);
    this.kept.add(loaded.events);
    this.blobs = [...loaded.blobs];
  }

  /** Every change from this revision on is kept. */
  get keptFrom(): number {
    return this.kept.keptFrom;
  }

  /** Keep `events` (applied, up to `revision`) for watches to come and the next write, and push each watch its own. */
  publish(events: readonly KvEvent[], revision: number): void {
    if (events.length === 0) return;
    this.kept.add(events);
    this.pending.push(...events);
    for (const w of this.watches) {
      const mine = events.filter((e) => e.revision >= w.from && inRange(e.key, w.range));
      if (mine.length > 0) w.deliver(mine, revision);
    }
  }

  /** What a write adds to its batch: the changes since the last write, and deleting blobs no longer kept. */
  writeOps(): Op[] {
    const ops: Op[] = [];
    const first = this.pending[0];
    if (first) {
      ops.push({ type: "put", key: changesKey(first.revision), value: encodeChanges(this.pending) });
      this.blobs.push(first.revision);
      this.pending = [];
    }
    // Blob i holds revisions up to blob i + 1's first less one.
    let drop = 0;
    while (drop + 1 < this.blobs.length && this.blobs[drop + 1]! <= this.kept.keptFrom) ops.push({ type: "del", key: changesKey(this.blobs[drop++]!) });
    if (drop > 0) this.blobs = this.blobs.slice(drop);
    return ops;
  }

  /**
   * Watch `range` from revision `fromRevision` on (0: from `revision` + 1, the next): `deliver` gets at
   * once the changes kept since then with `revision` (so a watch from now learns where it starts,
   * and one of a revision to come that it is served here), then each batch as it is published. A
   * revision no longer kept is refused (a string saying from which on they are). Returns what stops it.
   */
  watch(range: KeyRange, fromRevision: number, revision: number, deliver: Watch["deliver"], end: Watch["end"]): (() => void) | string {
    const from = fromRevision === 0 ? revision + 1 : fromRevision;
    if (from < this.kept.keptFrom) return `revision ${fromRevision} is compacted: this node keeps changes from revision ${this.kept.keptFrom} on (watch from there, or from 0: now)`;
    const w: Watch = { range, from, deliver, end };
    deliver(
      this.kept.since(from).filter((e) => inRange(e.key, range)),
      revision,
    );
    this.watches.add(w);
    return () => this.watches.delete(w);
  }

  /** End every watch with `reason` (the store failed or closed). */
  endAll(reason: Error): void {
    for (const w of this.watches) w.end(reason);
    this.watches.clear();
  }
}
