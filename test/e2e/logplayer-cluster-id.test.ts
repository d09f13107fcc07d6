/**
 * A LogPlayer shard refuses a client of another cluster (issue: the cluster-id check reached only
 * the acceptors). `worm shard serve` with the cluster file of dev-a; `worm shard read` with one of
 * dev-b exits 2 at once with one line naming the shard and both ids, and a player's delivery stream
 * of dev-b is refused for good (the player stops, as for a refused token). A reader naming no
 * cluster (no cluster file) and one naming dev-a are served.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ShardLinks } from "../../apps/logplayer/node/shard-link.ts";
import { Procs, oneLineError, runWorm, tempDir } from "./harness.ts";

test("a shard of cluster dev-a refuses a reader and a player of dev-b by name; no cluster id, or dev-a, is served", { timeout: 60_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-shard-cluster-id-");
  // The shard reads only its cluster file's id (and TLS and token, none here): no acceptor is reached.
  const acceptors = [{ id: 1, address: "127.0.0.1:7100" }];
  const [a, b] = [join(dir, "a.json"), join(dir, "b.json")];
  await writeFile(a, JSON.stringify({ clusterId: "dev-a", segmentSize: 64, acceptors }));
  await writeFile(b, JSON.stringify({ clusterId: "dev-b", segmentSize: 64, acceptors }));
  const shard = procs.start(["shard", "serve", "--dir", join(dir, "s0"), "--listen", "127.0.0.1:0", "--cluster", a]);
  const address = `127.0.0.1:${(await shard.waitForJson((l) => l.event === "listening")).port as number}`;
  const refusal = `shard ${address} belongs to cluster dev-a, not dev-b: check its address and --cluster`;

  const [wrong, none, own] = await Promise.all([
    runWorm(["shard", "read", address, "--cluster", b]),
    runWorm(["shard", "read", address, "--json"]),
    runWorm(["shard", "read", address, "--json", "--cluster", a]),
  ]);
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.equal(oneLineError(wrong), `worm: ${refusal}`);
  for (const r of [none, own]) {
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { shard: address, applied: -1, rows: [] });
  }

  // A player's link to the shard: its delivery stream is refused, and said final (the player stops).
  const links = new ShardLinks([address], { clusterId: "dev-b" });
  t.after(() => links.close());
  const down = await new Promise<{ why: string; refused: boolean }>((resolve) => {
    links.open(0, { reply: () => assert.fail("the shard answered a player of another cluster"), down: (why, refused) => resolve({ why, refused }) });
  });
  assert.deepEqual(down, { why: refusal, refused: true });
});
