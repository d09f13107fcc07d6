/**
 * The example KV's benchmarks (issue 14), every part in its own process as the product runs them:
 * three acceptors (`worm node`, classic-level, synced group commit) and a KV node per partition (its
 * shard on classic-level, its API, its LogPlayer and the embedded sequencer of its log), in
 * `--node-processes` `worm kv serve` processes (default: one per partition; partition k in process
 * k mod that many, the nodes of one process sharing its client to the acceptors; the CPU of process j
 * is reported as node<j>'s); the load generator is this process: `--concurrency` workers, each with
 * one request in flight, sharing `--clients` KvClients (default 1, as the etcd peer's benchmark shares one client:
 * a client's requests of one tick leave in one envelope per node). Keys are spread evenly over the
 * partitions (`--keys` of them, cut by key ranges). One JSON line per measurement, with the run's
 * shape (partitions, acceptors, in flight, value bytes) and the CPU microseconds each process spent
 * per operation (bench/lib/cpu-time.ts):
 *  - kv.put.concurrent: puts (against etcd's puts);
 *  - kv.get.linearizable: gets of keys that exist (against etcd's linearizable gets), and
 *    kv.get.stale for reference;
 *  - kv.cas.concurrent: compare-and-sets, each client on a key of its own by its modRevision (so
 *    none loses: `cas_lost` says otherwise);
 *  - kv.txn.across: transactions across two partitions (the transaction coordinator, each partition
 *    a participant), each worker putting two keys of its own, one in partition 0 and one in 1 (no
 *    lock is ever contended: `aborted` counts those that aborted all the same); `--across-n` of them.
 *  - kv.move.standby (with `--only move`, run last): the last partition moves (`moveKv`) to a
 *    standby (`worm kv serve --listen`, started before) under puts of its keys at `--concurrency` in
 *    flight through a client that follows the map: `write_stall_ms` is the longest time after the
 *    move began in which no put completed, `map_written_ms` how long writing the map took.
 * `failed` counts operations that answered a failure (or a get that found nothing); it should be 0.
 * The run is bounded: past `--run-max-seconds`, or on SIGINT/SIGTERM, everything is stopped.
 *
 * `--only` runs some of the measurements (a comma list of put, get, cas, across; the puts that write
 * every key first always run), e.g. to profile one kind of operation.
 *
 *   npx tsx bench/kv.ts [--n 20000] [--across-n 5000] [--concurrency 64] [--clients 1] [--partitions 2] [--node-processes P] [--value-bytes 100] [--keys 1024] [--only put,get,cas,across]
 */
import { parseArgs } from "node:util";
import { partitionMap } from "../apps/kv/core/partitions.ts";
import { KvClient } from "../apps/kv/node/kv-client.ts";
import { createKv, moveKv, readMap } from "../apps/kv/node/kv-map.ts";
import { type MapWatch, watchMaps } from "../apps/kv/node/map-watch.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { type ProcessCluster, startProcessCluster } from "./lib/cluster.ts";
import { CpuMeter } from "./lib/cpu-time.ts";
import { freeAddresses } from "./lib/replicas.ts";
import { writeClusterFile } from "./lib/sequencer.ts";
import { closedLoop, emit, round, summarize } from "./lib/stats.ts";
import { type WormProcess, killAllWormProcesses, startWormProcess } from "./lib/worm-process.ts";

const { values: flags } = parseArgs({
  options: {
    n: { type: "string", default: "20000" },
    "across-n": { type: "string", default: "5000" },
    concurrency: { type: "string", default: "64" },
    clients: { type: "string", default: "1" },
    partitions: { type: "string", default: "2" },
    "node-processes": { type: "string" },
    "value-bytes": { type: "string", default: "100" },
    keys: { type: "string", default: "1024" },
    only: { type: "string", default: "put,get,cas,across" },
    "run-max-seconds": { type: "string", default: "600" },
  },
});
const N = Number(flags.n);
const ACROSS_N = Number(flags["across-n"]);
const C = Number(flags.concurrency);
const K = Number(flags.clients);
const P = Number(flags.partitions);
const NP = Number(flags["node-processes"] ?? P);
const KEYS = Number(flags.keys);
const value = new Uint8Array(Number(flags["value-bytes"])).fill(7);
for (const [name, x, least] of [["n", N, 1], ["across-n", ACROSS_N, 0], ["concurrency", C, 1], ["clients", K, 1], ["partitions", P, 1], ["node-processes", NP, 1], ["keys", KEYS, P]] as const) {
  if (!(Number.isSafeInteger(x) && x >= least)) throw new Error(`--${name} must be an integer of at least ${least}, not ${x}`);
}
const MEASUREMENTS = ["put", "get", "cas", "across", "move"] as const;
const ONLY = new Set(flags.only.split(",").map((m) => m.trim()));
for (const m of ONLY) if (!(MEASUREMENTS as readonly string[]).includes(m)) throw new Error(`--only takes a comma list of ${MEASUREMENTS.join(", ")}, not ${JSON.stringify(m)}`);
const measure = (m: (typeof MEASUREMENTS)[number]): boolean => ONLY.has(m);
const KV = "bench";
const CLUSTER = "bench-kv";
const SEGMENT = 4096;
/** Puts before measuring: every key written, and the processes' JIT warm (a first 20,000 puts ran
 *  27% slower than a second and third in one measured run: 3,920/s against 5,370 and 5,373). */
