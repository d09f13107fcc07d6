/**
 * Ranges bigger than one round may carry (wor/core/chunks.ts, issue 10): a capture that finds more
 * values than one accept holds finishes them in chunks, and a prepare or read whose reply would not
 * fit an envelope is asked again in halves. Over real acceptor nodes in memory, whose replies go
 * through the gRPC server's reply writer (an oversized reply becomes a `tooLarge` error reply).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LIMITS } from "../../paxos/limits.ts";
import { WIRE_LIMITS } from "../../proto/limits.ts";
import type { WorClient } from "../../wor/node/client.ts";
import { MemoryCluster, bytes } from "./memory-cluster.ts";

/** Write `values` at consecutive addresses from `from` under one capture, in writes within the limits. */
async function fill(client: WorClient, space: string, from: number, values: readonly Uint8Array[], perWrite: number): Promise<void> {
  const c = await client.captureRange(space, from, from + values.length);
  assert.equal(c._tag, "Captured");
  if (c._tag !== "Captured") return;
  for (let k = 0; k < values.length; k += perWrite) {
    const entries = values.slice(k, k + perWrite).map((value, j) => ({ index: from + k + j, value }));
    const w = await client.writeMany(c.capture, entries);
    assert.ok([...w.values()].every((r) => r._tag === "Ok"));
  }
}

describe("ranges bigger than one round", () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start();
  });
  after(() => cluster.close());

  it(`re-capturing a range that holds 50,000 written values (more than ${LIMITS.entriesMax}, one accept's limit) finishes them all`, { timeout: 120_000 }, async () => {
    const { client } = cluster.client({ roundTimeoutMs: 20_000 });
    await client.createSpace("many");
    const values = Array.from({ length: 50_000 }, (_, i) => bytes(`v${i}`));
    const first = await client.captureRange("many", 0, 65_536);
    assert.equal(first._tag, "Captured");
    if (first._tag !== "Captured") return;
    for (let k = 0; k < values.length; k += LIMITS.entriesMax) {
      await client.writeMany(first.capture, values.slice(k, k + LIMITS.entriesMax).map((value, j) => ({ index: k + j, value })));
    }
    const again = await cluster.client({ roundTimeoutMs: 20_000 }).client.captureRange("many", 0, 65_536);
    assert.equal(again._tag, "Captured");
    if (again._tag !== "Captured") return;
    assert.equal(again.written.size, values.length);
    assert.deepEqual(again.written.get(49_999), values[49_999]);
  });

  it("a range whose values exceed an envelope is read and captured in parts, and the finishing accepts stay within the byte limit", { timeout: 120_000 }, async () => {
    const { client } = cluster.client({ roundTimeoutMs: 20_000 });
    await client.createSpace("large");
    // 17 values of 1 MiB: a reply covering them all is larger than an envelope (16 MiB), and
    // finishing them takes two accepts (15 MiB each at most).
    const values = Array.from({ length: 17 }, (_, i) => new Uint8Array(LIMITS.valueBytesMax).fill(i + 1));
    assert.ok(values.length * LIMITS.valueBytesMax > WIRE_LIMITS.envelopeBytesMax);
    await fill(client, "large", 0, values, 9);

    // A fresh client (nothing cached) reads the whole range back.
    const reader = cluster.client({ roundTimeoutMs: 20_000 }).client;
    const read = await reader.readRange("large", 0, 32);
    assert.deepEqual(
      [...read].filter(([, r]) => r._tag === "Written").map(([i]) => i),
      values.map((_, i) => i),
    );
    const r7 = read.get(7)!;
    assert.ok(r7._tag === "Written" && r7.value.every((b) => b === 8));

    // Another captures it: the prepare is asked again in halves, the 17 MiB found are finished in
    // accepts of at most CLIENT_LIMITS.acceptBytesMax.
    const c = await cluster.client({ roundTimeoutMs: 20_000 }).client.captureRange("large", 0, 32);
    assert.equal(c._tag, "Captured");
    if (c._tag !== "Captured") return;
    assert.equal(c.written.size, values.length);
    assert.ok(c.written.get(16)!.every((b) => b === 17));
  });
});
