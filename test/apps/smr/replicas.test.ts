/**
 * Three SMR replicas in one process over real gRPC (apps/smr/node), in front of an in-memory
 * acceptor cluster: proposals and reads through any replica, a retried key answered with its first
 * result, the leader stopped and another taking over, checkpoints and the log trimmed under them,
 * and a replica with an empty data directory catching up from a peer's checkpoint.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { mapMachine } from "../../../apps/smr/core/map-machine.ts";
import { ReplicaNode } from "../../../apps/smr/node/replica-node.ts";
import { type SmrServer, startSmrServer } from "../../../apps/smr/node/server.ts";
import { SmrClient } from "../../../apps/smr/node/smr-client.ts";
import { delay } from "../../../wor/node/driver.ts";
import { stableAddresses } from "../../ports.ts";
import { MemoryCluster, bytes, text } from "../../wor/memory-cluster.ts";

const SMR = "orders";

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

describe("SMR replicas over gRPC", { timeout: 120_000 }, () => {
  let cluster: MemoryCluster;
  let dir: string;
  let addresses: string[];
  const replicas = new Map<string, { node: ReplicaNode; server: SmrServer }>();
  let client: SmrClient<unknown, unknown, unknown, unknown> & ReturnType<typeof mapClient>;

  function mapClient(replicaAddresses: string[]) {
    return new SmrClient(mapMachine, { smr: SMR, replicas: replicaAddresses, attemptTimeoutMs: 1_000, timeoutMs: 20_000 });
  }

  async function start(address: string, data = join(dir, address.replace(":", "_"))): Promise<void> {
    const { client: wor } = cluster.client({ roundTimeoutMs: 1_000 });
    const node = await ReplicaNode.start({
      client: wor,
      smr: SMR,
      id: address,
      peers: addresses,
      machine: mapMachine,
      dataDir: data,
      config: { electionTimeoutMs: 300, heartbeatMs: 50, checkpointCommands: 20, trailingSlots: 0 },
    });
    const server = await startSmrServer({ node, smr: SMR, port: Number(address.split(":")[1]) });
    replicas.set(address, { node, server });
  }

  async function stop(address: string): Promise<void> {
    const r = replicas.get(address)!;
    replicas.delete(address);
    await r.server.close();
    await r.node.close();
  }

  const leader = (): string | undefined => [...replicas].find(([, r]) => r.node.status().role === "leader")?.[0];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "smr-replicas-"));
    cluster = await MemoryCluster.start();
    await cluster.client().client.createSpace(SMR, { kind: "smr", segmentSize: 64 });
    addresses = await stableAddresses(3);
    for (const a of addresses) await start(a);
    client = mapClient(addresses) as typeof client;
  });

  after(async () => {
    client.close();
    for (const a of [...replicas.keys()]) await stop(a);
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("elects a leader, applies proposals and answers reads through any replica", async () => {
    await until("a leader", () => leader() !== undefined);
    const put = await client.propose({ op: "put", key: "a", value: bytes("1") });
    assert.equal(put.result, null);
    const again = await client.propose({ op: "put", key: "a", value: bytes("2") });
    assert.equal(text(again.result as Uint8Array), "1");
    assert.ok(again.position > put.position);
    for (const a of addresses) {
      const c = mapClient([a]);
      const got = await c.read({ key: "a" });
      assert.equal(text(got.answer as Uint8Array), "2", `linearizable read at ${a}`);
      c.close();
    }
  });

  it("a client that starts at a follower moves to the leader it names", async () => {
    await until("a leader", () => leader() !== undefined);
    const l = leader()!;
    const c = mapClient([...addresses.filter((a) => a !== l), l]);
    assert.notEqual(c.replica, l);
    await c.propose({ op: "put", key: "m", value: bytes("1") });
    await until("the client to use the leader", () => c.replica === l);
    assert.equal(text((await c.propose({ op: "put", key: "m", value: bytes("2") })).result as Uint8Array), "1");
    c.close();
  });

  it("answers a retried key with its first result, without applying it again", async () => {
    const c = mapClient([addresses[1]!]);
    const first = await c.propose({ op: "put", key: "b", value: bytes("x") }, 7);
    // The retry of 7 is in flight while 8 goes out, so 8 does not acknowledge 7.
    const [retry] = await Promise.all([c.propose({ op: "put", key: "b", value: bytes("z") }, 7), c.propose({ op: "put", key: "b", value: bytes("y") }, 8)]);
    assert.deepEqual(retry.result, first.result);
    assert.equal(text((await c.read({ key: "b" })).answer as Uint8Array), "y");
    c.close();
  });

  it("a follower that restarts follows the leader, rather than taking over from it", async () => {
    await until("a leader", () => leader() !== undefined);
    const l = leader()!;
    const term = replicas.get(l)!.node.status().term;
    // Before the leader's links capped their backoff at a heartbeat, about one restart in three
    // took over (the leader's link to it still backing off for up to a second): restart each follower.
    for (const follower of addresses.filter((a) => a !== l)) {
      await stop(follower);
      // Long enough for the leader's heartbeats to the stopped follower to back off.
      await new Promise((r) => setTimeout(r, 1_500));
      await start(follower);
      await until("the restarted follower to follow the leader", () => replicas.get(follower)!.node.status().leader === l);
      // Three election timeouts at most (300-600 ms each): a takeover would have happened by then.
      await new Promise((r) => setTimeout(r, 1_800));
      assert.equal(leader(), l, `the leader changed when ${follower} restarted`);
      assert.equal(replicas.get(l)!.node.status().term, term);
      assert.equal(replicas.get(follower)!.node.status().role, "follower");
    }
  });

  it("a new leader takes over when the leader stops, and nothing acknowledged is lost", async () => {
    const old = leader()!;
    for (let i = 0; i < 30; i++) await client.propose({ op: "put", key: `k${i}`, value: bytes(`v${i}`) });
    await stop(old);
    await until("a new leader", () => leader() !== undefined && leader() !== old);
    for (let i = 0; i < 30; i++) assert.equal(text((await client.read({ key: `k${i}` })).answer as Uint8Array), `v${i}`);
    await start(old);
  });

  it("checkpoints, trims the log, and a replica with an empty data directory catches up from a peer's checkpoint", async () => {
    for (let i = 0; i < 60; i++) await client.propose({ op: "put", key: `c${i % 7}`, value: bytes(`w${i}`) });
    const l = leader()!;
    await until("checkpoints at a majority", () => Object.keys(replicas.get(l)!.node.status().checkpoints).length >= 2);
    const wiped = addresses.find((a) => a !== l)!;
    await stop(wiped);
    for (let i = 0; i < 60; i++) await client.propose({ op: "put", key: `c${i % 7}`, value: bytes(`u${i}`) });
    const slot0 = await cluster.client().client.read(SMR, 0);
    assert.equal(slot0._tag, "Trimmed", "the log was trimmed below the checkpoints: the wiped replica cannot replay it");
    await start(wiped, join(dir, "fresh"));
    // A restarted replica may take over (it did not hear the leader in time): wait out a leaderless moment.
    const tail = () => {
      const l = leader();
      return (l === undefined ? undefined : replicas.get(l)!.node.status().tail) ?? Number.POSITIVE_INFINITY;
    };
    await until("the wiped replica to catch up", () => replicas.get(wiped)!.node.status().applied >= tail());
    const c = mapClient([wiped]);
    assert.equal(text((await c.read({ key: "c3" }, { stale: true })).answer as Uint8Array), "u59");
    c.close();
  });
});
