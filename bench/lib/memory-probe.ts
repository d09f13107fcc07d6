/**
 * Preloaded into the acceptor processes by bench/scale.ts --memory (`node --import this worm …
 * node …`): on SIGUSR2 the process runs a full collection and appends one JSON line to
 * `$WORM_BENCH_MEMORY/<pid>.jsonl`: its RSS and heap used before the collection (under load), then
 * `process.memoryUsage()` (rss, heapTotal, heapUsed, external, arrayBuffers) and the old and young
 * generations' sizes after it, in MiB. Where an
 * acceptor's RSS goes: its live heap (the caches), V8's reserve for garbage, outside the heap.
 * Erasable TypeScript only, so that it loads without tsx into dist/'s worm too.
 */
import { appendFileSync } from "node:fs";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export const MEMORY_ENV = "WORM_BENCH_MEMORY";
const MiB = 1 << 20;
const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

const dir = process.env[MEMORY_ENV];
if (dir) {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  process.on("SIGUSR2", () => {
    const before = process.memoryUsage();
    gc();
    const m = process.memoryUsage();
    const space = (name: string): number => mib(getHeapSpaceStatistics().find((s) => s.space_name === name)?.space_size ?? 0);
    const line = { rssBeforeGc: mib(before.rss), heapUsedBeforeGc: mib(before.heapUsed), rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers), oldSpace: space("old_space"), newSpace: space("new_space") };
    appendFileSync(`${dir}/${process.pid}.jsonl`, `${JSON.stringify(line)}\n`);
  });
}
