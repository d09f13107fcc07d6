/**
 * Coarse deadlines (wor/node/deadlines.ts): a wait expires at its deadline or within a grain after,
 * never before; a cancelled one never expires; waits of one grain share a timer, and a process whose
 * deadlines were all cancelled exits at once instead of waiting for them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { DEADLINE_GRAIN_MS, TIMED_OUT, atDeadline, timeoutSignal, until } from "../../wor/node/deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a deadline expires at its time or within a grain after, never before; a cancelled one never", async () => {
  const start = Date.now();
  const fired: number[] = [];
  atDeadline(start + 60, () => fired.push(Date.now() - start));
  const cancel = atDeadline(start + 60, () => fired.push(-1));
  atDeadline(start + 61, () => fired.push(Date.now() - start));
  cancel();
  await sleep(60 + 3 * DEADLINE_GRAIN_MS);
  assert.equal(fired.length, 2, JSON.stringify(fired));
  for (const at of fired) assert.ok(at >= 60 && at < 60 + 2 * DEADLINE_GRAIN_MS + 30, `expired after ${at} ms`);
});

test("until gives the value, or the rejection, or TIMED_OUT once the deadline passed", async () => {
  assert.equal(await until(Promise.resolve(7), Date.now() + 1_000), 7);
  await assert.rejects(until(Promise.reject(new Error("no")), Date.now() + 1_000), /no/);
  const start = Date.now();
  assert.equal(await until(new Promise(() => {}), start + 40), TIMED_OUT);
  assert.ok(Date.now() - start >= 40);
});

test("timeoutSignal aborts with a TimeoutError; cancelled, it never aborts", async () => {
  const a = timeoutSignal(30);
  const b = timeoutSignal(30);
  b.cancel();
  await sleep(30 + 3 * DEADLINE_GRAIN_MS);
  assert.equal(a.signal.aborted, true);
  assert.equal((a.signal.reason as Error).name, "TimeoutError");
  assert.equal(b.signal.aborted, false);
});

test("a process whose deadlines were all cancelled exits at once, not when they would have expired", { timeout: 30_000 }, () => {
  const module = new URL("../../wor/node/deadlines.ts", import.meta.url).pathname;
  const script = `import { until } from ${JSON.stringify(module)}; for (let i = 0; i < 1000; i++) await until(Promise.resolve(i), Date.now() + 20000);`;
  const start = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 25_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - start < 10_000, `exited after ${Date.now() - start} ms`);
});
