/**
 * Replicated-state-machine benchmarks (issue 11). Three acceptor processes on classic-level with
 * synced group commit, three `worm smr serve` replica processes of the map, clients in this process
 * over gRPC (each client id its own idempotency session; the clients share one connection and
 * Session stream per replica, apps/smr/node/smr-channels.ts, as one etcd client serves its callers).
 * One JSON line per measurement:
 *  - smr.propose.concurrent: puts at `--concurrency` in flight (against etcd's puts);
 *  - smr.read.linearizable: read-index gets at `--concurrency` in flight (against etcd's
 *    linearizable gets), and smr.read.stale for reference;
 *  - smr.failover: `kill -9` of the leader under load: the longest stretch with no command
 *    acknowledged, and the slowest command;
 *  - smr.catchup: a replica whose data directory is wiped rejoins a state of `--state-mb` MB, once
 *    from a peer's checkpoint (the log trimmed under it), once by replaying the whole log (no
 *    checkpoints, nothing trimmed).
 *
 *   npm run bench:smr -- [--n 20000] [--concurrency 64] [--value-bytes 100] [--state-mb 100] [--failover-ms 6000]
 */
import { rm } from "node:fs/promises";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { type MapCommand, type MapQuery, type MapValue, mapMachine } from "../apps/smr/core/map-machine.ts";
import { SmrChannels } from "../apps/smr/node/smr-channels.ts";
import { SmrClient } from "../apps/smr/node/smr-client.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { CpuMeter } from "./lib/cpu-time.ts";
import { type ReplicaSet, startReplicaSet } from "./lib/replicas.ts";
import { writeClusterFile } from "./lib/sequencer.ts";
import { closedLoop, emit, round, summarize } from "./lib/stats.ts";

const { values: flags } = parseArgs({
  options: {
    n: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    "value-bytes": { type: "string", default: "100" },
    "state-mb": { type: "string", default: "100" },
    "failover-ms": { type: "string", default: "6000" },
  },
});
const N = Number(flags.n);
const C = Number(flags.concurrency);
const value = new Uint8Array(Number(flags["value-bytes"])).fill(7);
const STATE_BYTES = Number(flags["state-mb"]) << 20;
const FAILOVER_MS = Number(flags["failover-ms"]);
/** Values of the catch-up state (each put one command in a slot of its own or two). */
const BIG_VALUE_BYTES = 256 << 10;
const SEGMENT = 4096;
const WAIT_MS_MAX = 300_000;

type MapClient = SmrClient<MapCommand, MapValue, MapQuery, MapValue>;

const cluster = await startProcessCluster(3, "bench-smr");
const clusterFile = await writeClusterFile(cluster, "bench-smr", SEGMENT);
const admin = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: 3, segmentSize: SEGMENT });
const closers: (() => unknown)[] = [];

/** A replica set of a new SMR `smr`, and `C` clients of it (one per in-flight request). */
async function group(smr: string, extraArgs: readonly string[] = []): Promise<{ set: ReplicaSet; clients: MapClient[] }> {
  await admin.createSpace(smr, { kind: "smr", segmentSize: SEGMENT });
  const set = await startReplicaSet(cluster, clusterFile, smr, extraArgs);
  closers.push(() => set.stop());
  const channels = new SmrChannels();
  const clients = Array.from({ length: C }, (_, i) => new SmrClient(mapMachine, { smr, replicas: [...set.addresses.slice(i % 3), ...set.addresses.slice(0, i % 3)], attemptTimeoutMs: 1_000, timeoutMs: 60_000, channels }));
  closers.push(() => {
    for (const c of clients) c.close();
    channels.close();
  });
  return { set, clients };
}

