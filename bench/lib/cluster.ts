/**
 * Starts acceptors as separate processes (`worm node`), like the peers' clusters, each on its own
 * classic-level directory with synced writes, and stops them afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const WORM = new URL("../../apps/cli/bin/worm.ts", import.meta.url).pathname;

export interface ProcessCluster {
  readonly addresses: string[];
  readonly dir: string;
  stop(): Promise<void>;
}

export async function startProcessCluster(acceptors = 3, clusterId = "bench"): Promise<ProcessCluster> {
  const dir = await mkdtemp(join(tmpdir(), "worm-bench-"));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once("exit", () => resolve());
            c.kill("SIGTERM");
            setTimeout(() => c.kill("SIGKILL"), 5_000).unref();
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const addresses = await Promise.all(
      Array.from({ length: acceptors }, async (_, id) => {
        const args = ["--import", "tsx", WORM, "node", "--id", String(id), "--listen", "127.0.0.1:0", "--cluster-id", clusterId, "--data-dir", join(dir, `a${id}`), "--init"];
        const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
        children.push(child);
        const port = await new Promise<number>((resolve, reject) => {
          const lines = createInterface({ input: child.stdout! });
          lines.on("line", (line) => {
            try {
              const ev = JSON.parse(line) as { event?: string; port?: number };
              if (ev.event === "listening" && typeof ev.port === "number") resolve(ev.port);
            } catch {
              // not a JSON line
            }
          });
          child.once("exit", (code) => reject(new Error(`acceptor ${id} exited with ${code} before listening`)));
        });
        return `127.0.0.1:${port}`;
      }),
    );
    return { addresses, dir, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
