/**
 * The tail is linearizable across sequencer takeovers (apps/log/core/tail-check.ts): over an
 * in-memory cluster of real acceptors, a sequencer another one recovered over, idle since, must
 * not report its old tail: every append acknowledged before a tail query lies below its answer,
 * so a read up to the tail sees it. Embedded (single-writer) processes fence each other; a
 * sequencer serving at an address stands by for the one that took over and redirects the query.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import { MemoryCluster, bytes } from "../../wor/memory-cluster.ts";

const SEGMENT = 16;

describe("a tail obtained after another sequencer took the log over", { timeout: 30_000 }, () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start(3);
  });
  after(() => cluster.close());

  const sequencer = (owner: string, address?: string) => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    return { client, seq: new SequencerNode({ client, owner, ...(address !== undefined ? { address } : {}), config: { retryMs: 5 } }) };
  };

  it("covers the other one's appends: a single-writer process that was fenced recovers before it answers", async () => {
    await WormLog.create(cluster.client().client, "duel", { segmentSize: SEGMENT });
    const a = sequencer("a");
    const b = sequencer("b");
    const logA = new WormLog({ client: a.client, log: "duel", tokens: a.seq, read: { holeTimeoutMs: 50, pollMs: 5 } });
    const logB = new WormLog({ client: b.client, log: "duel", tokens: b.seq, read: { holeTimeoutMs: 50, pollMs: 5 } });
    try {
      const first = await logA.append(bytes("a1"), { key: { client: "a", seq: 1 } });
      assert.equal(await logA.tail(), first.slot + 1);
      // B recovers over A (sealing A's segments, the one A claimed ahead too) and appends above them.
      const second = await logB.append(bytes("b1"), { key: { client: "b", seq: 1 } });
      assert.equal(second.slot, 2 * SEGMENT, "B appended above A's two segments");
      const tail = await logA.tail();
      assert.ok(tail > second.slot, `A's tail ${tail} is above B's acknowledged append at ${second.slot}`);
      const got = await logA.readRange(0, tail);
      const entries = got.filter((s) => s.kind === "entry").map((s) => s.slot);
      assert.deepEqual(entries, [first.slot, second.slot]);
    } finally {
      a.seq.close();
      b.seq.close();
    }
  });

  it("is redirected by the sequencer taken over from, once it finds the other's segment above its own", async () => {
    await WormLog.create(cluster.client().client, "standby", { segmentSize: SEGMENT });
    const a = sequencer("a", "10.0.0.1:7000");
    const b = sequencer("b", "10.0.0.2:7000");
    try {
      const first = await a.seq.grant("standby", { asks: [{ key: { client: "x", seq: 1 }, streams: [] }] });
      assert.ok(first.ok);
      // A client gave up on A: B takes over (a takeover hint) and grants above A's segments.
      const taken = await b.seq.grant("standby", { asks: [{ key: { client: "y", seq: 1 }, streams: [] }], takeover: "10.0.0.1:7000" });
      assert.ok(taken.ok, JSON.stringify(taken));
      const slot = taken.value.tokens[0]!.slot;
      assert.equal(slot, 2 * SEGMENT, "B granted above A's two segments");
      const q = await a.seq.grant("standby", { asks: [] });
      assert.ok(!q.ok && q.failure.code === "redirect", `A answered its tail query: ${JSON.stringify(q)}`);
      assert.equal(q.failure.active?.address, "10.0.0.2:7000");
      const tail = await b.seq.grant("standby", { asks: [] });
      assert.ok(tail.ok && tail.value.tail > slot);
      assert.equal(a.seq.status()[0]!.phase, "standby");
    } finally {
      a.seq.close();
      b.seq.close();
    }
  });
});