async function until(what: string, f: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + WAIT_MS_MAX;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const statuses = (c: MapClient, set: ReplicaSet) => Promise.all(set.addresses.map((_, i) => c.status(i).catch(() => undefined)));
const leaderOf = async (c: MapClient, set: ReplicaSet) => (await statuses(c, set)).find((s) => s?.role === "leader");

/** The processes whose CPU a measurement reports: the clients (this one), the acceptors, the leader and the followers. */
async function cpuRoles(c: MapClient, set: ReplicaSet): Promise<Map<string, number | "self">> {
  const leader = (await leaderOf(c, set))?.id;
  const roles = new Map<string, number | "self">([["clients", "self"], ...[0, 1, 2].map((i) => [`acceptor${i}`, cluster.pid(i)] as const)]);
  let follower = 0;
  for (const a of set.addresses) {
    const pid = set.pid(a);
    if (pid !== undefined) roles.set(a === leader ? "leader" : `follower${++follower}`, pid);
  }
  return roles;
}

/** Commands and reads at `C` in flight, then `kill -9` of the leader under load. */
async function throughputAndFailover(): Promise<void> {
  const { set, clients } = await group("bench");
  const put = (i: number) => clients[i % C]!.propose({ op: "put", key: `k${i % 1_024}`, value });
  await closedLoop(Math.min(N, 2_000), C, async (i) => void (await put(i))); // warm up connections and the JIT
  const roles = await cpuRoles(clients[0]!, set);
  {
    const meter = await CpuMeter.start(roles);
    const { lat, secs } = await closedLoop(N, C, async (i) => void (await put(i)));
    emit({ bench: "smr.propose.concurrent", replicas: 3, acceptors: 3, in_flight: C, value_bytes: value.length, ...summarize(lat), ops_per_s: round(N / secs, 0), cpu_us_per_op: await meter.perOp(N) });
  }
  for (const stale of [false, true]) {
    const meter = await CpuMeter.start(roles);
    const { lat, secs } = await closedLoop(N, C, async (i) => void (await clients[i % C]!.read({ key: `k${i % 1_024}` }, { stale })));
    emit({ bench: stale ? "smr.read.stale" : "smr.read.linearizable", replicas: 3, in_flight: C, ...summarize(lat), ops_per_s: round(N / secs, 0), cpu_us_per_op: await meter.perOp(N) });
  }
  // Failover: C clients put without pause; the leader is killed a third of the way in.
  const leader = (await leaderOf(clients[0]!, set))?.id;
  if (leader === undefined) throw new Error("no leader to kill");
  const acks: number[] = [];
  const lat: number[] = [];
  const t0 = performance.now();
  let stop = false;
  let i = 0;
  const load = Promise.all(
    clients.map(async (c) => {
      while (!stop) {
        const s = performance.now();
        await c.propose({ op: "put", key: `f${i++ % 1_024}`, value });
        acks.push(performance.now());
        lat.push(performance.now() - s);
      }
    }),
  );
  await sleep(FAILOVER_MS / 3);
  const killedAt = performance.now();
  await set.kill(leader, "SIGKILL");
  await sleep((2 * FAILOVER_MS) / 3);
  stop = true;
  await load;
  acks.sort((a, b) => a - b);
  let stall = 0;
  for (let k = 1; k < acks.length; k++) if (acks[k]! > killedAt) stall = Math.max(stall, acks[k]! - Math.max(acks[k - 1]!, killedAt));
  const after = (await leaderOf(clients[0]!, set))?.id;
  emit({ bench: "smr.failover", in_flight: C, killed: "leader", new_leader: after !== undefined && after !== leader, stall_ms: round(stall), slowest_command_ms: round(Math.max(...lat)), commands: acks.length, secs: round((performance.now() - t0) / 1000) });
}

/** A wiped replica rejoins a state of STATE_BYTES: from a checkpoint, or by replaying the log. */
async function catchUp(mode: "checkpoint" | "replay"): Promise<void> {
  const puts = Math.max(4, Math.ceil(STATE_BYTES / BIG_VALUE_BYTES));
  const args = mode === "checkpoint" ? ["--checkpoint-commands", String(Math.ceil(puts / 4)), "--trailing-slots", "0"] : ["--checkpoint-commands", String(2 ** 40), "--checkpoint-bytes", String(2 ** 50)];
  const { set, clients } = await group(`catchup-${mode}`, args);
  const big = new Uint8Array(BIG_VALUE_BYTES).fill(3);
  await closedLoop(puts, Math.min(C, 8), async (i) => void (await clients[i % C]!.propose({ op: "put", key: `s${i}`, value: big })));
  const c = clients[0]!;
  const leader = (await leaderOf(c, set))!;
  const wiped = set.addresses.find((a) => a !== leader.id)!;
  if (mode === "checkpoint") await until("the log trimmed", async () => (await admin.read(`catchup-${mode}`, 0))._tag === "Trimmed");
  await set.kill(wiped, "SIGKILL");
  await rm(set.dataDir(wiped), { recursive: true, force: true });
  const tail = (await leaderOf(c, set))!.tail!;
  const t0 = performance.now();
  await set.start(wiped);
  const i = set.addresses.indexOf(wiped);
  await until("the wiped replica to catch up", async () => {
    const s = await c.status(i).catch(() => undefined);
    return s !== undefined && !s.catchingUp && s.applied >= tail;
  });
  const s = await c.status(i);
  emit({ bench: "smr.catchup", from: mode, state_mb: round(STATE_BYTES / (1 << 20), 1), log_slots: tail, applied: s.applied, secs: round((performance.now() - t0) / 1000) });
}

try {
  await throughputAndFailover();
  await catchUp("checkpoint");
  await catchUp("replay");
} finally {
  for (const c of closers.reverse()) await c();
  admin.close();
  await cluster.stop();
}
