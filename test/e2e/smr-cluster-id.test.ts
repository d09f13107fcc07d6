/**
 * An SMR replica refuses a client of another cluster (issue: the cluster-id check reached only the
 * acceptors). One `worm node` acceptor and one `worm smr serve` replica of cluster dev-a; `worm smr
 * propose|read` with a cluster file of dev-b (two dev clusters on one machine) exit 2 at once with
 * one line naming the replica and both ids, and nothing is applied; `worm smr status` shows the
 * refusal in the replica's row and exits 2. A client naming no cluster (no cluster file) and one naming dev-a
 * are served.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Procs, oneLineError, runWorm, startNode, tempDir } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

test("a replica of cluster dev-a refuses a client of dev-b by name; no cluster id, or dev-a, is served", { timeout: 90_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-smr-cluster-id-");
  const node = await startNode(procs, { id: 1, dataDir: join(dir, "a1"), clusterId: "dev-a" });
  const acceptors = [{ id: 1, address: `127.0.0.1:${node.port}` }];
  const [a, b] = [join(dir, "a.json"), join(dir, "b.json")];
  await writeFile(a, JSON.stringify({ clusterId: "dev-a", segmentSize: 64, acceptors }));
  await writeFile(b, JSON.stringify({ clusterId: "dev-b", segmentSize: 64, acceptors }));
  assert.equal((await runWorm(["smr", "create", "shop", "--cluster", a])).code, 0);
  const [replica] = (await stableAddresses(1)) as [string];
  await procs.start(["smr", "serve", "shop", "--listen", replica, "--replicas", replica, "--data-dir", join(dir, "r0"), "--cluster", a]).waitForJson((l) => l.event === "listening", 60_000);
  const smr = (...args: string[]) => runWorm(["smr", ...args, "--replicas", replica, "--timeout", "60000"]);

  // Refused at once (not retried until --timeout), by the replica's address and both cluster ids.
  const refusal = `worm: invalid: replica ${replica}: the replica belongs to cluster dev-a, not dev-b: check its address and --cluster`;
  const [propose, read] = await Promise.all([smr("propose", "shop", "put", "k", "wrong", "--cluster", b), smr("read", "shop", "k", "--cluster", b)]);
  for (const r of [propose, read]) {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(oneLineError(r), refusal);
    assert.ok(r.ms < 15_000, `took ${r.ms} ms`);
  }
  const status = await runWorm(["smr", "status", "shop", "--replicas", replica, "--cluster", b, "--json"]);
  assert.equal(status.code, 2, status.stderr);
  assert.deepEqual(JSON.parse(status.stdout).replicas, [{ address: replica, error: refusal.slice("worm: ".length) }]);

  // No cluster id (no cluster file), and the replica's own cluster: served; the refused put was not applied.
  const none = await smr("propose", "shop", "put", "k", "v", "--json");
  assert.equal(none.code, 0, none.stderr);
  assert.equal(JSON.parse(none.stdout).previous, null, "the refused put was not applied");
  const own = await smr("read", "shop", "k", "--json", "--cluster", a);
  assert.equal(own.code, 0, own.stderr);
  assert.equal(JSON.parse(own.stdout).value, "v");
});
