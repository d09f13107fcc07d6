/**
 * Real-process test harness: runs `worm` (apps/cli/bin/worm.ts through tsx, or dist/'s compiled one
 * under `npm test`) as child processes of this Node, reads their JSON lines, and kills every
 * process it started when the test ends, even on failure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { WorClient } from "../../wor/node/client.ts";
import { stablePorts } from "../ports.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const WORM = join(REPO, "apps/cli/bin/worm.ts");
/** tsx's loader by its full address: a `worm` started in a directory outside the repository finds it too. */
const TSX = import.meta.resolve("tsx");
/** The compiled `worm`, as users run it: `npm test` builds dist/ first and says so (WORM_TEST_COMPILED=1),
 *  and each start then takes about half the time of the sources through tsx. Without it, the sources
 *  (a test run on its own never sees a stale dist/). */
const COMPILED = join(REPO, "dist/apps/cli/bin/worm.js");

/** Node's arguments that start the `worm` under test, before its own. */
export const wormArgs = (): readonly string[] => (process.env.WORM_TEST_COMPILED === "1" ? [COMPILED] : ["--import", TSX, WORM]);

/** No process a test starts outlives this (a hung child fails its test instead of the whole run). */
export const PROCESS_DEADLINE_MS = 150_000;

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface WormOptions {
  readonly cwd?: string;
  /** Run this `worm` executable (an installed one, started through its shebang) instead of the repository's source. */
  readonly bin?: string;
  /** Environment variables to set (undefined: remove). WORM_CLUSTER is removed and WORM_CONFIG_DIR points at
   *  a directory that does not exist unless given here, so the caller's own contexts never leak into a test. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Written to the process's stdin, which is then closed (default: no stdin). */
  readonly input?: string;
  readonly deadlineMs?: number;
}

/** A running `worm` process: its output so far, its JSON lines, and its exit. */
export class Worm {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Finished>;
  private readonly started = performance.now();
  private readonly waiters = new Set<() => void>();

  constructor(args: readonly string[], options: WormOptions = {}) {
    const { cwd = REPO, input, deadlineMs = PROCESS_DEADLINE_MS, bin } = options;
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", WORM_CLUSTER: undefined, WORM_CONFIG_DIR: join(tmpdir(), "worm-harness-no-config"), ...options.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    this.child = spawn(bin ?? process.execPath, bin ? args : [...wormArgs(), ...args], {
      cwd,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env,
    });
    if (input !== undefined) this.child.stdin!.end(input);
    const deadline = setTimeout(() => {
      this.stderr += `\n[harness: killed after ${deadlineMs} ms]`;
      this.child.kill("SIGKILL");
    }, deadlineMs);
    deadline.unref();
    this.child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      this.stdout += s;
      for (const w of this.waiters) w();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      this.stderr += s;
    });
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        clearTimeout(deadline);
        for (const w of this.waiters) w();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, ms: performance.now() - this.started });
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Every complete stdout line that parses as a JSON object. */
  jsonLines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.stdout.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial line: not complete yet
      }
    }
    return out;
  }

  /** The first JSON line matching `pred`; fails if the process exits first or time runs out. */
  waitForJson(pred: (o: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.jsonLines().find(pred);
        if (found) {
          done();
          resolve(found);
        } else if (!this.running) {
          done();
          reject(new Error(`worm exited (${this.child.exitCode ?? this.child.signalCode}) before the expected line; stderr: ${this.stderr.trim()}; stdout: ${this.stdout.trim()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms; stderr: ${this.stderr.trim()}; stdout: ${this.stdout.trim()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<Finished> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

/** Run `worm args` to completion. */
export function runWorm(args: readonly string[], options: WormOptions = {}): Promise<Finished> {
  return new Worm(args, options).exited;
}

/** Every process started through this tracker is SIGKILLed when the test ends. */
export class Procs {
  private readonly all = new Set<Worm>();
  constructor(t: TestContext) {
    t.after(async () => {
      await Promise.all([...this.all].map((p) => p.kill("SIGKILL")));
    });
  }
  start(args: readonly string[], options: WormOptions = {}): Worm {
    const w = new Worm(args, options);
    this.all.add(w);
    return w;
  }
}

/** A fresh temporary directory, removed when the test ends. */
export async function tempDir(t: TestContext, prefix = "worm-e2e-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface NodeHandle {
  readonly id: number;
  readonly dataDir: string;
  port: number;
  proc: Worm;
}

/** Start `worm node` and wait for its listening line (on `port`; by default one from test/ports.ts, so a restart can bind it again). */
export async function startNode(
  procs: Procs,
  o: { id: number; dataDir: string; clusterId: string; port?: number; init?: boolean; args?: readonly string[]; env?: WormOptions["env"] },
): Promise<NodeHandle> {
  const port = o.port ?? (await stablePorts(1))[0]!;
  const args = ["node", "--id", String(o.id), "--cluster-id", o.clusterId, "--listen", `127.0.0.1:${port}`, "--data-dir", o.dataDir, ...(o.args ?? [])];
  if (o.init ?? true) args.push("--init");
  const proc = procs.start(args, o.env ? { env: o.env } : {});
  const line = await proc.waitForJson((l) => l.event === "listening");
  return { id: o.id, dataDir: o.dataDir, port: line.port as number, proc };
}

/** Three acceptors as separate processes, each on its own data directory under `dir` (`args`: more `worm node` flags). */
export async function startCluster(procs: Procs, dir: string, clusterId: string, n = 3, args: readonly string[] = []): Promise<NodeHandle[]> {
  return Promise.all(Array.from({ length: n }, (_, k) => startNode(procs, { id: k + 1, dataDir: join(dir, `a${k + 1}`), clusterId, args })));
}

/** Restart a node on its data directory and port, without --init. */
export async function restartNode(procs: Procs, n: NodeHandle, clusterId: string, args: readonly string[] = []): Promise<void> {
  const again = await startNode(procs, { id: n.id, dataDir: n.dataDir, clusterId, port: n.port, init: false, args });
  n.proc = again.proc;
}

export const addressesOf = (nodes: readonly NodeHandle[]) => nodes.map((n) => `127.0.0.1:${n.port}`);

/** A client over gRPC to these addresses; closed when the test ends. */
export function client(t: TestContext, addresses: readonly string[], o: { proposerId?: number; cache?: boolean; roundTimeoutMs?: number } = {}): WorClient {
  const c = new WorClient({
    transport: grpcTransport({ addresses }),
    acceptors: addresses.length,
    segmentSize: 64,
    roundTimeoutMs: o.roundTimeoutMs ?? 4_000,
    resendMs: 300,
    ...(o.proposerId !== undefined ? { proposerId: o.proposerId } : {}),
    ...(o.cache === false ? { cacheEntriesMax: 0 } : {}),
  });
  t.after(() => c.close());
  return c;
}

export const text = (s: string) => new TextEncoder().encode(s);
export const untext = (b: Uint8Array) => new TextDecoder().decode(b);

/** Assert a finished worm failed with exactly one `worm: ...` line on stderr and no stack trace. */
export function oneLineError(f: Finished): string {
  const lines = f.stderr.split("\n").filter((l) => l.length > 0);
  if (lines.length !== 1 || !lines[0]!.startsWith("worm: ")) throw new Error(`expected one 'worm: ' line on stderr, got ${JSON.stringify(f.stderr)}`);
  if (/\n\s+at |Error:/.test(f.stderr)) throw new Error(`stderr carries a stack trace or raw error: ${JSON.stringify(f.stderr)}`);
  return lines[0]!;
}
