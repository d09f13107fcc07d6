/**
 * The example KV in a cluster whose file names mutual TLS and a token (docs/OPERATIONS.md), as a
 * user runs it: one acceptor, `worm kv create` and `worm kv serve --cluster F` (served with the
 * cluster's certificate and token; its player reaches its own shard with them), the verbs and a
 * watch with the cluster file. The node refuses a plaintext client, another token and another
 * cluster id, at once, saying which.
 */
import assert from "node:assert/strict";
import { readFile, } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { KvClient } from "../../apps/kv/node/kv-client.ts";
import { readMap } from "../../apps/kv/node/kv-map.ts";
import { WorClient } from "../../wor/node/client.ts";
import type { ClientSecurity } from "../../wor/node/credentials.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { nodeCertsOrSkip, startTlsCluster } from "./certs.ts";
import { Procs, runWorm, tempDir } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

test("worm kv with a cluster file's mutual TLS and token: create, serve, put, get, watch, status, inspect; a client without them refused", { timeout: 150_000 }, async (t) => {
  const dir = await tempDir(t, "worm-kv-tls-");
  if (!(await nodeCertsOrSkip(t, join(dir, "tls")))) return;
  const procs = new Procs(t);
  const [acceptor, node] = (await stableAddresses(2)) as [string, string];
  const { cluster, token } = await startTlsCluster(procs, dir, "kv-tls", [acceptor]);
  const created = await runWorm(["kv", "create", "--nodes", node, ...cluster]);
  assert.equal(created.code, 0, created.stderr);
  await procs.start(["kv", "serve", "--partition", "0", "--data-dir", join(dir, "kv0"), ...cluster]).waitForJson((l) => l.event === "listening", 60_000);

  const kv = (...args: string[]) => runWorm(["kv", ...args, ...cluster]);
  const put = await kv("put", "greeting", "hello");
  assert.equal(put.code, 0, put.stderr);
  assert.equal((await kv("get", "greeting")).stdout, "hello\n");
  const watch = procs.start(["kv", "watch", "--prefix", "greet", "--from-revision", "1", "--json", ...cluster]);
  await watch.waitForJson((l) => l.key === "greeting" && l.value === "hello");
  await watch.kill("SIGINT");
  const status = JSON.parse((await kv("status", "--json")).stdout) as { partitions: { status: { revision: number; keys: number } }[] };
  assert.deepEqual(status.partitions.map((p) => [p.status.revision, p.status.keys]), [[1, 1]]);
  const inspected = JSON.parse((await runWorm(["inspect", "--json", ...cluster])).stdout) as { kvs: { partitions: { revision: number; error?: string }[] }[] };
  assert.deepEqual(inspected.kvs[0]!.partitions.map((p) => [p.revision, p.error]), [[1, undefined]]);

  // The node itself refuses a client without the cluster's TLS, or with another token, at once,
  // saying why (the map read with the cluster's credentials; the node reached with others).
  const files = Object.fromEntries(await Promise.all(["ca.pem", "node.pem", "node.key"].map(async (f) => [f, new Uint8Array(await readFile(join(dir, "tls", f)))] as const)));
  const tls = { ca: files["ca.pem"]!, cert: files["node.pem"]!, key: files["node.key"]! };
  const worClient = new WorClient({ transport: grpcTransport({ addresses: [acceptor], tls, token, clusterId: "kv-tls" }), acceptors: 1, segmentSize: 64 });
  t.after(() => worClient.close());
  const map = await readMap(worClient, "kv");
  const askWith = async (security: ClientSecurity) => {
    const c = new KvClient({ ...security, map, attemptTimeoutMs: 3_000, retryForMs: 0 });
    try {
      return await c.get("greeting");
    } finally {
      c.close();
    }
  };
  assert.equal((await askWith({ tls, token, clusterId: "kv-tls" })).ok, true, "with the cluster's TLS and token: served");
  const plain = await askWith({ token, clusterId: "kv-tls" });
  assert.ok(!plain.ok);
  assert.match(plain.failure.message, /serves TLS|plaintext/i);
  const wrong = await askWith({ tls, token: "not-the-token", clusterId: "kv-tls" });
  assert.ok(!wrong.ok);
  assert.match(wrong.failure.message, /token/i);
  const other = await askWith({ tls, token, clusterId: "another" });
  assert.ok(!other.ok);
  assert.match(other.failure.message, /belongs to cluster kv-tls, not another/);
});
