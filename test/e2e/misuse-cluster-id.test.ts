/**
 * A cluster file whose `clusterId` was edited must not write (issue: it still wrote). Three real
 * `worm node` acceptors of cluster dev-1234; `worm wor write` and `worm space create` with a copy of
 * the cluster file that says dev-9999 exit 2 with one line naming the acceptors and both ids, and
 * nothing is written. The right file, and `--peers` (no cluster id), still work.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Procs, addressesOf, oneLineError, runWorm, startCluster, tempDir } from "./harness.ts";

test("a cluster file naming another cluster id is refused before anything is written", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const nodes = await startCluster(procs, dir, "dev-1234");
  const addresses = addressesOf(nodes);
  const cluster = (clusterId: string) => ({ clusterId, segmentSize: 64, acceptors: addresses.map((address, k) => ({ id: k + 1, address })) });
  const good = join(dir, "cluster.json");
  const edited = join(dir, "edited.json");
  await writeFile(good, JSON.stringify(cluster("dev-1234")));
  await writeFile(edited, JSON.stringify(cluster("dev-9999")));

  const created = await runWorm(["space", "create", "demo", "--cluster", good]);
  assert.equal(created.code, 0, created.stderr);

  const refusal = `worm: acceptors ${addresses.join(", ")} belong to cluster dev-1234, not dev-9999: check --cluster`;
  const write = await runWorm(["wor", "write", "demo", "5", "--value", "oops", "--cluster", edited]);
  assert.equal(write.code, 2, `exit ${write.code}; stderr: ${write.stderr}`);
  assert.equal(oneLineError(write), refusal);
  const create = await runWorm(["space", "create", "elsewhere", "--cluster", edited, "--timeout", "1000"]);
  assert.equal(create.code, 2, create.stderr);
  assert.equal(oneLineError(create), refusal);
  const inspect = await runWorm(["inspect", "--cluster", edited, "--timeout", "1000"]);
  assert.equal(inspect.code, 2, inspect.stderr);
  assert.equal(oneLineError(inspect), refusal);

  // One acceptor of another cluster in an otherwise right file is named alone.
  const stray = join(dir, "stray.json");
  await writeFile(stray, JSON.stringify({ ...cluster("dev-9999"), acceptors: [{ id: 1, address: addresses[0] }], quorum: 1 }));
  const one = await runWorm(["wor", "read", "demo", "5", "--cluster", stray, "--timeout", "1000"]);
  assert.equal(oneLineError(one), `worm: acceptor ${addresses[0]} belongs to cluster dev-1234, not dev-9999: check --cluster`);

  // Nothing was written; the right file and --peers still work.
  const read = await runWorm(["wor", "read", "demo", "5", "--json", "--cluster", good]);
  assert.equal(read.code, 0, read.stderr);
  assert.match(read.stdout, /"result":"Unwritten"/);
  const spaces = await runWorm(["inspect", "--json", "--cluster", good]);
  assert.equal(spaces.code, 0, spaces.stderr);
  assert.doesNotMatch(spaces.stdout, /elsewhere/, "no space was created");
  const peers = await runWorm(["wor", "write", "demo", "6", "--value", "fine", "--peers", addresses.join(","), "--segment-size", "64"]);
  assert.equal(peers.code, 0, peers.stderr);
});
