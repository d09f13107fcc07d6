/**
 * A sequencer that gives way (apps/log/core/standby.ts `yieldsTo`): over real acceptors, an old
 * writer that finds a newer one's segment last is deposed instead of recovering over it, so the two
 * do not take the log from each other; without the rule they do. A writer never gives way to an
 * older one or to another incarnation of its own rank.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SequencerConfig } from "../../../apps/log/core/sequencer.ts";
import { LogError, WormLog } from "../../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import { MemoryCluster, bytes } from "../../wor/memory-cluster.ts";

/** Writers named `w<rank>-<n>`, each giving way to a higher rank. */
const ranked = (rank: number) => (owner: string) => Number(/^w(\d+)-/.exec(owner)?.[1] ?? -1) > rank;

describe("a sequencer gives way to the rivals its rule names", () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start(3);
  });
  after(() => cluster.close());

  let n = 0;
  const writer = (log: string, rank: number, config: Partial<SequencerConfig> = {}) => {
    const { client } = cluster.client({ segmentSize: 16 });
    const seq = new SequencerNode({ client, owner: `w${rank}-${++n}`, config: { retryMs: 5, askTimeoutMs: 500, ...config } });
    return { seq, log: new WormLog({ client, log, tokens: seq, timeoutMs: 3_000 }), phase: () => seq.status()[0]?.phase, recoveries: () => seq.status()[0]?.recoveries ?? 0 };
  };
  const fails = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof LogError, String(e));
      return e.message;
    }
    assert.fail("the append succeeded");
  };

  it("an old writer that finds a newer one's segment last is deposed; the newer one keeps the log", async () => {
    await WormLog.create(cluster.client().client, "give");
    const old = writer("give", 0, { yieldsTo: ranked(0) });
    const newer = writer("give", 1, { yieldsTo: ranked(1) });
    await old.log.append(bytes("a"));
    const b = await newer.log.append(bytes("b"));
    // The old writer's token is in a segment the newer one sealed: it would recover, finds the
    // newer one's segment last, and gives way.
    assert.match(await fails(old.log.append(bytes("c"))), /deposed|gives way/);
    assert.equal(old.phase(), "deposed");
    const d = await newer.log.append(bytes("d"));
    assert.ok(d.slot === b.slot + 1, `the newer writer went on in its segment (${b.slot} then ${d.slot})`);
    assert.equal(newer.recoveries(), 1, "the newer writer recovered once, at its start");
    assert.equal(newer.phase(), "ready");
    old.seq.close();
    newer.seq.close();
  });

  it("without the rule the old writer recovers over the newer one, and each takes the log back in turn", async () => {
    await WormLog.create(cluster.client().client, "fight");
    const old = writer("fight", 0);
    const newer = writer("fight", 1);
    await old.log.append(bytes("a"));
    await newer.log.append(bytes("b"));
    await old.log.append(bytes("c"));
    await newer.log.append(bytes("d"));
    assert.ok(old.recoveries() >= 2 && newer.recoveries() >= 2, `recoveries: old ${old.recoveries()}, newer ${newer.recoveries()}`);
    old.seq.close();
    newer.seq.close();
  });

  it("a writer does not give way to an older one, nor to another incarnation of its rank", async () => {
    await WormLog.create(cluster.client().client, "same");
    const newer = writer("same", 1, { yieldsTo: ranked(1) });
    const old = writer("same", 0, { yieldsTo: ranked(0) });
    await newer.log.append(bytes("a"));
    // An older writer starting late gives way at once (the newer one's segment is last).
    assert.match(await fails(old.log.append(bytes("b"))), /deposed|gives way/);
    const again = writer("same", 1, { yieldsTo: ranked(1) });
    await again.log.append(bytes("c"));
    // The first incarnation of rank 1 is fenced by the second and recovers over it: equals fence.
    await newer.log.append(bytes("d"));
    assert.equal(newer.phase(), "ready");
    assert.ok(newer.recoveries() >= 2);
    for (const w of [newer, old, again]) w.seq.close();
  });
});
