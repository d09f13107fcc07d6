/** Starts a sequencer as its own process (`worm log sequencer`) for a process cluster, and stops it. */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ProcessCluster } from "./cluster.ts";
import { startWormProcess } from "./worm-process.ts";

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
  const p = await startWormProcess(["log", "sequencer", "--cluster", clusterFile, "--listen", "127.0.0.1:0", ...extraArgs], { what: "sequencer" });
  return { address: `127.0.0.1:${p.ready.port as number}`, stop: p.stop };
}
