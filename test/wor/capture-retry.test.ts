/**
 * Preempted captures are retried inside the library (issue 9 item 8): a capture that lost to an
 * older, idle ballot goes again above it and succeeds in the same call; under a contender that
 * keeps getting in first it gives up after `preemptRetriesMax` attempts and returns `Preempted`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { CaptureResult } from "../../wor/core/results.ts";
import { Net } from "./core-harness.ts";
import { MemoryCluster } from "./memory-cluster.ts";

describe("capture retries", { timeout: 60_000 }, () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start();
    await cluster.client().client.createSpace("demo");
  });
  after(() => cluster.close());

  it("a capture preempted by an older, idle ballot succeeds in the same call (the README's example, run again)", async () => {
    // Each run of the README example is a fresh client (round 1) capturing the same segment; an
    // earlier run with a higher proposer id left its promise there, idle.
    const earlier = cluster.client({ proposerId: 900 }).client;
    assert.equal((await earlier.captureRange("demo", 0, 4096))._tag, "Captured");
    for (let run = 1; run <= 16; run++) {
      const { client } = cluster.client({ proposerId: run });
      const cap = await client.captureRange("demo", 0, 4096);
      assert.equal(cap._tag, "Captured", `run ${run}: ${cap._tag}`);
      client.close();
    }
  });

  it("against a contender that always gets in first: Preempted after preemptRetriesMax attempts", () => {
    const ATTEMPTS = 4;
    const net = new Net();
    net.bootstrap("s");
    const loser = net.client(1, { preemptRetriesMax: ATTEMPTS });
    const winner = net.client(2);
    const op = loser.capture("s", 0, 8, net.now);
    let prepares = 0;
    let r: ReturnType<typeof net.result<CaptureResult>>;
    for (let step = 0; step < 100 && !(r = net.result(0, op)); step++) {
      // The contender captures first, at a ballot above the loser's next one (same round, higher id).
      const w = winner.capture("s", 0, 8, net.now);
      net.run((m) => m.client === 1);
      assert.equal(net.result(1, w)?.ok, true);
      prepares += net.queue.filter((m) => m.client === 0 && m.request.kind === "prepare").length / 3;
      net.run((m) => m.client === 0, 1); // one wave: the loser's next attempt waits for the next step
      net.advance(50); // wake the loser from its backoff
    }
    assert.ok(r, "the capture finished");
    assert.ok(r.ok);
    assert.equal(r.value._tag, "Preempted");
    assert.equal(prepares, ATTEMPTS, "one prepare per attempt, no more");
    assert.deepEqual(net.violations, []);
  });
});
