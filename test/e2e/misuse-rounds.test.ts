/**
 * Rounds against a cluster short of acceptors, with real processes (issue 9 item 5, issue 8 item 1):
 *  - 2 of 3 acceptors stopped (connections refused): every `worm wor|space|inspect` verb exits 1 at
 *    once, long before its --timeout, in one line naming who answered and who was unreachable;
 *  - 2 of 3 acceptors paused (SIGSTOP: connected, silent): exit 1 within the --timeout, naming the
 *    acceptors that did not answer;
 *  - 1 of 3 stopped while the other two hold different promises (acceptor 3 was down during 40
 *    range captures): `worm wor read s 0 --to 1280 --recover` settles the range.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { type NodeHandle, Procs, addressesOf, client, oneLineError, restartNode, runWorm, startCluster, tempDir } from "./harness.ts";

async function cluster(t: Parameters<typeof tempDir>[0], id: string): Promise<{ nodes: NodeHandle[]; file: string; procs: Procs }> {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const nodes = await startCluster(procs, dir, id);
  const file = join(dir, "cluster.json");
  await writeFile(file, JSON.stringify({ clusterId: id, segmentSize: 64, acceptors: nodes.map((n) => ({ id: n.id, address: `127.0.0.1:${n.port}` })) }));
  return { nodes, file, procs };
}

/** Run `f` over `items`, `n` at a time (worm processes are CPU-bound while they start). */
async function pool<T>(items: readonly T[], n: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

/** Every client verb, each against a fresh address or space so none is answered from a cache. */
const VERBS: readonly (readonly string[])[] = [
  ["wor", "read", "s", "0"],
  ["wor", "read", "s", "0", "--to", "8", "--recover"],
  ["wor", "capture", "s", "1"],
  ["wor", "write", "s", "2", "--value", "x"],
  ["wor", "unsafe-write", "s", "3", "--value", "x"],
  ["wor", "trim", "s", "1"],
  ["wor", "alloc", "s", "4", "--value", "m"],
  ["wor", "check", "s", "0"],
  ["space", "create", "t"],
  ["inspect"],
  ["inspect", "--space", "s"],
];

test("2 of 3 acceptors stopped: every verb exits 1 at once, naming who answered and who was unreachable", { timeout: 120_000 }, async (t) => {
  const { nodes, file } = await cluster(t, "refused");
  assert.equal((await runWorm(["space", "create", "s", "--cluster", file])).code, 0);
  await Promise.all([nodes[0]!.proc.kill("SIGTERM"), nodes[2]!.proc.kill("SIGTERM")]);
  const up = `acceptor 2 \\(127\\.0\\.0\\.1:${nodes[1]!.port}\\)`;
  await pool(VERBS, 3, async (verb) => {
    // A long --timeout: refused connections must fail the round long before it.
    const f = await runWorm([...verb, "--cluster", file, "--timeout", "30000"], { deadlineMs: 60_000 });
    const what = verb.join(" ");
    assert.equal(f.code, 1, `${what}: ${f.stderr}`);
    const line = oneLineError(f);
    assert.match(line, /no quorum/, what);
    const refused = /((?:acceptor \d \([^)]*\)(?:, )?)+) unreachable \(connection refused\)/.exec(line)?.[1] ?? "";
    for (const k of [0, 2]) assert.ok(refused.includes(`acceptor ${k + 1} (127.0.0.1:${nodes[k]!.port})`), `${what}: ${line}`);
    assert.match(line, /\d of 3 acceptors answered/, what);
    if (!verb.includes("inspect")) assert.match(line, new RegExp(`${up} had not answered yet|1 of 3 acceptors answered`), `${what}: ${line}`);
    assert.ok(f.ms < 15_000, `${what} took ${f.ms.toFixed(0)} ms with --timeout 30000: refused connections fail at once`);
  });
});

test("2 of 3 acceptors paused (connected, silent): every wor verb exits 1 within its --timeout", { timeout: 120_000 }, async (t) => {
  const { nodes, file } = await cluster(t, "paused");
  assert.equal((await runWorm(["space", "create", "s", "--cluster", file])).code, 0);
  for (const k of [1, 2]) nodes[k]!.proc.child.kill("SIGSTOP");
  t.after(() => {
    for (const k of [1, 2]) nodes[k]!.proc.child.kill("SIGCONT");
  });
  const TIMEOUT = 1_500;
  await pool(VERBS.filter((v) => v[0] !== "inspect").slice(0, 4), 2, async (verb) => {
    const f = await runWorm([...verb, "--cluster", file, "--timeout", String(TIMEOUT)], { deadlineMs: 60_000 });
    const what = verb.join(" ");
    assert.equal(f.code, 1, `${what}: ${f.stderr}`);
    const line = oneLineError(f);
    assert.match(line, /no quorum for .*: 1 of 3 acceptors answered \(1 (reported|promised)\)/, `${what}: ${line}`);
    assert.match(line, new RegExp(`acceptor 2 \\(127\\.0\\.0\\.1:${nodes[1]!.port}\\), acceptor 3 \\(127\\.0\\.0\\.1:${nodes[2]!.port}\\) did not answer within ${TIMEOUT} ms`), `${what}: ${line}`);
    // One round's timeout, plus the process's start (seconds on a loaded machine), not several rounds.
    assert.ok(f.ms < TIMEOUT + 8_000, `${what} took ${f.ms.toFixed(0)} ms`);
  });
});

test("acceptor 1 down, acceptors 2 and 3 holding different promises: a recovering read settles the range", { timeout: 120_000 }, async (t) => {
  const { nodes, file, procs } = await cluster(t, "mixed");
  assert.equal((await runWorm(["space", "create", "s", "--cluster", file])).code, 0);
  // Acceptor 3 is down while a client makes 40 range captures: acceptors 1 and 2 promise round 40.
  await nodes[2]!.proc.kill("SIGTERM");
  const busy = client(t, addressesOf(nodes));
  for (let k = 0; k < 40; k++) assert.equal((await busy.captureRange("s", k * 32, (k + 1) * 32))._tag, "Captured");
  busy.close();
  await restartNode(procs, nodes[2]!, "mixed");
  await nodes[0]!.proc.kill("SIGTERM");
  const f = await runWorm(["wor", "read", "s", "0", "--to", "1280", "--recover", "--json", "--cluster", file, "--timeout", "5000"], { deadlineMs: 60_000 });
  assert.equal(f.code, 0, f.stderr);
  const out = JSON.parse(f.stdout) as { results: { result: string }[] };
  assert.equal(out.results.length, 1280);
  assert.ok(
    out.results.every((r) => r.result === "Unwritten"),
    "every address settled",
  );
});
