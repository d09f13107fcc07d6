/**
 * Start-up of the `worm` command as users run it: the compiled JavaScript (dist/, `npm run build`)
 * on this Node, each command a new process, timed from spawn to exit. `worm --help`, `worm
 * --version`, a `worm wor read` against a live cluster (three acceptor processes), the same read
 * without Node's compile cache (a first run after install, or NODE_DISABLE_COMPILE_CACHE=1), a bare
 * `node` for the floor, and etcdctl's `version` beside them in the same run. Prints one JSON line per
 * command (median and spread over --runs runs, after --warmup runs), and the load average before and
 * after: the machine may be shared, so compare within one run.
 *
 *   npm run build && npm run bench:cli -- [--runs 21] [--warmup 2] [--etcdctl etcdctl]
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { WorClient } from "../wor/node/client.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { emit, round, summarize } from "./lib/stats.ts";

const exec = promisify(execFile);
const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "21" },
    warmup: { type: "string", default: "2" },
    etcdctl: { type: "string", default: "etcdctl" },
  },
});
const RUNS = Number(flags.runs);
const WARMUP = Number(flags.warmup);
/** No single command may take longer than this. */
const COMMAND_MS_MAX = 30_000;

const BIN = fileURLToPath(new URL("../dist/apps/cli/bin/worm.js", import.meta.url));
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run 'npm run build' first (the benchmark measures the compiled worm users run)`);

interface Case {
  /** Whose command it is (the JSON line's system). */
  readonly system: string;
  readonly name: string;
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** Wall time of `file args` from spawn to exit, in ms; fails unless it exits 0. */
async function once(c: Case): Promise<number> {
  const t0 = performance.now();
  await exec(c.file, [...c.args], { env: { ...process.env, ...c.env }, timeout: COMMAND_MS_MAX });
  return performance.now() - t0;
}

async function measure(c: Case): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await once(c);
  const lat: number[] = [];
  for (let i = 0; i < RUNS; i++) lat.push(await once(c));
  const s = summarize(lat);
  emit({ system: c.system, bench: "cli", command: c.name, median_ms: s.p50_ms, min_ms: round(Math.min(...lat)), ...s });
}

const cluster = await startProcessCluster(3, "bench-cli");
try {
  const client = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: 3, segmentSize: 4_096 });
  await client.createSpace("cli");
  const cap = await client.capture("cli", 0);
  if (cap._tag !== "Captured") throw new Error(`capture: ${cap._tag}`);
  await client.write(cap.capture, 0, new TextEncoder().encode("hello"));
  client.close();

  const node = process.execPath;
  const read = ["wor", "read", "cli", "0", "--peers", cluster.addresses.join(",")];
  emit({ bench: "cli", event: "start", node: process.version, cpus: cpus().length, loadavg: loadavg().map((x) => round(x, 2)), runs: RUNS, warmup: WARMUP });
  const cases: Case[] = [
    { system: "node", name: "node -e 0", file: node, args: ["-e", "0"] },
    { system: "wormspace-ts", name: "worm --version", file: node, args: [BIN, "--version"] },
    { system: "wormspace-ts", name: "worm --help", file: node, args: [BIN, "--help"] },
    { system: "wormspace-ts", name: "worm wor read (live cluster)", file: node, args: [BIN, ...read] },
    { system: "wormspace-ts", name: "worm wor read (live cluster, no compile cache)", file: node, args: [BIN, ...read], env: { NODE_DISABLE_COMPILE_CACHE: "1" } },
  ];
  for (const c of cases) await measure(c);
  const etcdctl = await exec(flags.etcdctl, ["version"]).then(
    () => true,
    () => false,
  );
  if (etcdctl) await measure({ system: "etcd", name: "etcdctl version", file: flags.etcdctl, args: ["version"] });
  else emit({ system: "etcd", bench: "cli", command: "etcdctl version", note: `${flags.etcdctl} not found: give --etcdctl PATH` });
  emit({ bench: "cli", event: "end", loadavg: loadavg().map((x) => round(x, 2)) });
} finally {
  await cluster.stop();
}
