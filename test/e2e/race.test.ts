/**
 * Write-once under contention, over real processes: three `worm node` acceptors, several clients
 * (different proposer ids) racing to write their own value at the same addresses. Each address ends
 * with exactly one value: every reader sees the same one, and each writer's Ok / AlreadyWritten
 * agrees with it (docs/ARCHITECTURE.md §3.1).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import type { WorClient } from "../../wor/node/client.ts";
import { Procs, addressesOf, client, startCluster, tempDir, text, untext } from "./harness.ts";

type Outcome = { kind: "ok" } | { kind: "already"; value: Uint8Array } | { kind: "unknown" } | { kind: "gaveUp" };

/** Capture (retrying preemptions above the higher ballot) and write; the outcome as the writer saw it. */
async function writeOnce(c: WorClient, space: string, index: number, value: Uint8Array): Promise<Outcome> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const cap = await c.capture(space, index);
    if (cap._tag === "Written") return { kind: "already", value: cap.value };
    if (cap._tag === "Preempted") {
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      continue;
    }
    assert.equal(cap._tag, "Captured");
    if (cap._tag !== "Captured") return { kind: "gaveUp" };
    const w = await c.write(cap.capture, index, value);
    if (w._tag === "Ok") return { kind: "ok" };
    if (w._tag === "AlreadyWritten") return { kind: "already", value: w.value };
    if (w._tag === "Preempted") return { kind: "unknown" };
    assert.fail(`unexpected ${w._tag}`);
  }
  return { kind: "gaveUp" };
}

test("racing writers on the same addresses choose exactly one value each", async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const nodes = await startCluster(procs, dir, "race");
  const addresses = addressesOf(nodes);
  const writers = [11, 22, 33, 44].map((id) => client(t, addresses, { proposerId: id }));
  await writers[0]!.createSpace("race");

  const ADDRESSES = 24;
  const outcomes = await Promise.all(
    writers.map(async (w, k) => {
      const mine: Outcome[] = [];
      // Each writer walks the addresses from a different start so collisions happen at every phase.
      for (let n = 0; n < ADDRESSES; n++) {
        const i = (n + k * 5) % ADDRESSES;
        mine[i] = await writeOnce(w, "race", i, text(`writer-${k}@${i}`));
      }
      return mine;
    }),
  );

  // Two fresh readers with no cache; --recover settles anything a preempted writer left pending.
  const readers = [client(t, addresses, { cache: false, proposerId: 901 }), client(t, addresses, { cache: false, proposerId: 902 })];
  const [a, b] = await Promise.all(readers.map((r) => r.readRange("race", 0, ADDRESSES, { recover: true })));
  let oks = 0;
  let contested = 0;
  for (let i = 0; i < ADDRESSES; i++) {
    const ra = a!.get(i)!;
    const rb = b!.get(i)!;
    assert.equal(ra._tag, "Written", `address ${i}: ${ra._tag}`);
    assert.equal(rb._tag, "Written", `address ${i}: ${rb._tag}`);
    if (ra._tag !== "Written" || rb._tag !== "Written") continue;
    assert.ok(bytesEqual(ra.value, rb.value), `readers disagree at ${i}: ${untext(ra.value)} vs ${untext(rb.value)}`);
    const chosen = untext(ra.value);
    assert.match(chosen, new RegExp(`^writer-[0-3]@${i}$`));
    const winners = outcomes.filter((o) => o[i]!.kind === "ok").length;
    assert.ok(winners <= 1, `address ${i}: ${winners} writers were told Ok`);
    outcomes.forEach((o, k) => {
      const out = o[i]!;
      if (out.kind === "ok") {
        oks++;
        assert.equal(chosen, `writer-${k}@${i}`, `writer ${k} was told Ok at ${i} but ${chosen} is chosen`);
      } else if (out.kind === "already") {
        contested++;
        assert.equal(untext(out.value), chosen, `writer ${k} was told AlreadyWritten(${untext(out.value)}) at ${i} but ${chosen} is chosen`);
      }
      assert.notEqual(out.kind, "gaveUp", `writer ${k} never got an outcome at ${i}`);
    });
    // A third read through a writer's (caching) client agrees as well.
    const again = await writers[i % writers.length]!.read("race", i);
    assert.ok(again._tag === "Written" && bytesEqual(again.value, ra.value), `writer's read at ${i} disagrees`);
  }
  assert.ok(oks > 0, "some writer won somewhere");
  assert.ok(contested > 0, "writers actually collided");
});
