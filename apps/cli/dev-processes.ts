/**
 * `worm dev --processes`: the dev cluster with each acceptor a `worm node` process and the log
 * sequencer a `worm log sequencer` process (with --kv, each KV node a `worm kv serve` process), so
 * that one can be stopped (`kill PID`, `kill -STOP PID`) and started again (the command the status
 * line prints). This process supervises: it writes the cluster file, looks at every process once a
 * second (an acceptor's Status call, a connection to the sequencer or a KV node), reports each
 * change with the status table, and stops them all when it stops. A
 * child also stops when this process dies, even by SIGKILL: it holds an IPC channel to it (run.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { dirname } from "node:path";
import { AdminClient } from "../../wor/node/admin-client.ts";
import type { PartitionMap } from "../kv/core/partitions.ts";
import { type DevOptions, type DevRunning, type StatusRow, acceptorDir, devLayout, devTarget, displayPath, portHint, removeFresh, writeClusterFile } from "./dev-cluster.ts";
import { ensureDevKv, kvDir, kvServeArgs } from "./dev-kv.ts";
import { CliFailure, EXIT, operational } from "./errors.ts";
import { wormCommand } from "./output.ts";

const DEV_PROCESS_LIMITS = Object.freeze({
  /** How long a process may take to say it listens. */
  startMsMax: 30_000,
  /** How often each process is looked at. */
  statusPollMs: 1_000,
  /** How long a look may take before the process counts as not answering. */
  probeMsMax: 800,
  /** How long a process may take to stop on SIGTERM before it is killed. */
  stopMsMax: 10_000,
  /** Bytes of a child's stderr kept for messages. */
  stderrBytesMax: 8_192,
});

/** A `worm` child process: its role, its exit, what it said on stderr. */
class DevChild {
  readonly proc: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stderr = "";
  readonly exited: Promise<void>;

  constructor(
    readonly role: string,
    args: readonly string[],
  ) {
    // The same worm, run the way this one was (tsx's loader from a clone, plain node when installed).
    this.proc = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], { stdio: ["ignore", "pipe", "pipe", "ipc"] });
    this.proc.stderr!.setEncoding("utf8").on("data", (s: string) => {
      this.stderr = (this.stderr + s).slice(-DEV_PROCESS_LIMITS.stderrBytesMax);
    });
    this.exited = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.exit ? undefined : this.proc.pid;
  }

  /** Its `{"event":"listening",…}` line; fails with its own message if it exits first. */
  listening(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(operational(`${this.role} did not start within ${DEV_PROCESS_LIMITS.startMsMax} ms`)), DEV_PROCESS_LIMITS.startMsMax);
      const stdout = this.proc.stdout!.setEncoding("utf8");
      const onData = (s: string) => {
        out += s;
        const line = out.split("\n").find((l) => l.startsWith('{"event":"listening"'));
        if (!line) return;
        clearTimeout(timer);
        stdout.off("data", onData).resume(); // later lines (sessionClosed) are not kept
        resolve(JSON.parse(line) as { port: number });
      };
      stdout.on("data", onData);
      void this.exited.then(() => {
        clearTimeout(timer);
        const said = this.stderr.trim().split("\n").at(-1)?.replace(/^worm: /, "") ?? "";
        reject(new CliFailure(portHint(said || `${this.role} exited (${this.exitText()})`), this.exit?.code === EXIT.usage ? EXIT.usage : EXIT.operational));
      });
    });
  }

  exitText(): string {
    return this.exit?.signal ? `signal ${this.exit.signal}` : `exit code ${this.exit?.code}`;
  }

  async stop(): Promise<void> {
    if (this.exit) return;
    this.proc.kill("SIGTERM");
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), DEV_PROCESS_LIMITS.stopMsMax);
    await this.exited;
    clearTimeout(killer);
  }
}

/** Whether something accepts connections at host:port within the probe limit. */
function accepts(address: string): Promise<boolean> {
  const at = address.lastIndexOf(":");
  return new Promise((resolve) => {
    const socket = connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)), timeout: DEV_PROCESS_LIMITS.probeMsMax });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/** Start the processes and write the cluster file; `onChange` gets the status table whenever a process's state changes. */
