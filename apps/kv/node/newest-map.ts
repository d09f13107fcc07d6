/**
 * The newest partition map a KV client or coordinating node knows (docs/ARCHITECTURE.md §4.5,
 * moving a partition): read again on demand, at most every `MAP_REFRESH_MS` (a read under way is
 * shared), and kept only if its epoch is newer.
 */
import type { PartitionMap } from "../core/partitions.ts";

/** The map is read again at most this often. */
const MAP_REFRESH_MS = 250;

export class NewestMap {
  private newest: PartitionMap;
  private readAt = 0;
  private reading: Promise<void> | undefined;

  constructor(
    map: PartitionMap,
    /** Read the KV's newest map (absent: `map` is kept for good). */
    private readonly read?: () => Promise<PartitionMap>,
  ) {
    this.newest = map;
  }

  get map(): PartitionMap {
    return this.newest;
  }

  /** A map heard of otherwise (pushed: ./map-watch.ts); kept if newer, which it says. */
  offer(map: PartitionMap): boolean {
    if (map.epoch <= this.newest.epoch) return false;
    this.newest = map;
    return true;
  }

  /** Read the map again (unless read within MAP_REFRESH_MS); a failed read keeps the one known. */
  async refresh(): Promise<void> {
    if (!this.read) return;
    if (!this.reading && Date.now() - this.readAt >= MAP_REFRESH_MS) {
      this.reading = this.read()
        .then((m) => {
          this.offer(m);
        })
        .catch(() => {})
        .finally(() => {
          this.readAt = Date.now();
          this.reading = undefined;
        });
    }
    await this.reading;
  }
}
