/** Starts a sequencer as its own process (`worm log sequencer`) for a process cluster, and stops it. */
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ProcessCluster } from "./cluster.ts";

const WORM = new URL("../../apps/cli/bin/worm.ts", import.meta.url).pathname;

export interface SequencerProcess {
  readonly address: string;
  stop(): Promise<void>;
}

/** Write the cluster file a `worm` command needs to reach `cluster`. */
export async function writeClusterFile(cluster: ProcessCluster, clusterId: string, segmentSize: number): Promise<string> {
  const file = join(cluster.dir, "cluster.json");
  const acceptors = cluster.addresses.map((address, id) => ({ id, address }));
  await writeFile(file, JSON.stringify({ clusterId, segmentSize, acceptors }));
  return file;
}

export async function startSequencerProcess(clusterFile: string, extraArgs: readonly string[] = []): Promise<SequencerProcess> {
  const args = ["--import", "tsx", WORM, "log", "sequencer", "--cluster", clusterFile, "--listen", "127.0.0.1:0", ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const ev = JSON.parse(line) as { event?: string; port?: number };
        if (ev.event === "listening" && typeof ev.port === "number") resolve(ev.port);
      } catch {
        // not a JSON line
      }
    });
    child.once("exit", (code) => reject(new Error(`sequencer exited with ${code} before listening`)));
  });
  return {
    address: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
      }),
  };
}
