/**
 * A `worm` command run as its own process for a benchmark: started (optionally with a module
 * preloaded), its first JSON line the caller waits for, stopped with SIGTERM (SIGKILL after
 * `STOP_GRACE_MS`). Each runs in its own process group; `killAllWormProcesses` (synchronous, for an
 * `exit` handler) kills every group still alive, so a bench that dies leaves none behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

const WORM = new URL("../../apps/cli/bin/worm.ts", import.meta.url).pathname;
const STOP_GRACE_MS = 5_000;
const live = new Set<ChildProcess>();

export interface WormProcess {
  readonly pid: number;
  /** The JSON line it was waited for. */
  readonly ready: Record<string, unknown>;
  stop(): Promise<void>;
}

export interface WormProcessOptions {
  /** What it is, for errors. */
  readonly what: string;
  /** The line that says it is ready (default: `{"event":"listening"}`). */
  readonly ready?: (line: Record<string, unknown>) => boolean;
  /** A module to `--import` after tsx. */
  readonly preload?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function startWormProcess(args: readonly string[], o: WormProcessOptions): Promise<WormProcess> {
  const node = ["--import", "tsx", ...(o.preload ? ["--import", o.preload] : []), WORM, ...args];
  const child = spawn(process.execPath, node, { stdio: ["ignore", "pipe", "inherit"], detached: true, env: { ...process.env, ...o.env } });
  live.add(child);
  child.once("exit", () => live.delete(child));
  const isReady = o.ready ?? ((l) => l.event === "listening");
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS).unref();
    });
  return new Promise<WormProcess>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (isReady(line)) resolve({ pid: child.pid!, ready: line, stop });
      } catch {
        // not a JSON line
      }
    });
    child.once("exit", (code) => reject(new Error(`${o.what} exited with ${code} before it was ready`)));
  });
}

/** SIGKILL every worm process group still alive (synchronous: safe in an `exit` handler). */
export function killAllWormProcesses(): void {
  for (const c of live) {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {
      // gone already
    }
  }
}
