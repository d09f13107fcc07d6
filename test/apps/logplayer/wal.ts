/** The fixture the node tests of LogPlayer share: a temp directory, acceptors in memory, and a log
 *  `wal` with an embedded sequencer to append to; all of it gone after the test. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { MemoryCluster } from "../../wor/memory-cluster.ts";

export async function walFixture(t: TestContext, name: string): Promise<{ readonly dir: string; readonly client: WorClient; readonly log: WormLog }> {
  const dir = await mkdtemp(join(tmpdir(), `worm-lp-${name}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cluster = await MemoryCluster.start();
  t.after(() => cluster.close());
  const { client } = cluster.client({ segmentSize: 64 });
  await WormLog.create(client, "wal");
  const sequencer = new SequencerNode({ client, owner: "appender" });
  t.after(() => sequencer.close());
  return { dir, client, log: new WormLog({ client, log: "wal", tokens: sequencer }) };
}
