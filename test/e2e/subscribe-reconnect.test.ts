/**
 * `worm log subscribe` through a quorum loss: two of three acceptors killed, the subscriber says it
 * lost the log and waits instead of exiting; the acceptors restarted, it says the log answers again
 * and delivers what is appended next, each entry once, in slot order.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Procs, addressesOf, restartNode, runWorm, startCluster, tempDir } from "./harness.ts";

async function until(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  for (const start = Date.now(); !ok(); await sleep(100)) if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting until ${what}`);
}

test("worm log subscribe waits through a quorum loss and resumes where it was", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-subscribe-");
  const clusterId = "subscribe-1";
  const nodes = await startCluster(procs, dir, clusterId);
  const peers = ["--peers", addressesOf(nodes).join(",")];
  const append = async (data: string) => {
    const f = await runWorm(["log", "append", "events", "--embedded-sequencer", "--data", data, "--json", ...peers]);
    assert.equal(f.code, 0, f.stderr);
    return (JSON.parse(f.stdout) as { slot: number }).slot;
  };
  const created = await runWorm(["log", "create", "events", "--segment-size", "16", ...peers]);
  assert.equal(created.code, 0, created.stderr);
  const first = await append("one");

  const sub = procs.start(["log", "subscribe", "events", "--count", "3", "--timeout", "1000", ...peers]);
  await sub.waitForJson((l) => l.slot === first, 30_000);

  // A quorum lost: the subscriber says so and keeps waiting.
  await Promise.all([nodes[1]!, nodes[2]!].map((n) => n.proc.kill("SIGKILL")));
  await until("the subscriber reports the loss", () => /lost events/.test(sub.stderr) || !sub.running);
  assert.ok(sub.running, `the subscriber exited: ${sub.stderr}`);
  assert.match(sub.stderr, new RegExp(`^worm log subscribe: lost events \\(.+\\); resuming at slot ${first + 1} once it answers again\\n$`));
  await sleep(1_500);
  assert.ok(sub.running, "still waiting after more failed reads");

  // The quorum back: it says so, and delivers the next entries.
  await Promise.all([nodes[1]!, nodes[2]!].map((n) => restartNode(procs, n, clusterId)));
  await until("the subscriber reports the recovery", () => /answers again/.test(sub.stderr) || !sub.running);
  const second = await append("two");
  const third = await append("three");
  const done = await sub.exited;
  assert.equal(done.code, 0, done.stderr);
  const lines = sub.jsonLines().map((l) => [l.slot, (l.value as { text: string }).text]);
  assert.deepEqual(lines, [[first, "one"], [second, "two"], [third, "three"]]);
  assert.equal(sub.stderr.split("\n").filter((l) => l.length > 0).length, 2, `one line for the loss, one for the recovery: ${sub.stderr}`);
});
