/**
 * How `worm smr propose|read|status` reach the replicas (apps/cli/smr-flags.ts), as a user runs
 * them against one replica served with a cluster token: `--cluster FILE` (or `--token`, or the
 * cluster flag before the verb) gives them the token the replicas check, as `worm smr serve` took it
 * from the same file (before, `--cluster` was an unknown flag and no verb could reach a replica that
 * checks a token); `--peers` (acceptors' addresses) and etcdctl's `--endpoints` are refused naming
 * `--replicas`, and a missing `--replicas` says where the addresses come from.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { mapMachine } from "../../apps/smr/core/map-machine.ts";
import { ReplicaNode } from "../../apps/smr/node/replica-node.ts";
import { type SmrServer, startSmrServer } from "../../apps/smr/node/server.ts";
import { runWorm } from "../e2e/harness.ts";
import { stableAddresses } from "../ports.ts";
import { MemoryCluster } from "../wor/memory-cluster.ts";

const SMR = "flags";
const TOKEN = "smr-flags-token-0123456789";

describe("worm smr propose, read and status: how they reach the replicas", { timeout: 120_000 }, () => {
  let cluster: MemoryCluster;
  let dir: string;
  let replica: string;
  let clusterFile: string;
  let node: ReplicaNode;
  let server: SmrServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "smr-flags-"));
    cluster = await MemoryCluster.start();
    const { client } = cluster.client({ roundTimeoutMs: 1_000 });
    await client.createSpace(SMR, { kind: "smr", segmentSize: 64 });
    [replica] = (await stableAddresses(1)) as [string];
    node = await ReplicaNode.start({ client, smr: SMR, id: replica, peers: [replica], machine: mapMachine, dataDir: join(dir, "r"), config: { electionTimeoutMs: 200, heartbeatMs: 20 }, security: { token: TOKEN } });
    server = await startSmrServer({ node, smr: SMR, port: Number(replica.split(":")[1]), token: TOKEN });
    clusterFile = join(dir, "cluster.json");
    // The acceptors are never asked (the replicas reach them): only the token is used.
    await writeFile(clusterFile, JSON.stringify({ clusterId: "smr-flags", segmentSize: 64, acceptors: [{ id: 1, address: "127.0.0.1:9" }], token: TOKEN }));
  });

  after(async () => {
    await server?.close();
    await node?.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

  it("take the replicas' token from --cluster, --token, or --cluster before the verb; without it the replica refuses", async () => {
    const put = await runWorm(["smr", "propose", SMR, "put", "a", "1", "--replicas", replica, "--cluster", clusterFile, "--json"]);
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual(json(put.stdout), { previous: null, position: json(put.stdout).position });
    const [read, status, refused] = await Promise.all([
      runWorm(["smr", "read", SMR, "a", "--replicas", replica, "--token", TOKEN, "--json"]),
      runWorm(["--cluster", clusterFile, "smr", "status", SMR, "--replicas", replica, "--timeout", "3000", "--json"]),
      runWorm(["smr", "read", SMR, "a", "--replicas", replica, "--timeout", "1000"]),
    ]);
    assert.equal(read.code, 0, read.stderr);
    assert.equal(json(read.stdout).value, "1");
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual((json(status.stdout).replicas as { address: string; role: string }[]).map((r) => [r.address, r.role]), [[replica, "leader"]]);
    // A replica that does not answer fails the status, as JSON as in a table, after the others' rows.
    const down = await runWorm(["--cluster", clusterFile, "smr", "status", SMR, "--replicas", `${replica},127.0.0.1:9`, "--timeout", "1000", "--json"]);
    assert.equal(down.code, 1, down.stderr);
    assert.deepEqual((json(down.stdout).replicas as { address: string; role?: string }[]).map((r) => [r.address, r.role]), [[replica, "leader"], ["127.0.0.1:9", undefined]]);
    assert.equal(down.stderr, "worm: 1 of 2 replicas did not answer\n");
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /missing or wrong cluster token \(the replicas check the cluster's token: give its cluster file with --cluster, or --token\)\n$/);
  });

  it("refuse --peers and --endpoints naming --replicas, and say where the addresses come from when --replicas is missing", async () => {
    const [peers, endpoints, missing] = await Promise.all([
      runWorm(["smr", "propose", SMR, "put", "a", "2", "--replicas", replica, "--peers", replica]),
      runWorm(["smr", "read", SMR, "a", "--endpoints", replica]),
      runWorm(["smr", "status", SMR, "--cluster", clusterFile]),
    ]);
    assert.equal(peers.code, 2);
    assert.equal(peers.stderr, "worm: 'worm smr propose' takes the replicas' addresses as --replicas host:port,... (the list 'worm smr serve' was given), not --peers (acceptors' addresses: the replicas reach the acceptors themselves)\n");
    assert.equal(endpoints.code, 2);
    assert.equal(endpoints.stderr, "worm: 'worm smr read' takes the replicas' addresses as --replicas host:port,... (the list 'worm smr serve' was given), not --endpoints\n");
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, "worm: 'worm smr status' needs the replicas' addresses: --replicas host:port,... (the list 'worm smr serve' was given); 'worm inspect' shows each SMR's replicas\n");
  });
});
