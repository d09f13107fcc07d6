/**
 * Captures with a minority of acceptors down while the majority holds mixed promises (issue 8,
 * item 1): acceptor 3 is down while a client makes 40 range captures (acceptors 1 and 2 promise
 * round 40); acceptor 3 comes back and acceptor 1 goes down. A fresh client's capture meets one
 * promise (acceptor 3) and one rejection (acceptor 2). It must climb above the rejecting ballot and
 * capture, whether the down acceptor's link is known down (refused) or merely silent.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MemoryTransport } from "../../wor/node/memory-transport.ts";
import { MemoryCluster } from "./memory-cluster.ts";

const CAPTURES = 40;
const SPAN = 32;
const RANGE = CAPTURES * SPAN; // 1280, as in the issue
const READS = 5;

describe("capture with a minority down and mixed promises", { timeout: 60_000 }, () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start();
    const { client: busy, transport } = cluster.client();
    await busy.createSpace("s");
    transport.disconnect(2);
    for (let k = 0; k < CAPTURES; k++) {
      const c = await busy.captureRange("s", k * SPAN, (k + 1) * SPAN);
      assert.equal(c._tag, "Captured");
    }
  });
  after(() => cluster.close());

  /** Recovering reads of the whole range by fresh clients with acceptor 1 cut off; their latency. */
  async function recoveringReads(cut: (t: MemoryTransport) => void, roundTimeoutMs: number): Promise<number[]> {
    const ms: number[] = [];
    for (let n = 0; n < READS; n++) {
      const { client, transport } = cluster.client({ roundTimeoutMs, resendMs: 50, cacheEntriesMax: 0, proposerId: 1 + n });
      cut(transport);
      const t0 = performance.now();
      const r = await client.readRange("s", 0, RANGE, { recover: true });
      ms.push(performance.now() - t0);
      assert.equal(r.size, RANGE);
      for (const v of r.values()) assert.equal(v._tag, "Unwritten", "settled: the recovery captured the range");
      client.close();
    }
    console.log(`# ${READS} of ${READS} recovering reads of [0, ${RANGE}) succeeded; ms: ${ms.map((x) => x.toFixed(0)).join(", ")}`);
    return ms;
  }

  it("acceptor 1's link is down (refused): every recovering read succeeds at once", async () => {
    const ms = await recoveringReads((t) => t.disconnect(0), 5_000);
    for (const x of ms) assert.ok(x < 1_000, `took ${x.toFixed(0)} ms: decided without waiting out the deadline`);
  });

  it("acceptor 1 is silent (its link looks up): the rejection still decides the round", async () => {
    const ms = await recoveringReads((t) => t.pause(0), 5_000);
    for (const x of ms) assert.ok(x < 1_000, `took ${x.toFixed(0)} ms: a rejection from a quorum's answers decides the round`);
  });
});