const WARMUP = Math.max(KEYS, Math.min(N, 20_000));

/** Partition k holds the keys from `p<k>` (three digits: key order is the partitions' order). */
const prefix = (k: number) => `p${String(k).padStart(3, "0")}`;
/** Key j is in partition j mod P. */
const keyOf = (j: number) => `${prefix(j % P)}/k${j}`;
/** Client c's own key for compare-and-sets. */
const casKeyOf = (c: number) => `${prefix(c % P)}/cas${c}`;

const stopping = new AbortController();
const abort = (why: string) => {
  if (stopping.signal.aborted) return;
  process.stderr.write(`bench/kv.ts: ${why}; stopping\n`);
  process.exitCode = 1;
  stopping.abort();
  killAllWormProcesses(); // the nodes: what is in flight fails at once, and the run ends
};
const watchdog = setTimeout(() => abort(`ran past --run-max-seconds ${flags["run-max-seconds"]}`), Number(flags["run-max-seconds"]) * 1000);
watchdog.unref();
process.once("SIGINT", () => abort("SIGINT"));
process.once("SIGTERM", () => abort("SIGTERM"));
process.once("exit", killAllWormProcesses);

let cluster: ProcessCluster | undefined;
let admin: WorClient | undefined;
const nodes: WormProcess[] = [];
const clients: KvClient[] = [];
const watches: MapWatch[] = [];
if (NP > P) throw new Error(`--node-processes ${NP}: more processes than the ${P} partitions`);
/** The partitions node process j serves. */
const servedBy = (j: number): number[] => Array.from({ length: P }, (_, k) => k).filter((k) => k % NP === j);
const shape = {
  partitions: P,
  acceptors: 3,
  in_flight: C,
  clients: K,
  value_bytes: value.length,
  keys: KEYS,
  processes: NP === P ? `acceptors x3, KV nodes x${P}: each its own` : `acceptors x3 each its own, KV nodes x${P} in ${NP} process${NP === 1 ? "" : "es"}`,
};

/**
 * `n` operations at `C` in flight, each by a worker of its own while it runs (the pool never runs
 * dry: C workers, C in flight; worker w uses client w mod K); `op` says whether it succeeded.
 */
async function run(n: number, op: (worker: number, i: number) => Promise<boolean>): Promise<{ lat: number[]; secs: number; failed: number }> {
  const free = Array.from({ length: C }, (_, w) => w);
  let failed = 0;
  const { lat, secs } = await closedLoop(n, C, async (i) => {
    if (stopping.signal.aborted) return;
    const c = free.pop()!;
    try {
      if (!(await op(c, i))) failed++;
    } finally {
      free.push(c);
    }
  });
  return { lat, secs, failed };
}

/** One measurement's JSON line; a stopped run reports nothing (its numbers would be of a cut-short measurement). */
async function report(bench: string, r: { lat: number[]; secs: number; failed: number }, meter: CpuMeter, extra: Record<string, unknown> = {}, n = N): Promise<void> {
  if (stopping.signal.aborted) return;
  const cpu = await meter.perOp(n);
  emit({ bench, ...shape, ...summarize(r.lat), ops_per_s: round(n / r.secs, 0), failed: r.failed, ...extra, cpu_us_per_op: cpu });
}

