/**
 * The acceptor process's heap growth, bounded (issue 15: memory bounded by caches). The node's live
 * heap is bounded by its caches (address-cache.ts), but a written address that the cache later
 * evicts dies in V8's old generation, and so does what a cached value holds outside the heap (each
 * value is its own ArrayBuffer, whose malloc bookkeeping V8 does not count). V8 collects the
 * old generation when it reaches the live size times a growing factor it picks from the allocation
 * rate, up to 4: under a steady write load it picked ~3.6, and the garbage between two collections
 * (old-space pages, and malloc's heap full of dead values' backing stores) became most of the RSS.
 * Measured on a loaded machine, acceptor 0 of bench/scale.ts's cluster after 1M values of 100 bytes
 * (64 MiB cache), before → after: live heap ~90 MiB either way, old space 126-240 → 86-98 MiB,
 * malloc's heap 178-191 → 78-82 MiB, RSS 610-775 → 410-415 MiB (at 0.1M values: ~300 MiB either way).
 *
 * The young generation: V8 doubles it while much of what it allocates survives a scavenge (under a
 * write load: requests waiting for their batch's fsync), up to 128 MiB here, all of it resident, the
 * largest part of an acceptor's RSS at 0.1M values. `--semi-space-growth-factor=1` keeps it at the
 * size it has when the node starts (32 MiB in dist/'s worm).
 *
 * Both flags are read when V8 sizes a generation, so setting them once the process runs takes effect
 * (`--max-semi-space-size` would not: V8 reads it only when it starts). They are process-wide: the
 * `worm node` command sets them (a process that serves one acceptor), a library embedding a node
 * does not.
 */
import { setFlagsFromString } from "node:v8";

const HEAP_LIMITS = Object.freeze({
  /** The old generation grows to at most (1 + this / 100) times what the last full collection left. */
  growingPercent: 50,
  /** Each growth of the young generation multiplies its size by this (1: it does not grow). */
  youngGrowthFactor: 1,
});

/** Bound the process's heap growth (see the file comment); process-wide, idempotent. */
export function boundHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_LIMITS.growingPercent}`);
  setFlagsFromString(`--semi-space-growth-factor=${HEAP_LIMITS.youngGrowthFactor}`);
}
