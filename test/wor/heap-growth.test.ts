/**
 * wor/node/heap-growth.ts: once `boundHeapGrowth` ran, V8's young generation stays at its size (it
 * doubled up to 128 MiB under a load where much of what is allocated survives a scavenge). Run in a
 * child process: the flags are process-wide.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const HEAP_GROWTH = new URL("../../wor/node/heap-growth.ts", import.meta.url).pathname;
/** Allocates 4M small objects, a quarter of them kept for a while; prints the young generation's size before and at most, in MiB. */
const CHILD = `
import { getHeapSpaceStatistics } from "node:v8";
import { boundHeapGrowth } from ${JSON.stringify(HEAP_GROWTH)};
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size / 1048576;
if (process.argv.at(-1) === "bound") boundHeapGrowth();
const before = young();
let most = before;
const kept = [];
for (let i = 0; i < 4_000_000; i++) {
  const o = { i, pair: [i, i] };
  if (i % 4 === 0) kept.push(o);
  if (kept.length > 400_000) kept.length = 0;
  if ((i & 65535) === 0) most = Math.max(most, young());
}
console.log(JSON.stringify({ before, most }));
`;

function youngGeneration(mode: "bound" | "free"): { before: number; most: number } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD, mode], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { before: number; most: number };
}

test("after boundHeapGrowth the young generation does not grow; without it, it does", { timeout: 120_000 }, () => {
  const free = youngGeneration("free");
  assert.ok(free.most >= 4 * Math.max(free.before, 8), `without the bound the young generation grows (else this test shows nothing): ${JSON.stringify(free)}`);
  const bound = youngGeneration("bound");
  assert.ok(bound.most <= Math.max(bound.before, 8), `bounded, it stays at its size: ${JSON.stringify(bound)}`);
});
