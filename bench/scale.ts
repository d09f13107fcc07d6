/**
 * Acceptors at scale (issue 15, item 3). Three acceptor processes on classic-level with synced
 * group commit, one client process over gRPC streams. One JSON line per measurement:
 *
 * - `scale.empty`: each acceptor's RSS with nothing written, and a crash restart of acceptor 0 on
 *   that empty store (the baseline the later restarts compare with).
 * - `scale.write`: register writes of `--value-bytes` at `--concurrency` in flight, in windows of
 *   `--window` addresses captured with one range prepare each; at each count of `--values` (e.g.
 *   100000,1000000,4000000): writes/s since the previous count and in the last window (its
 *   latencies), every acceptor's RSS, and acceptor 0's data directory's size.
 * - `scale.restart`: right after, acceptor 0 is killed with SIGKILL and started again on its
 *   port and directory: ms from the kill until it listens (process start-up included: compare
 *   with `scale.empty`), and its RSS then.
 * - `scale.log.append`: on a fresh cluster, one log (embedded sequencer); at each length of
 *   `--log-lengths` (e.g. 0,1000000,4000000) it is first filled to that length, then `--log-n`
 *   appends at `--concurrency` in flight are measured.
 *
 *   npm run bench:scale -- [--values 100000,1000000,4000000] [--log-lengths 0,1000000,4000000]
 *     [--window 65536] [--concurrency 64] [--value-bytes 100] [--log-n 20000] [--parts registers,log]
 *     [--cache-bytes-max B]   (the acceptors' address cache; default theirs, 64 MiB)
 *     [--compiled]            (run the acceptors from dist/, built by npm run build: a restart then
 *                              takes what an installed worm's does, without transpiling at start-up)
 *     [--memory]              (each line above also gives acceptor 0's memory: RSS and heap used
 *                              under load, then after a full collection its heap, external and
 *                              ArrayBuffer bytes and V8's generations: bench/lib/memory-probe.ts)
 *
 * Sizes are flags so that a short run checks the script; the figures mean something only on a
 * quiet machine.
 */
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SequencerNode } from "../apps/log/node/sequencer-node.ts";
import { WormLog } from "../apps/log/node/log-client.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { type ProcessCluster, rssBytes, startProcessCluster } from "./lib/cluster.ts";
import { MEMORY_ENV } from "./lib/memory-probe.ts";
import { closedLoop, emit, round, summarize } from "./lib/stats.ts";

const { values: flags } = parseArgs({
  options: {
    values: { type: "string", default: "100000,1000000,4000000" },
    "log-lengths": { type: "string", default: "0,1000000,4000000" },
    window: { type: "string", default: "65536" },
    concurrency: { type: "string", default: "64" },
    "value-bytes": { type: "string", default: "100" },
    "log-n": { type: "string", default: "20000" },
    parts: { type: "string", default: "registers,log" },
    "cache-bytes-max": { type: "string" },
    compiled: { type: "boolean", default: false },
    memory: { type: "boolean", default: false },
  },
});

/** A comma-separated list of non-negative integers, ascending. */
function counts(flag: string, text: string): number[] {
  const xs = text.split(",").map((s) => Number(s.trim()));
  if (xs.some((x, k) => !Number.isSafeInteger(x) || x < 0 || (k > 0 && x <= xs[k - 1]!))) {
    throw new Error(`--${flag} must list ascending whole numbers, e.g. 100000,1000000; got ${JSON.stringify(text)}`);
  }
  return xs;
}

const CHECKPOINTS = counts("values", flags.values);
const LOG_LENGTHS = counts("log-lengths", flags["log-lengths"]);
/** A flag that must be a whole number of at least 1. */
function positive(flag: string): number {
  const x = Number(flags[flag as keyof typeof flags]);
  if (!Number.isSafeInteger(x) || x < 1) throw new Error(`--${flag} must be a whole number of at least 1; got ${JSON.stringify(flags[flag as keyof typeof flags])}`);
  return x;
}

const WINDOW = positive("window");
const C = positive("concurrency");
const LOG_N = positive("log-n");
const PARTS = new Set(flags.parts.split(","));
const value = new Uint8Array(positive("value-bytes")).fill(7);
const SEGMENT = 1 << 16;
const LOG_SEGMENT = 4096;
const ACCEPTORS = 3;
/** The client's value cache (this process's memory is not what is measured). */
const CLIENT_CACHE_ENTRIES = 1_000;
const MiB = 1 << 20;
const NODE_ARGS = flags["cache-bytes-max"] === undefined ? [] : ["--cache-bytes-max", flags["cache-bytes-max"]];

const mib = (bytes: number): number => round(bytes / MiB, 1);
const PROBE = new URL("./lib/memory-probe.ts", import.meta.url).pathname;
const PRELOAD = flags.memory ? [PROBE] : [];
/** Where the acceptors' memory probes write (--memory). */
const probeDir = flags.memory ? await mkdtemp(join(tmpdir(), "worm-bench-memory-")) : undefined;
if (probeDir) process.env[MEMORY_ENV] = probeDir;
/** How long a probe may take to answer (a full collection of a large heap). */
const PROBE_MS_MAX = 30_000;

