/**
 * A log sequencer refuses an appender of another cluster (issue: the cluster-id check reached only
 * the acceptors). Two clusters on one machine, an acceptor each (dev-a, dev-b), and `worm log
 * sequencer` of dev-a. A log client of dev-b given dev-a's sequencer fails its append at once
 * (`invalid`, not retried as unavailable), naming the sequencer and both ids; `worm log append`
 * exits 2 with that line. An appender naming no cluster (`--peers`) and one of dev-a are served.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { WormLog, type LogError } from "../../apps/log/node/log-client.ts";
import { RemoteTokenSource } from "../../apps/log/node/remote-tokens.ts";
import { WorClient } from "../../wor/node/client.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { Procs, oneLineError, runWorm, startNode, tempDir } from "./harness.ts";

test("a sequencer of cluster dev-a refuses an appender of dev-b by name; no cluster id, or dev-a, is served", { timeout: 90_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-sequencer-cluster-id-");
  const nodes = await Promise.all(["dev-a", "dev-b"].map((clusterId, k) => startNode(procs, { id: 1, dataDir: join(dir, `a${k}`), clusterId })));
  const [acceptorA, acceptorB] = nodes.map((n) => `127.0.0.1:${n.port}`) as [string, string];
  const [a, b] = [join(dir, "a.json"), join(dir, "b.json")];
  await writeFile(a, JSON.stringify({ clusterId: "dev-a", segmentSize: 64, acceptors: [{ id: 1, address: acceptorA }] }));
  await writeFile(b, JSON.stringify({ clusterId: "dev-b", segmentSize: 64, acceptors: [{ id: 1, address: acceptorB }] }));
  const sequencer = procs.start(["log", "sequencer", "--listen", "127.0.0.1:0", "--cluster", a]);
  const address = (await sequencer.waitForJson((l) => l.event === "listening")).address as string;
  const created = await Promise.all([runWorm(["log", "create", "events", "--cluster", a]), runWorm(["log", "create", "events", "--cluster", b])]);
  for (const c of created) assert.equal(c.code, 0, c.stderr);
  const refusal = `sequencer ${address} belongs to cluster dev-a, not dev-b: check its address and --cluster`;

  // The log client of dev-b: refused at once, by name (not retried as unavailable until its time runs out).
  const client = new WorClient({ transport: grpcTransport({ addresses: [acceptorB], clusterId: "dev-b" }), acceptors: 1, segmentSize: 64, roundTimeoutMs: 4_000, resendMs: 300 });
  const tokens = new RemoteTokenSource({ addresses: [address], clusterId: "dev-b" });
  t.after(() => {
    tokens.close();
    client.close();
  });
  const log = new WormLog({ client, log: "events", tokens, timeoutMs: 30_000 });
  const started = performance.now();
  await assert.rejects(log.append(new TextEncoder().encode("wrong")), (e: LogError) => e.failure.code === "invalid" && e.failure.message === refusal);
  assert.ok(performance.now() - started < 5_000, "failed at once");

  const [wrong, none, own] = await Promise.all([
    runWorm(["log", "append", "events", "--data", "wrong", "--sequencer", address, "--cluster", b, "--timeout", "30000"]),
    runWorm(["log", "append", "events", "--data", "x", "--sequencer", address, "--peers", acceptorA]),
    runWorm(["log", "append", "events", "--data", "y", "--sequencer", address, "--cluster", a]),
  ]);
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.equal(oneLineError(wrong), `worm: invalid: ${refusal}`);
  assert.ok(wrong.ms < 15_000, `took ${wrong.ms} ms`);
  for (const r of [none, own]) assert.equal(r.code, 0, r.stderr);
  // Nothing of dev-b's reached dev-b's log through dev-a's sequencer.
  const tail = await runWorm(["log", "tail", "events", "--json", "--cluster", b]);
  assert.equal(tail.code, 0, tail.stderr);
  assert.equal(JSON.parse(tail.stdout).tail, 0);
});
