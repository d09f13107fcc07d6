/**
 * `worm kv serve` of both partitions in one process (apps/cli/kv-serve.ts), as a user runs it: one
 * listening line per partition, each at its own address; puts, gets and a transaction across the two
 * (each partition its own participant, in one process); SIGTERM stops both, a stopped line each; served
 * again on the same stores, they resume. `--partition` and `--data-dir` that do not pair up are refused
 * before anything starts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { kvCluster } from "./kv-cluster.ts";
import { runWorm } from "./harness.ts";

test("worm kv serve of two partitions in one process: both served, a transaction across them, stopped and resumed; unpaired flags refused", { timeout: 150_000 }, async (t) => {
  const { procs, dir, cluster, nodes } = await kvCluster(t, "kv-several", { serveEach: false });
  const both = ["--partition", "0", "--data-dir", join(dir, "p0"), "--partition", "1", "--data-dir", join(dir, "p1")];

  // Flags that do not pair up: refused at once (exit 2), nothing served, no store made.
  for (const [args, why] of [
    [["--partition", "0", "--partition", "1", "--data-dir", join(dir, "p0")], /^worm: 2 --partition and 1 --data-dir: give one --data-dir for each --partition, in the same order\n$/],
    [["--partition", "1", "--data-dir", join(dir, "a"), "--partition", "1", "--data-dir", join(dir, "b")], /^worm: --partition 1 is given twice\n$/],
    [["--partition", "0", "--data-dir", join(dir, "p0"), "--partition", "1", "--data-dir", `${join(dir, "p0")}/`], /^worm: --data-dir .*p0\/ is given for two partitions: each partition's node has a store of its own\n$/],
    [["--partition", "0", "--data-dir", join(dir, "p0"), "--partition", "7", "--data-dir", join(dir, "p7")], /^worm: --partition 7: KV kv has partitions 0, 1\n$/],
  ] as const) {
    const r = await runWorm(["kv", "serve", ...args, "--cluster", cluster]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.equal(r.stdout, "", "nothing served");
  }

  const serve = async () => {
    const p = procs.start(["kv", "serve", ...both, "--cluster", cluster]);
    const lines = await Promise.all([0, 1].map((k) => p.waitForJson((l) => l.event === "listening" && l.partition === k, 60_000)));
    assert.deepEqual(
      lines.map((l) => l.address),
      nodes,
      "each partition at its own address",
    );
    return p;
  };
  const first = await serve();
  const kv = (...args: string[]) => runWorm(["kv", ...args, "--cluster", cluster]);
  for (const [key, value] of [["apple", "red"], ["plum", "purple"]]) assert.equal((await kv("put", key!, value!)).code, 0);
  const moved = await runWorm(["kv", "txn", "-", "--json", "--cluster", cluster], { input: '{"if": [{"key": "apple", "value": "red"}], "then": [{"put": {"key": "apple", "value": "green"}}, {"del": {"key": "plum"}}]}' });
  assert.equal(moved.code, 0, moved.stderr);
  assert.deepEqual(JSON.parse(moved.stdout).partitions, [0, 1]);

  const stopped = await first.kill("SIGTERM");
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.deepEqual(
    first.jsonLines().filter((l) => l.event === "stopped").map((l) => l.partition),
    [0, 1],
  );

  await serve();
  assert.equal((await kv("get", "apple")).stdout, "green\n", "resumed on its stores");
  const plum = await kv("get", "plum");
  assert.equal(plum.code, 0, plum.stderr);
  assert.equal(plum.stdout, "(none)\n", "deleted by the transaction across both");
  const status = JSON.parse((await kv("status", "--json")).stdout) as { partitions: { partition: number; status: { revision: number } }[] };
  assert.deepEqual(status.partitions.map((p) => p.partition), [0, 1]);
});
