/**
 * The acceptor process's heap growth, bounded (issue 15: memory bounded by caches). The node's live
 * heap is bounded by its caches (address-cache.ts), but a written address that the cache later
 * evicts dies in V8's old generation, and so does what a cached value holds outside the heap (each
 * value is its own ArrayBuffer: ~100 bytes that V8 counts, ~250 that malloc holds). V8 collects the
 * old generation when it reaches the live size times a growing factor it picks from the allocation
 * rate, up to 4: under a steady write load it picked ~3.6, and the garbage between two collections
 * (old-space pages, and malloc's heap full of dead values' backing stores) became most of the RSS.
 * Measured on a loaded machine, acceptor 0 of bench/scale.ts's cluster after 1M values of 100 bytes
 * (64 MiB cache), before → after: live heap ~90 MiB either way, old space 126-240 → 86-98 MiB,
 * malloc's heap 178-191 → 78-82 MiB, RSS 610-775 → 410-415 MiB (at 0.1M values: ~300 MiB either way).
 *
 * `--heap-growing-percent` is read at every collection, so setting it once the process runs takes
 * effect (unlike the young generation's size, fixed when V8 starts). It is process-wide: the `worm
 * node` command sets it (a process that serves one acceptor), a library embedding a node does not.
 */
import { setFlagsFromString } from "node:v8";

const HEAP_LIMITS = Object.freeze({
  /** The old generation grows to at most (1 + this / 100) times what the last full collection left. */
  growingPercent: 50,
});

/** Bound the process's old-generation growth (see the file comment); process-wide, idempotent. */
export function boundHeapGrowth(percent: number = HEAP_LIMITS.growingPercent): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
