/**
 * A wiped acceptor must not rejoin under its old id (it forgot its promises and accepted values,
 * so a proposer could assemble a quorum that misses a chosen value). `worm node` refuses an empty
 * data directory without --init (exit 2, with the reason); the other two keep serving, and no
 * address ever gets a second value.
 */
import assert from "node:assert/strict";
import { mkdir, rm } from "node:fs/promises";
import { test } from "node:test";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { Procs, addressesOf, client, oneLineError, startCluster, tempDir, text, untext } from "./harness.ts";

test("a wiped acceptor refuses to start; the cluster keeps serving without a second value anywhere", async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const nodes = await startCluster(procs, dir, "wiped");
  const addresses = addressesOf(nodes);
  const first = client(t, addresses, { proposerId: 5 });
  await first.createSpace("w");
  const written = new Map<number, Uint8Array>();
  for (let i = 0; i < 10; i++) {
    const cap = await first.capture("w", i);
    assert.equal(cap._tag, "Captured");
    if (cap._tag !== "Captured") return;
    const v = text(`first-${i}`);
    assert.equal((await first.write(cap.capture, i, v))._tag, "Ok");
    written.set(i, v);
  }

  // Acceptor 3 loses its disk.
  const victim = nodes[2]!;
  await victim.proc.kill("SIGKILL");
  await rm(victim.dataDir, { recursive: true, force: true });
  await mkdir(victim.dataDir);
  const refused = procs.start(["node", "--id", "3", "--cluster-id", "wiped", "--listen", `127.0.0.1:${victim.port}`, "--data-dir", victim.dataDir]);
  const f = await refused.exited;
  assert.equal(f.code, 2, `a wiped acceptor must refuse to start; stderr: ${f.stderr}`);
  const line = oneLineError(f);
  assert.match(line, /holds no acceptor state/);
  assert.match(line, /must not rejoin under its old id/);
  assert.equal(f.stdout, "", "it never reported listening");

  // The other two serve: new writes land, and other writers at old addresses learn the first value.
  const second = client(t, addresses, { proposerId: 6, roundTimeoutMs: 3_000 });
  for (let i = 10; i < 20; i++) {
    const cap = await second.capture("w", i);
    assert.equal(cap._tag, "Captured", `address ${i}: ${cap._tag}`);
    if (cap._tag !== "Captured") return;
    const v = text(`second-${i}`);
    assert.equal((await second.write(cap.capture, i, v))._tag, "Ok", `write at ${i} with one acceptor gone`);
    written.set(i, v);
  }
  for (let i = 0; i < 10; i++) {
    let cap = await second.capture("w", i);
    for (let n = 0; cap._tag === "Preempted" && n < 10; n++) cap = await second.capture("w", i);
    assert.equal(cap._tag, "Written", `address ${i} holds a chosen value, so a capture must find it (got ${cap._tag})`);
    if (cap._tag === "Written") assert.ok(bytesEqual(cap.value, written.get(i)!), `address ${i}: second value ${untext(cap.value)} after ${untext(written.get(i)!)}`);
  }

  const reader = client(t, addresses, { cache: false, proposerId: 8 });
  const got = await reader.readRange("w", 0, 20);
  for (const [i, v] of written) {
    const r = got.get(i)!;
    assert.ok(r._tag === "Written" && bytesEqual(r.value, v), `address ${i} reads ${r._tag === "Written" ? untext(r.value) : r._tag}, wrote ${untext(v)}`);
  }
});
