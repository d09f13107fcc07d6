/**
 * What a replica knows of the checkpoint records (docs/ARCHITECTURE.md §4.2): the slot of the
 * latest one (applied, or heard of in a leader's heartbeat: the checkpoint stream's tail), each
 * holder's latest checkpointed position (the log is trimmed below the position a majority holds,
 * less `trailingSlots`), and this replica's own latest record until it is applied from the log: a
 * publish may be lost (a lost message, a leader that stopped, none known), so it is published again
 * every `requestTimeoutMs` until then.
 */
import type { CheckpointRecord } from "./records.ts";

export class CheckpointRecords {
  /** The slot of the latest checkpoint record applied (or heard of from the leader). */
  slot = -1;
  /** Our latest record until applied from the log, published (again) at `publishAt`. */
  unpublished: CheckpointRecord | undefined;
  publishAt = 0;
  private readonly latest = new Map<string, number>();

  constructor(
    private readonly config: { readonly id: string; readonly peers: readonly string[]; readonly trailingSlots: number; readonly requestTimeoutMs: number },
  ) {}

  /** Each holder's latest checkpointed position. */
  holders(): Record<string, number> {
    return Object.fromEntries(this.latest);
  }

  /** The leader's heartbeat names the slot of its latest record. */
  heard(slot: number): void {
    this.slot = Math.max(this.slot, slot);
  }

  /** Our record to publish at `now` (again `requestTimeoutMs` later, until it is applied). */
  publish(now: number): CheckpointRecord {
    this.publishAt = now + this.config.requestTimeoutMs;
    return this.unpublished!;
  }

  /** Record `r` was applied at `slot`: the position to trim the log below, once a majority checkpointed. */
  applied(slot: number, r: CheckpointRecord): number | undefined {
    this.heard(slot);
    if (r.holder === this.config.id && r.position >= (this.unpublished?.position ?? Number.POSITIVE_INFINITY)) this.unpublished = undefined;
    this.latest.set(r.holder, Math.max(this.latest.get(r.holder) ?? 0, r.position));
    const majority = Math.floor(this.config.peers.length / 2) + 1;
    const held = [...this.latest.values()].sort((a, b) => b - a);
    return held.length >= majority ? held[majority - 1]! - this.config.trailingSlots : undefined;
  }
}
