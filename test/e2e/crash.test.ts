/**
 * Durability over real crashes (docs/ARCHITECTURE.md §3.2: an acknowledged write survives any minority of
 * crashes). A writer keeps writing while acceptors are SIGKILLed one at a time — each restarted on
 * its data directory before the next is killed — and every write that was acknowledged Ok reads
 * back identically afterwards, from a fresh client with the cache off. Twice: with the acceptors'
 * default address cache, and with one of a few blocks, so that they evict and read blocks back
 * from disk all the time (issue 15).
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { WorError } from "../../wor/node/client.ts";
import { Procs, addressesOf, client, restartNode, startCluster, tempDir, text, untext } from "./harness.ts";

/** Wait until `cond` holds, checking every 50 ms, for at most `ms` (the assertions after say what is missing). */
async function until(cond: () => boolean, ms: number): Promise<void> {
  for (const end = performance.now() + ms; !cond() && performance.now() < end; ) await sleep(50);
}

/** The scenario, with `args` for every `worm node`. */
async function killEachInTurn(t: TestContext, args: readonly string[]): Promise<void> {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const nodes = await startCluster(procs, dir, "crash", 3, args);
  const addresses = addressesOf(nodes);
  const writer = client(t, addresses, { proposerId: 7 });
  await writer.createSpace("load");

  const acked = new Map<number, Uint8Array>();
  const ackedWhileDown = [0, 0, 0];
  let down: number | undefined;
  let stop = false;
  let next = 0;
  let failures = 0;
  // Two writers' worth of load from one client: capture a segment once, then one round trip per write.
  const load = (async () => {
    const SEGMENT = 64;
    while (!stop) {
      const from = next;
      next += SEGMENT;
      let cap: Awaited<ReturnType<typeof writer.captureRange>>;
      try {
        cap = await writer.captureRange("load", from, from + SEGMENT);
      } catch (e) {
        if (!(e instanceof WorError)) throw e;
        failures++;
        continue;
      }
      if (cap._tag !== "Captured") continue;
      for (let i = from; i < from + SEGMENT && !stop; i += 2) {
        const batch = [i, i + 1].map((index) => ({ index, value: text(`v${index}-${Math.random().toString(36).slice(2)}`) }));
        try {
          const results = await writer.writeMany(cap.capture, batch);
          for (const e of batch) {
            if (results.get(e.index)?._tag === "Ok") {
              acked.set(e.index, e.value);
              if (down !== undefined) ackedWhileDown[down]!++;
            }
          }
        } catch (err) {
          // A timeout leaves these writes' outcome unknown: they are not acknowledged, so not checked.
          if (!(err instanceof WorError)) throw err;
          failures++;
        }
      }
    }
  })();

  try {
    await sleep(400);
    for (let k = 0; k < nodes.length; k++) {
      const before = acked.size;
      down = k;
      const killed = await nodes[k]!.proc.kill("SIGKILL");
      assert.equal(killed.signal, "SIGKILL");
      // Writes continue on the other two: wait for some (a loaded machine may be slow to get there).
      await until(() => ackedWhileDown[k]! >= 20, 15_000);
      down = undefined;
      await restartNode(procs, nodes[k]!, "crash", args);
      // Let the writer's link to it reconnect (backoff ≤ 1 s) before the next acceptor goes down.
      await sleep(1_200);
      const after = acked.size;
      await until(() => acked.size > after, 15_000);
      assert.ok(acked.size > before, `no write was acknowledged around the crash of acceptor ${k + 1}`);
    }
  } finally {
    stop = true;
    await load;
  }
  assert.ok(acked.size > 50, `only ${acked.size} writes acknowledged`);
  assert.ok(
    ackedWhileDown.every((n) => n > 0),
    `writes acknowledged while each acceptor was down: ${ackedWhileDown.join(", ")}`,
  );

  // Every acceptor is back. A fresh client with no cache reads every acknowledged address.
  const reader = client(t, addresses, { cache: false, proposerId: 99 });
  const indexes = [...acked.keys()].sort((a, b) => a - b);
  for (let at = 0; at < indexes.length; at += 256) {
    const chunk = indexes.slice(at, at + 256);
    const from = chunk[0]!;
    const to = chunk[chunk.length - 1]! + 1;
    const got = await reader.readRange("load", from, to);
    for (const i of chunk) {
      const r = got.get(i)!;
      assert.equal(r._tag, "Written", `acknowledged address ${i} reads ${r._tag}`);
      if (r._tag === "Written") assert.ok(bytesEqual(r.value, acked.get(i)!), `address ${i}: acked ${untext(acked.get(i)!)}, read ${untext(r.value)}`);
    }
  }
  t.diagnostic(`acknowledged ${acked.size} writes (${ackedWhileDown.join("/")} while acceptor 1/2/3 was down); ${failures} rounds failed or timed out`);
}

test("every acknowledged write survives SIGKILL of each acceptor in turn", (t) => killEachInTurn(t, []));

test("every acknowledged write survives SIGKILL of each acceptor in turn, with acceptors caching a few blocks of addresses", (t) =>
  killEachInTurn(t, ["--cache-bytes-max", "20000"]));
