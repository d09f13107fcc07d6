/**
 * An SMR client finds the leader after an election: replicas it tried while no leader was known
 * answered "no leader known yet", which is not a sign that they are down, so when a follower later
 * names one of them as the leader the client moves there at once (it used to distrust the hint for
 * `staleHintMs` and then not ask again for `leaderAskMs`: every command took a follower's extra hop).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { mapMachine } from "../../../apps/smr/core/map-machine.ts";
import { ReplicaNode } from "../../../apps/smr/node/replica-node.ts";
import { startSmrServer } from "../../../apps/smr/node/server.ts";
import { SmrClient } from "../../../apps/smr/node/smr-client.ts";
import { delay } from "../../../wor/node/driver.ts";
import { stableAddresses } from "../../ports.ts";
import { MemoryCluster, bytes } from "../../wor/memory-cluster.ts";

const SMR = "orders";

test("clients that met the election at every replica move to the leader a follower names", { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "smr-client-leader-"));
  const cluster = await MemoryCluster.start();
  t.after(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });
  await cluster.client().client.createSpace(SMR, { kind: "smr", segmentSize: 64 });
  const addresses = await stableAddresses(3);
  const nodes: ReplicaNode[] = [];
  for (const a of addresses) {
    const node = await ReplicaNode.start({
      client: cluster.client({ roundTimeoutMs: 1_000 }).client,
      smr: SMR,
      id: a,
      peers: addresses,
      machine: mapMachine,
      dataDir: join(dir, a.replace(":", "_")),
      config: { electionTimeoutMs: 600, heartbeatMs: 50 },
    });
    const server = await startSmrServer({ node, smr: SMR, port: Number(a.split(":")[1]) });
    t.after(async () => {
      await server.close();
      await node.close();
    });
    nodes.push(node);
  }
  // Started before any replica leads: each client goes round the replicas, answered "no leader known yet".
  const clients = [0, 1, 2, 0, 1, 2].map((i) => new SmrClient(mapMachine, { smr: SMR, replicas: [...addresses.slice(i), ...addresses.slice(0, i)], attemptTimeoutMs: 1_000, timeoutMs: 20_000 }));
  t.after(() => {
    for (const c of clients) c.close();
  });
  await Promise.all(clients.map((c, i) => c.propose({ op: "put", key: `k${i}`, value: bytes("1") })));
  const leader = nodes.find((n) => n.status().role === "leader")?.status().id;
  assert.ok(leader !== undefined, "a leader after the first proposals");
  // Each success asks its replica who leads (at most every leaderAskMs, 5 s, while a leader is named):
  // well within the 3 s a failed attempt used to make the client distrust the leader, all move.
  const end = Date.now() + 1_500;
  while (Date.now() < end && clients.some((c) => c.replica !== leader)) {
    await Promise.all(clients.map((c, i) => c.propose({ op: "put", key: `k${i}`, value: bytes("2") })));
    await delay(50);
  }
  assert.deepEqual(clients.map((c) => c.replica), clients.map(() => leader), "every client uses the leader");
});
