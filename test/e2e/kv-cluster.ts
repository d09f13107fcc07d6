/** The KV e2e tests' cluster (test/e2e/kv.test.ts, kv-cli.test.ts): three acceptor processes, a
 *  cluster file, `worm kv create` of two partitions split at "m", and a `worm kv serve` node for each. */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { Procs, type Worm, addressesOf, runWorm, startCluster, tempDir } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

/** `worm kv VERB … --cluster FILE` as a user runs it (`kv`), and the same that must exit 0, its stdout (`ok`). */
export function kvVerbs(cluster: string) {
  const kv = (...args: string[]) => runWorm(["kv", ...args, "--cluster", cluster]);
  const ok = async (...args: string[]) => {
    const r = await kv(...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  return { kv, ok };
}

export /** Acceptors, a cluster file, a KV of two partitions split at "m", and a node for each (none
 *  with `serveEach: false`: the test serves them its own way). */
async function kvCluster(t: TestContext, id: string, o: { readonly serveEach?: boolean } = {}) {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-kv-");
  const acceptors = await startCluster(procs, dir, id, 3);
  const cluster = join(dir, "cluster.json");
  await writeFile(cluster, JSON.stringify({ clusterId: id, segmentSize: 64, acceptors: acceptors.map((n, k) => ({ id: n.id, address: addressesOf(acceptors)[k] })) }));
  const nodes = await stableAddresses(2);
  const created = await runWorm(["kv", "create", "--nodes", nodes.join(","), "--split", "m", "--cluster", cluster]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^created KV kv, 2 partitions: 0 \[start, "m"\) at 127\.0\.0\.1:\d+, 1 \["m", end\) at 127\.0\.0\.1:\d+ \(epoch 0\)/);
  /** Every node process started, in order, with its partition: their traces (apps/kv/node/kv-trace.ts). */
  const lives: { readonly partition: number; readonly proc: Worm }[] = [];
  const serve = async (k: number): Promise<Worm> => {
    const p = procs.start(["kv", "serve", "--partition", String(k), "--data-dir", join(dir, `node${k}`), "--cluster", cluster], { env: { WORM_KV_TRACE: "1" } });
    lives.push({ partition: k, proc: p });
    const line = await p.waitForJson((l) => l.event === "listening", 30_000);
    assert.equal(line.address, nodes[k]);
    return p;
  };
  /** Both partitions' nodes in one process (`worm kv serve` of both, over one client). */
  const serveBoth = async (): Promise<Worm> => {
    const both = [0, 1].flatMap((k) => ["--partition", String(k), "--data-dir", join(dir, `node${k}`)]);
    const p = procs.start(["kv", "serve", ...both, "--cluster", cluster], { env: { WORM_KV_TRACE: "1" } });
    for (const k of [0, 1]) lives.push({ partition: k, proc: p });
    const lines = await Promise.all([0, 1].map((k) => p.waitForJson((l) => l.event === "listening" && l.partition === k, 30_000)));
    assert.deepEqual(
      lines.map((l) => l.address),
      nodes,
    );
    return p;
  };
  const served = o.serveEach === false ? [] : [await serve(0), await serve(1)];
  return { procs, dir, cluster, acceptors, nodes, serve, serveBoth, served, lives, ...kvVerbs(cluster) };
}