export async function startDevProcesses(o: DevOptions, onChange: (rows: StatusRow[], changed: readonly StatusRow[]) => void): Promise<DevRunning> {
  const layout = await devLayout(o);
  const children: DevChild[] = [];
  const stopAll = () => Promise.all(children.map((c) => c.stop()));
  let sequencer: DevChild | undefined;
  let addresses: string[];
  let sequencerAddress: string;
  try {
    const acceptors = layout.allIds.map((id) => {
      const args = ["node", "--id", String(id), "--cluster-id", layout.clusterId, "--listen", `${layout.host}:${layout.port(id)}`, "--data-dir", acceptorDir(layout.dataDir, id)];
      const child = new DevChild(`acceptor ${id}`, layout.fresh.includes(id) ? [...args, "--init"] : args);
      children.push(child);
      return child;
    });
    const ports = await Promise.all(acceptors.map((c) => c.listening()));
    addresses = ports.map((p) => `${layout.host}:${p.port}`);
    await writeClusterFile(layout, devTarget(layout, addresses, []));
    const owner = `dev-sequencer-${randomUUID()}`;
    sequencer = new DevChild("sequencer", ["log", "sequencer", "--listen", `${layout.host}:${layout.sequencerPort}`, "--cluster", layout.clusterFile, "--owner", owner]);
    children.push(sequencer);
    sequencerAddress = `${layout.host}:${(await sequencer.listening()).port}`;
  } catch (e) {
    await stopAll();
    await removeFresh(layout);
    throw e;
  }
  const target = devTarget(layout, addresses, [sequencerAddress]);
  /** Where each child listens, and its data directory (acceptors, the sequencer, then the KV nodes). */
  const where = [...addresses.map((address, k) => ({ address, data: displayPath(acceptorDir(layout.dataDir, layout.allIds[k]!)) })), { address: sequencerAddress, data: "" }];
  let kv: PartitionMap | undefined;
  try {
    await writeClusterFile(layout, target);
    if (layout.kvPartitions > 0) {
      kv = await ensureDevKv(layout, target);
      const nodes = kv.partitions.map((p) => {
        const child = new DevChild(`kv node ${p.id}`, kvServeArgs(layout.dataDir, layout.clusterFile, p.id));
        children.push(child);
        where.push({ address: p.node, data: displayPath(kvDir(layout.dataDir, p.id)) });
        return child;
      });
      await Promise.all(nodes.map((c) => c.listening()));
    }
  } catch (e) {
    await stopAll();
    throw e;
  }

  const admins = addresses.map((a) => new AdminClient(a, { deadlineMs: DEV_PROCESS_LIMITS.probeMsMax }));
  const answering = children.map(() => true);
  const row = (c: DevChild, k: number): StatusRow => {
    const state = c.exit ? (answering[k] ? "up (not started by worm dev)" : `stopped (${c.exitText()})`) : answering[k] ? "up" : "not answering";
    return { role: c.role, address: where[k]!.address, pid: c.pid, state, data: where[k]!.data };
  };
  const rows = () => children.map(row);
  let last = rows();
  let closing = false;
  const probe = async (k: number): Promise<boolean> => {
    try {
      if (k >= admins.length) return await accepts(where[k]!.address);
      await admins[k]!.status();
      return true;
    } catch {
      return false;
    }
  };
  const look = async () => {
    if (closing) return;
    const seen = await Promise.all(children.map((_, k) => probe(k)));
    if (closing) return;
    seen.forEach((ok, k) => {
      answering[k] = ok;
    });
    const now = rows();
    const changed = now.filter((r, k) => r.state !== last[k]!.state || r.pid !== last[k]!.pid);
    last = now;
    if (changed.length > 0) onChange(now, changed);
  };
  let looking: Promise<void> = Promise.resolve();
  const poll = setInterval(() => {
    looking = looking.then(look);
  }, DEV_PROCESS_LIMITS.statusPollMs);
  // A process that exits is reported at once, not at the next look.
  for (const [k, c] of children.entries()) {
    void c.exited.then(() => {
      answering[k] = false;
      looking = looking.then(look);
    });
  }
  let closed: Promise<void> | undefined;
  return {
    clusterId: layout.clusterId,
    clusterFile: layout.clusterFile,
    target,
    sequencer: sequencerAddress,
    ...(kv ? { kv } : {}),
    acceptors: addresses.map((address, k) => ({ acceptorId: layout.allIds[k]!, host: layout.host, port: Number(address.slice(address.lastIndexOf(":") + 1)), dataDir: acceptorDir(layout.dataDir, layout.allIds[k]!), pid: children[k]!.proc.pid! })),
    status: rows,
    stopped: new Promise<never>(() => {}),
    close: () =>
      (closed ??= (async () => {
        closing = true;
        clearInterval(poll);
        await looking;
        for (const a of admins) a.close();
        await stopAll();
      })()),
  };
}

/** How to start a stopped process again by hand. */
export function restartCommand(running: DevRunning, role: string): string {
  const file = displayPath(running.clusterFile);
  const w = wormCommand();
  if (role === "sequencer") return `${w} log sequencer --listen ${running.sequencer} --cluster ${file}`;
  const kvNode = /^kv node (\d+)$/.exec(role);
  if (kvNode) return `${w} ${kvServeArgs(displayPath(dirname(running.clusterFile)), file, Number(kvNode[1])).join(" ")}`;
  return `${w} node --cluster ${file} --id ${role.replace(/^acceptor /, "")}`;
}