try {
  cluster = await startProcessCluster(3, CLUSTER);
  const clusterFile = await writeClusterFile(cluster, CLUSTER, SEGMENT);
  admin = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: 3, segmentSize: SEGMENT });
  const map = partitionMap(KV, 0, await freeAddresses(P), Array.from({ length: P - 1 }, (_, k) => prefix(k + 1)));
  await createKv(admin, KV, map);
  const dir = cluster.dir;
  for (let j = 0; j < NP; j++) {
    const served = servedBy(j).flatMap((k) => ["--partition", String(k), "--data-dir", `${dir}/kv-p${k}`]);
    nodes.push(await startWormProcess(["kv", "serve", "--kv", KV, ...served, "--cluster", clusterFile], { what: `KV node process ${j} (partitions ${servedBy(j).join(", ")})` }));
  }
  for (let c = 0; c < K; c++) clients.push(new KvClient({ map, attemptTimeoutMs: 10_000 }));
  const client = (w: number): KvClient => clients[w % K]!;
  const roles = new Map<string, number | "self">([["clients", "self"], ...[0, 1, 2].map((i) => [`acceptor${i}`, cluster!.pid(i)] as const), ...nodes.map((p, k) => [`node${k}`, p.pid] as const)]);

  const put = async (c: number, i: number) => (await client(c).put(keyOf(i % KEYS), value)).ok;
  await run(WARMUP, put); // every key written; connections, streams and the JIT warm
  if (measure("put")) {
    const meter = await CpuMeter.start(roles);
    await report("kv.put.concurrent", await run(N, put), meter);
  }
  for (const stale of measure("get") ? [false, true] : []) {
    const meter = await CpuMeter.start(roles);
    const gets = await run(N, async (c, i) => {
      const r = await client(c).get(keyOf(i % KEYS), { stale });
      return r.ok && r.value.record !== undefined;
    });
    await report(stale ? "kv.get.stale" : "kv.get.linearizable", gets, meter);
  }
  if (measure("cas")) {
    // Each client's key, written once: its modRevision is what the first compare expects.
    const modRevision: number[] = [];
    const first = await run(C, async (c) => {
      const r = await client(c).put(casKeyOf(c), value);
      if (r.ok) modRevision[c] = r.value.revision;
      return r.ok;
    });
    if (first.failed > 0) throw new Error(`${first.failed} of the compare-and-set keys could not be written`);
    let lost = 0;
    const meter = await CpuMeter.start(roles);
    const cas = await run(N, async (c) => {
      const r = await client(c).compareAndSet(casKeyOf(c), { modRevision: modRevision[c]! }, value);
      if (!r.ok) return false;
      if (!r.value.succeeded) lost++;
      modRevision[c] = r.value.succeeded ? r.value.revision : (r.value.current?.modRevision ?? 0);
      return true;
    });
    await report("kv.cas.concurrent", cas, meter, { cas_lost: lost });
  }
  if (measure("across") && P >= 2 && ACROSS_N > 0) {
    let aborted = 0;
    const across = async (c: number) => {
      const r = await client(c).txn({ compares: [], success: [0, 1].map((k) => ({ op: "put" as const, key: `${prefix(k)}/x${c}`, value })), failure: [] });
      if (!r.ok && r.failure.code === "aborted") aborted++;
      return r.ok && r.value.result.succeeded;
    };
    await run(Math.min(ACROSS_N, 2_000), across); // the coordinators' first blocks, the participant links
    aborted = 0;
    const meter = await CpuMeter.start(roles);
    await report("kv.txn.across", await run(ACROSS_N, across), meter, { partitions_per_txn: 2, aborted }, ACROSS_N);
  }
  if (measure("move")) {
    const k = P - 1;
    const [there] = await freeAddresses(1);
    const args = ["kv", "serve", "--kv", KV, "--partition", String(k), "--data-dir", `${dir}/kv-p${k}-moved`, "--listen", there!, "--cluster", clusterFile];
    nodes.push(await startWormProcess(args, { what: `the standby of partition ${k}` }));
    const follower = new KvClient({ map, refreshMap: () => readMap(admin!, KV), attemptTimeoutMs: 10_000, retryForMs: 30_000 });
    clients.push(follower);
    // It hears of the move as the map is chosen (a watch of the chain), not only when refused.
    const maps = watchMaps(admin!, KV, map, (m) => {
      follower.adopt(m);
      return false;
    });
    watches.push(maps);
    /** Key m of partition k (key j is in partition j mod P). */
    const keyOfK = (m: number) => keyOf(k + P * (m % Math.max(1, Math.floor(KEYS / P))));
    const done: number[] = [];
    let began = 0;
    let written = 0;
    const moving = await run(N, async (_c, i) => {
      if (i === Math.floor(N / 3)) {
        began = performance.now();
        void moveKv(admin!, KV, k, there!).then(() => (written = performance.now()), (e: unknown) => abort(`the move failed: ${(e as Error).message}`));
      }
      const ok = (await follower.put(keyOfK(i), value)).ok;
      done.push(performance.now());
      return ok;
    });
    let stall = 0;
    for (let j = 1; j < done.length; j++) if (done[j]! > began) stall = Math.max(stall, done[j]! - Math.max(began, done[j - 1]!));
    if (!stopping.signal.aborted) {
      emit({ bench: "kv.move.standby", ...shape, partition: k, ...summarize(moving.lat), ops_per_s: round(N / moving.secs, 0), failed: moving.failed, write_stall_ms: round(stall), map_written_ms: round(written - began) });
    }
  }
} finally {
  for (const w of watches) await w.close();
  for (const c of clients) c.close();
  for (const p of nodes.reverse()) await p.stop();
  admin?.close();
  await cluster?.stop(); // its directory holds the cluster file and the nodes' stores
  clearTimeout(watchdog);
}
