/**
 * Replacing a wiped acceptor under load (issue 17), every acceptor a real process: 64 appenders keep
 * appending to a log while acceptor 3 is killed and its data directory wiped, a new acceptor 4 starts
 * with `worm node --join`, and `worm cluster replace` swaps it in (the cluster file is rewritten);
 * then acceptor 1 is killed. The log stays available on 2 and 4, every acknowledged append reads
 * back with its value, and the longest stall of the appends is reported. And a forced recovery: two
 * acceptors lost for good, `worm cluster recover` refused without --accept-data-loss, then the
 * cluster rebuilt from the survivor and two new acceptors. And a cluster grown from 3 acceptors to 5
 * under the same load (`worm cluster add`), two originals killed, the dead ones removed (`worm cluster
 * remove`), then another killed.
 */
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { WormLog } from "../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../apps/log/node/sequencer-node.ts";
import { WorClient } from "../../wor/node/client.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { Procs, addressesOf, runWorm, startCluster, startNode, tempDir, text, untext } from "./harness.ts";

const APPENDERS = 64;

/** 64 appenders appending to `log` until stopped: what they had acknowledged, what failed, the longest gap between acknowledgements. */
function appendLoad(log: WormLog) {
  const acked = new Map<number, string>();
  const failures: string[] = [];
  let stopping = false;
  let last = performance.now();
  let stallMs = 0;
  let next = 0;
  const appender = async () => {
    while (!stopping) {
      const payload = `entry ${next++}`;
      try {
        const a = await log.append(text(payload));
        acked.set(a.slot, payload);
        const now = performance.now();
        stallMs = Math.max(stallMs, now - last);
        last = now;
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const load = Array.from({ length: APPENDERS }, appender);
  return {
    acked,
    failures,
    stall: () => stallMs,
    /** Wait until `count` appends are acknowledged (30 s at most). */
    ackedBy: async (count: number, what: string) => {
      const end = Date.now() + 30_000;
      while (acked.size < count && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.ok(acked.size >= count, `appends stalled ${what}: ${acked.size} acknowledged, failures: ${failures.slice(-3).join("; ")}`);
    },
    stop: async () => {
      stopping = true;
      await Promise.all(load);
    },
  };
}

/** Every acknowledged append reads back, with its value. */
async function readsBack(log: WormLog, acked: ReadonlyMap<number, string>): Promise<void> {
  const slots = [...acked.keys()].sort((a, b) => a - b);
  const read = await log.readRange(0, slots[slots.length - 1]! + 1);
  const bySlot = new Map(read.map((r) => [r.slot, r]));
  for (const slot of slots) {
    const r = bySlot.get(slot);
    assert.ok(r?.kind === "entry" && untext(r.entry.payload) === acked.get(slot), `slot ${slot}: ${JSON.stringify(r)} is not ${acked.get(slot)}`);
  }
}

/** 3 acceptor processes, their cluster file, and a log with an embedded sequencer on a client of them. */
async function logCluster(t: TestContext, clusterId: string) {
  const procs = new Procs(t);
  const dir = await tempDir(t, `worm-${clusterId}-`);
  const nodes = await startCluster(procs, dir, clusterId);
  const addresses = addressesOf(nodes);
  const clusterFile = join(dir, "cluster.json");
  await writeFile(clusterFile, JSON.stringify({ clusterId, segmentSize: 64, acceptors: nodes.map((n, k) => ({ id: n.id, address: addresses[k] })) }));
  const client = new WorClient({ transport: grpcTransport({ addresses, clusterId }), acceptors: 3, segmentSize: 64, roundTimeoutMs: 4_000, resendMs: 300 });
  const sequencer = new SequencerNode({ client, owner: "e2e" });
  t.after(() => {
    sequencer.close();
    client.close();
  });
  await WormLog.create(client, "l", { segmentSize: 64 });
  return { procs, dir, nodes, clusterFile, log: new WormLog({ client, log: "l", tokens: sequencer }) };
}

test("a wiped acceptor is replaced under a 64-appender load; then another dies; every acknowledged append reads back", { timeout: 180_000 }, async (t) => {
  const { procs, dir, nodes, clusterFile, log } = await logCluster(t, "recon");
  const { acked, failures, ackedBy, stop, stall } = appendLoad(log);
  await ackedBy(500, "before anything failed");

  // Acceptor 3 loses its disk; its replacement starts empty, joining.
  await nodes[2]!.proc.kill("SIGKILL");
  await rm(nodes[2]!.dataDir, { recursive: true, force: true });
  const fresh = await startNode(procs, { id: 4, dataDir: join(dir, "a4"), clusterId: "recon", init: false, args: ["--join"] });
  await ackedBy(acked.size + 200, "with acceptor 3 down");
  const replace = await runWorm(["cluster", "replace", "--acceptor", "3", "--id", "4", "--address", `127.0.0.1:${fresh.port}`, "--cluster", clusterFile, "--json"]);
  assert.equal(replace.code, 0, replace.stderr);
  const done = JSON.parse(replace.stdout) as { configuration: { epoch: number; acceptors: { id: number }[] }; addresses: number };
  assert.equal(done.configuration.epoch, 1);
  assert.deepEqual(done.configuration.acceptors.map((m) => m.id), [1, 2, 4]);
  const file = JSON.parse(await readFile(clusterFile, "utf8")) as { epoch: number; acceptors: { id: number; address: string }[] };
  assert.equal(file.epoch, 1);
  assert.deepEqual(file.acceptors.map((a) => a.id), [1, 2, 4]);
  await ackedBy(acked.size + 500, "after the replacement");

  // Another original acceptor dies: 2 and 4 carry on.
  await nodes[0]!.proc.kill("SIGKILL");
  await ackedBy(acked.size + 500, "after acceptor 1 died");
  await stop();

  const shown = await runWorm(["cluster", "show", "--json", "--cluster", clusterFile]);
  assert.equal(shown.code, 0, shown.stderr);
  const states = (JSON.parse(shown.stdout) as { acceptors: { id: number; state: string }[] }).acceptors.map((a) => [a.id, a.state.split(":")[0]]);
  assert.deepEqual(states, [
    [1, "unreachable"],
    [2, "serving"],
    [4, "serving"],
  ]);

  const inspected = await runWorm(["inspect", "--json", "--cluster", clusterFile]);
  assert.equal(inspected.code, 0, inspected.stderr);
  const epochs = (JSON.parse(inspected.stdout) as { acceptors: { status?: { acceptorId: number; configuration?: { epoch: number } } }[] }).acceptors.flatMap((a) => (a.status ? [[a.status.acceptorId, a.status.configuration?.epoch]] : []));
  assert.deepEqual(epochs, [
    [2, 1],
    [4, 1],
  ]);

  await readsBack(log, acked);
  t.diagnostic(`appends acknowledged: ${acked.size}; failed: ${failures.length}; longest stall: ${Math.round(stall())} ms; addresses copied: ${done.addresses}`);
});

test("grown from 3 acceptors to 5 and shrunk to 3 under a 64-appender load, two originals killed on the way; every acknowledged append reads back", { timeout: 180_000 }, async (t) => {
  const { procs, dir, nodes, clusterFile, log } = await logCluster(t, "grow");
  const { acked, failures, ackedBy, stop, stall } = appendLoad(log);
  await ackedBy(500, "before anything changed");
  const worm = async (...args: string[]) => {
    const r = await runWorm([...args, "--cluster", clusterFile, "--json"]);
    assert.equal(r.code, 0, `worm ${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { configuration: { epoch: number; quorum: number; acceptors: { id: number }[] } };
  };
  for (const id of [4, 5]) {
    const fresh = await startNode(procs, { id, dataDir: join(dir, `a${id}`), clusterId: "grow", init: false, args: ["--join"] });
    const added = await worm("cluster", "add", "--id", String(id), "--address", `127.0.0.1:${fresh.port}`, "--data-dir", join(dir, `a${id}`));
    assert.equal(added.configuration.acceptors.length, id);
    await ackedBy(acked.size + 300, `after acceptor ${id} was added`);
  }
  // 5 acceptors under quorum 3: two originals die, and 3, 4, 5 carry on.
  for (const n of [nodes[0]!, nodes[1]!]) await n.proc.kill("SIGKILL");
  await ackedBy(acked.size + 500, "with acceptors 1 and 2 dead, 3 of 5 up");
  // Remove the dead ones: 4 acceptors under 3, then 3 under 2.
  await worm("cluster", "remove", "--acceptor", "1");
  const shrunk = await worm("cluster", "remove", "--acceptor", "2");
  assert.deepEqual(shrunk.configuration, { ...shrunk.configuration, epoch: 4, quorum: 2 });
  assert.deepEqual(shrunk.configuration.acceptors.map((m) => m.id), [3, 4, 5]);
  const file = JSON.parse(await readFile(clusterFile, "utf8")) as { epoch: number; quorum: number; acceptors: { id: number; dataDir?: string }[] };
  assert.deepEqual([file.epoch, file.quorum, file.acceptors.map((a) => a.id)], [4, 2, [3, 4, 5]]);
  assert.equal(file.acceptors[2]!.dataDir, join(dir, "a5"));
  await ackedBy(acked.size + 500, "after the removals");
  // And one more dies: 4 and 5 are a quorum of 3.
  await nodes[2]!.proc.kill("SIGKILL");
  await ackedBy(acked.size + 500, "with acceptor 3 dead too");
  await stop();
  await readsBack(log, acked);
  t.diagnostic(`appends acknowledged: ${acked.size}; failed: ${failures.length}; longest stall: ${Math.round(stall())} ms`);
});

test("two acceptors lost for good: worm cluster recover refuses without --accept-data-loss, then rebuilds from the survivor", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-recover-");
  const nodes = await startCluster(procs, dir, "lost");
  const addresses = addressesOf(nodes);
  const clusterFile = join(dir, "cluster.json");
  await writeFile(clusterFile, JSON.stringify({ clusterId: "lost", segmentSize: 64, acceptors: nodes.map((n, k) => ({ id: n.id, address: addresses[k] })) }));
  assert.equal((await runWorm(["space", "create", "regs", "--cluster", clusterFile])).code, 0);
  for (const i of [1, 2, 3]) assert.equal((await runWorm(["wor", "write", "regs", String(i), "--value", `v${i}`, "--cluster", clusterFile])).code, 0);
  for (const n of [nodes[1]!, nodes[2]!]) {
    await n.proc.kill("SIGKILL");
    await rm(n.dataDir, { recursive: true, force: true });
  }
  const joiners = await Promise.all([4, 5].map((id) => startNode(procs, { id, dataDir: join(dir, `a${id}`), clusterId: "lost", init: false, args: ["--join"] })));
  const args = ["cluster", "recover", "--lost", "2,3", "--id", "4,5", "--address", joiners.map((j) => `127.0.0.1:${j.port}`).join(","), "--cluster", clusterFile];
  const refused = await runWorm(args);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--accept-data-loss/);
  const recovered = await runWorm([...args, "--accept-data-loss", "--json"]);
  assert.equal(recovered.code, 0, recovered.stderr);
  assert.deepEqual((JSON.parse(recovered.stdout) as { configuration: { acceptors: { id: number }[] } }).configuration.acceptors.map((m) => m.id), [1, 4, 5]);
  const read = await runWorm(["wor", "read", "regs", "1", "--to", "4", "--json", "--cluster", clusterFile]);
  assert.equal(read.code, 0, read.stderr);
  assert.deepEqual((JSON.parse(read.stdout) as { results: { value?: { text: string } }[] }).results.map((r) => r.value?.text), ["v1", "v2", "v3"]);
  assert.equal((await runWorm(["wor", "write", "regs", "9", "--value", "after", "--cluster", clusterFile])).code, 0);
});
