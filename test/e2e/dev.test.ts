/**
 * `worm dev`: starts a local cluster in one process, passes its self-check, serves the CLI through
 * the cluster file it wrote, stops on SIGTERM with exit 0, and on a second run reuses the same
 * identities and data; with an acceptor's directory wiped, a third run refuses to start it again.
 */
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Procs, runWorm, tempDir } from "./harness.ts";

test("worm dev starts, self-checks, serves the CLI, and stops cleanly on SIGTERM; a restart reuses its data", async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const dataDir = join(dir, "dev");
  const dev = procs.start(["dev", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 30_000);
  assert.deepEqual(ready.selfCheck, { space: "dev", address: 0, ok: true });
  assert.equal(dev.jsonLines().filter((l) => l.event === "listening").length, 3);
  const clusterFile = ready.clusterFile as string;
  assert.equal(clusterFile, join(dataDir, "cluster.json"));
  const file = JSON.parse(await readFile(clusterFile, "utf8")) as { clusterId: string; acceptors: { id: number; address: string }[] };
  assert.equal(file.clusterId, ready.clusterId);
  assert.deepEqual(file.acceptors.map((a) => a.address), ready.addresses);

  // The CLI works against it through the cluster file.
  const [w, again] = [await runWorm(["wor", "write", "dev", "1", "--value", "hello", "--cluster", clusterFile]), await runWorm(["wor", "write", "dev", "1", "--value", "other", "--cluster", clusterFile, "--json"])];
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stdout, /^written: dev\[1\] = "hello"/);
  assert.equal(again.code, 3, "a second value is refused with exit 3");
  assert.deepEqual(JSON.parse(again.stdout), { space: "dev", address: 1, result: "AlreadyWritten", same: false, value: { hex: "68656c6c6f", text: "hello", bytes: 5 } });
  assert.match(again.stderr, /^worm: not written: dev\[1\] already holds "hello"\n$/);
  const read = await runWorm(["wor", "read", "dev", "0", "--to", "3", "--cluster", clusterFile, "--json"]);
  assert.equal(read.code, 0, read.stderr);
  const results = (JSON.parse(read.stdout) as { results: { address: number; result: string; value?: { text?: string } }[] }).results;
  assert.deepEqual(results.map((r) => r.result), ["Written", "Written", "Unwritten"]);
  assert.equal(results[1]!.value?.text, "hello");
  const inspect = await runWorm(["inspect", "--cluster", clusterFile, "--space", "dev", "--json"]);
  assert.equal(inspect.code, 0, inspect.stderr);
  const doc = JSON.parse(inspect.stdout) as { acceptors: { status?: { spaces: { name: string; highestAccepted: number }[] } }[]; addresses: { byAcceptor: { addresses: { index: number }[] }[] } };
  assert.equal(doc.acceptors.length, 3);
  for (const a of doc.acceptors) assert.equal(a.status?.spaces.find((s) => s.name === "dev")?.highestAccepted, 1);
  for (const a of doc.addresses.byAcceptor) assert.deepEqual(a.addresses.map((x) => x.index), [0, 1]);

  const stopped = await dev.kill("SIGTERM");
  assert.equal(stopped.code, 0, `exit code on SIGTERM; stderr: ${stopped.stderr}`);
  assert.equal(stopped.stderr, "");
  assert.ok(dev.jsonLines().some((l) => l.event === "stopped"));

  // Second run: same cluster id, identities reused (no --init refusal), self-check at the next free address.
  const dev2 = procs.start(["dev", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready2 = await dev2.waitForJson((l) => l.event === "ready", 30_000);
  assert.equal(ready2.clusterId, ready.clusterId);
  assert.deepEqual(ready2.selfCheck, { space: "dev", address: 2, ok: true });
  const stopped2 = await dev2.kill("SIGINT");
  assert.equal(stopped2.code, 0, stopped2.stderr);

  // An acceptor's directory wiped: the cluster exists, so it is not initialised again under its id.
  await rm(join(dataDir, "acceptor-3"), { recursive: true, force: true });
  const dev3 = await runWorm(["dev", "--data-dir", dataDir, "--base-port", "0"]);
  assert.equal(dev3.code, 2, dev3.stderr);
  assert.match(dev3.stderr, /^worm: acceptor 3 of .* has no data directory: a wiped acceptor must not rejoin under its old id.*worm cluster replace/);
});
