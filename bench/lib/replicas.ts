/** Starts SMR replicas as their own processes (`worm smr serve`) for a process cluster, kills and stops them. */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ProcessCluster } from "./cluster.ts";

const WORM = new URL("../../apps/cli/bin/worm.ts", import.meta.url).pathname;

/** `n` loopback addresses free now (replicas must know each other's before they listen). */
export async function freeAddresses(n: number): Promise<string[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports.map((p) => `127.0.0.1:${p}`);
}

export interface ReplicaSet {
  readonly addresses: readonly string[];
  /** The data directory of replica `address`. */
  dataDir(address: string): string;
  /** (Re)start replica `address`; resolves once it serves. */
  start(address: string): Promise<void>;
  kill(address: string, signal: NodeJS.Signals): Promise<void>;
  /** The process of replica `address`, while it runs. */
  pid(address: string): number | undefined;
  stop(): Promise<void>;
}

/** Three replicas of SMR `smr` (created already), each `worm smr serve … extraArgs`. */
export async function startReplicaSet(cluster: ProcessCluster, clusterFile: string, smr: string, extraArgs: readonly string[] = []): Promise<ReplicaSet> {
  const addresses = await freeAddresses(3);
  const children = new Map<string, ChildProcess>();
  const dataDir = (a: string) => join(cluster.dir, `${smr}-${a.replace(":", "_")}`);
  const kill = (a: string, signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      const c = children.get(a);
      children.delete(a);
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once("exit", () => resolve());
      c.kill(signal);
      setTimeout(() => c.kill("SIGKILL"), 5_000).unref();
    });
  const start = async (a: string) => {
    const args = ["--import", "tsx", WORM, "smr", "serve", smr, "--listen", a, "--replicas", addresses.join(","), "--data-dir", dataDir(a), "--cluster", clusterFile, ...extraArgs];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    children.set(a, child);
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line.includes('"listening"')) resolve();
      });
      child.once("exit", (code) => reject(new Error(`replica ${a} exited with ${code} before listening`)));
    });
  };
  const set: ReplicaSet = {
    addresses,
    dataDir,
    start,
    kill,
    pid: (a) => children.get(a)?.pid,
    stop: async () => void (await Promise.all([...children.keys()].map((a) => kill(a, "SIGTERM")))),
  };
  try {
    await Promise.all(addresses.map(start));
  } catch (e) {
    await set.stop();
    throw e;
  }
  return set;
}