/** Acceptor 0's memory (--memory), from its probe's answer to SIGUSR2; {} without --memory. */
async function memoryOf(cluster: ProcessCluster): Promise<{ memory_mib?: Record<string, number> }> {
  if (!probeDir) return {};
  const pid = cluster.pid(0);
  const file = join(probeDir, `${pid}.jsonl`);
  const lines = async () => (await readFile(file, "utf8").catch(() => "")).split("\n").filter((l) => l !== "");
  const had = (await lines()).length;
  process.kill(pid, "SIGUSR2");
  for (const t0 = performance.now(); performance.now() - t0 < PROBE_MS_MAX; await new Promise((r) => setTimeout(r, 100))) {
    const now = await lines();
    if (now.length > had) return { memory_mib: JSON.parse(now.at(-1)!) as Record<string, number> };
  }
  throw new Error(`acceptor 0 (pid ${pid}) did not report its memory within ${PROBE_MS_MAX} ms`);
}
const rssAll = async (cluster: ProcessCluster): Promise<number[]> =>
  Promise.all(Array.from({ length: ACCEPTORS }, async (_, id) => mib(await rssBytes(cluster.pid(id)))));

/** Bytes of the files in `dir` (an acceptor's data directory). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir)) total += (await stat(join(dir, f))).size;
  return total;
}

/** Longer than the client's reconnect backoff (at most 1 s): writes resume with all three acceptors. */
const RECONNECT_MS = 1_500;

/** Acceptor 0 killed with SIGKILL and started again: ms until it listens, and its RSS then. */
async function crashRestart(cluster: ProcessCluster): Promise<{ listen_ms: number; rss_mib_after: number; memory_mib?: Record<string, number> }> {
  const ms = await cluster.crashRestart(0);
  const rss = mib(await rssBytes(cluster.pid(0)));
  await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  return { listen_ms: round(ms, 0), rss_mib_after: rss, ...(await memoryOf(cluster)) };
}

async function registers(): Promise<void> {
  const cluster = await startProcessCluster(ACCEPTORS, "bench-scale", NODE_ARGS, flags.compiled, PRELOAD);
  const client = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: ACCEPTORS, segmentSize: SEGMENT, cacheEntriesMax: CLIENT_CACHE_ENTRIES });
  try {
    const created = await client.createSpace("scale");
    if (created._tag !== "Created") throw new Error(`create space: ${created._tag}`);
    emit({ bench: "scale.empty", rss_mib: await rssAll(cluster), ...(await memoryOf(cluster)), restart: await crashRestart(cluster) });
    let written = 0;
    for (const checkpoint of CHECKPOINTS) {
      const since = { n: 0, secs: 0 };
      let last = { n: 0, secs: 0, lat: [] as number[] };
      while (written < checkpoint) {
        const from = written;
        const n = Math.min(WINDOW, checkpoint - from);
        const cap = await client.captureRange("scale", from, from + n);
        if (cap._tag !== "Captured") throw new Error(`capture of [${from}, ${from + n}): ${cap._tag}`);
        const { lat, secs } = await closedLoop(n, C, async (i) => {
          const r = await client.write(cap.capture, from + i, value);
          if (r._tag !== "Ok") throw new Error(`write of ${from + i}: ${r._tag}`);
        });
        last = { n, secs, lat };
        since.n += n;
        since.secs += secs;
        written += n;
      }
      emit({
        bench: "scale.write",
        values: written,
        value_bytes: value.length,
        in_flight: C,
        ops_per_s: round(since.n / since.secs, 0),
        last_window: last.n,
        last_window_ops_per_s: round(last.n / last.secs, 0),
        ...summarize(last.lat),
        rss_mib: await rssAll(cluster),
        disk_mib: mib(await dirBytes(join(cluster.dir, "a0"))),
        ...(await memoryOf(cluster)),
      });
      emit({ bench: "scale.restart", values: written, ...(await crashRestart(cluster)) });
    }
  } finally {
    client.close();
    await cluster.stop();
  }
}

async function log(): Promise<void> {
  const cluster = await startProcessCluster(ACCEPTORS, "bench-scale-log", NODE_ARGS, flags.compiled);
  const clients: WorClient[] = [];
  const client = (): WorClient => {
    const c = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: ACCEPTORS, segmentSize: LOG_SEGMENT, cacheEntriesMax: CLIENT_CACHE_ENTRIES });
    clients.push(c);
    return c;
  };
  let sequencer: SequencerNode | undefined;
  try {
    const created = await WormLog.create(client(), "scale");
    if (created._tag !== "Created") throw new Error(`create log: ${created._tag}`);
    sequencer = new SequencerNode({ client: client(), owner: "bench-scale" });
    const wlog = new WormLog({ client: client(), log: "scale", tokens: sequencer });
    let length = 0;
    for (const target of LOG_LENGTHS) {
      if (target > length) {
        await closedLoop(target - length, C, async () => void (await wlog.append(value)));
        length = target;
      }
      const { lat, secs } = await closedLoop(LOG_N, C, async () => void (await wlog.append(value)));
      emit({ bench: "scale.log.append", log_length: length, entry_bytes: value.length, in_flight: C, ...summarize(lat), ops_per_s: round(LOG_N / secs, 0), rss_mib: await rssAll(cluster) });
      length += LOG_N;
    }
  } finally {
    await sequencer?.close();
    for (const c of clients) c.close();
    await cluster.stop();
  }
}

try {
  if (PARTS.has("registers")) await registers();
  if (PARTS.has("log")) await log();
} finally {
  if (probeDir) await rm(probeDir, { recursive: true, force: true });
}
