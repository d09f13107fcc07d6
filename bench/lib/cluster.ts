/**
 * Starts acceptors as separate processes (`worm node`), like the peers' clusters, each on its own
 * classic-level directory with synced writes, and stops them afterwards. `crashRestart` kills one
 * with SIGKILL and starts it again on its port and directory; `rssBytes` reads a process's RSS.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const WORM = new URL("../../apps/cli/bin/worm.ts", import.meta.url).pathname;
/** The compiled `worm` (`npm run build`): starts without transpiling, as an installed one does. */
const WORM_COMPILED = new URL("../../dist/apps/cli/bin/worm.js", import.meta.url).pathname;

export interface ProcessCluster {
  readonly addresses: string[];
  readonly dir: string;
  /** Acceptor `id`'s process id (its current incarnation). */
  pid(id: number): number;
  /** SIGKILL acceptor `id`, start it again on the same port and directory; ms from the kill until it listens. */
  crashRestart(id: number): Promise<number>;
  stop(): Promise<void>;
}

/** A process's resident set size (Linux: /proc/<pid>/status). */
export async function rssBytes(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Spawn `worm node` and wait for its listening line; its port. */
function spawnAcceptor(children: ChildProcess[], id: number, args: string[], compiled: boolean, preload: readonly string[]): Promise<number> {
  const worm = compiled ? [WORM_COMPILED] : ["--import", "tsx", WORM];
  const child = spawn(process.execPath, [...preload.flatMap((p) => ["--import", p]), ...worm, "node", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children[id] = child;
  return new Promise<number>((resolve, reject) => {
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
}

/**
 * `nodeArgs`: more `worm node` flags for every acceptor (e.g. `--cache-bytes-max`); `compiled`: run
 * dist/'s `worm`; `preload`: modules each acceptor process imports first (e.g. lib/memory-probe.ts).
 */
export async function startProcessCluster(acceptors = 3, clusterId = "bench", nodeArgs: readonly string[] = [], compiled = false, preload: readonly string[] = []): Promise<ProcessCluster> {
  if (compiled && !existsSync(WORM_COMPILED)) throw new Error(`${WORM_COMPILED} is missing: run npm run build first`);
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
  const argsOf = (id: number, port: number) => ["--id", String(id), "--listen", `127.0.0.1:${port}`, "--cluster-id", clusterId, "--data-dir", join(dir, `a${id}`), ...nodeArgs];
  try {
    const ports = await Promise.all(Array.from({ length: acceptors }, (_, id) => spawnAcceptor(children, id, [...argsOf(id, 0), "--init"], compiled, preload)));
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    const crashRestart = async (id: number): Promise<number> => {
      const child = children[id]!;
      const t0 = performance.now();
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
      await spawnAcceptor(children, id, argsOf(id, ports[id]!), compiled, preload);
      return performance.now() - t0;
    };
    return { addresses, dir, pid: (id) => children[id]!.pid!, crashRestart, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
