/**
 * `worm dev`: a local cluster of N acceptors in this one process, on classic-level storage under a
 * data directory, and a log sequencer for it (`worm log` uses it by default: consecutive appends
 * land in consecutive slots). The first run initialises each acceptor's identity; later runs reuse
 * them (and the cluster id, from `<data-dir>/cluster.json`). Writes the cluster file (naming the
 * sequencer), runs a self-check over gRPC (create space `dev`, capture + write + read one register
 * with the cache off) and serves until SIGINT/SIGTERM, then closes servers and storage.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import * as Effect from "effect/Effect";
import { Command, Flag } from "effect/cli";
import { majority } from "../../paxos/quorum.ts";
import { CLUSTER_LIMITS } from "../../wor/node/cluster-config.ts";
import { SequencerNode } from "../log/node/sequencer-node.ts";
import { type SequencerServer, startSequencerServer } from "../log/node/sequencer-server.ts";
import { DEFAULT_SEGMENT_SIZE, type Target, loadCluster, openClient, withClient } from "./cluster.ts";
import { CliFailure, operational, task, usage } from "./errors.ts";
import { type RunningAcceptor, startAcceptor } from "../../wor/node/run-acceptor.ts";
import { printJson, printLine, showValue, table, wormCommand } from "./output.ts";
import { markServing } from "./run.ts";

export const DEV_SPACE = "dev";

export interface DevOptions {
  readonly dataDir: string;
  readonly acceptors: number;
  /** Acceptor i (1-based) listens on basePort + i - 1, the sequencer on the next port; 0: any free ports. */
  readonly basePort: number;
  readonly host?: string;
}

export interface DevCluster {
  readonly clusterId: string;
  readonly clusterFile: string;
  readonly acceptors: readonly RunningAcceptor[];
  /** Where the log sequencer serves. */
  readonly sequencer: string;
  readonly target: Target;
  /** Rejects when an acceptor stops on its own. */
  readonly stopped: Promise<never>;
  close(): Promise<void>;
}

/** A path as the user would type it: relative below the working directory, absolute elsewhere. */
export function displayPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r === "" || r.startsWith("..") ? p : r;
}

const acceptorDir = (dataDir: string, id: number) => join(dataDir, `acceptor-${id}`);

/** Start the acceptors and write the cluster file. */
export async function startDevCluster(o: DevOptions): Promise<DevCluster> {
  if (!Number.isSafeInteger(o.acceptors) || o.acceptors < 1 || o.acceptors > CLUSTER_LIMITS.acceptorsMax) {
    throw usage(`--acceptors must be 1..${CLUSTER_LIMITS.acceptorsMax} (got ${o.acceptors})`);
  }
  if (!Number.isSafeInteger(o.basePort) || o.basePort < 0 || o.basePort + o.acceptors > 65_535) {
    throw usage(`--base-port must be 0 or a port such that all ${o.acceptors + 1} ports (acceptors and the sequencer) fit below 65536`);
  }
  const dataDir = resolve(o.dataDir);
  const clusterFile = join(dataDir, "cluster.json");
  const host = o.host ?? "127.0.0.1";
  let clusterId: string;
  let segmentSize = DEFAULT_SEGMENT_SIZE;
  if (existsSync(clusterFile)) {
    const config = await loadCluster(clusterFile);
    if (config.acceptors.length !== o.acceptors) {
      throw usage(`${dataDir} holds a cluster of ${config.acceptors.length} acceptors; run with --acceptors ${config.acceptors.length} or use another --data-dir`);
    }
    clusterId = config.clusterId;
    segmentSize = config.segmentSize;
  } else {
    const leftovers = existsSync(dataDir) ? (await readdir(dataDir)).filter((n) => n.startsWith("acceptor-")) : [];
    if (leftovers.length > 0) throw usage(`${dataDir} holds acceptor data (${leftovers.join(", ")}) but no cluster.json; remove the directory or use another --data-dir`);
    clusterId = `dev-${randomBytes(4).toString("hex")}`;
  }
  await mkdir(dataDir, { recursive: true });

  const ids = Array.from({ length: o.acceptors }, (_, k) => k + 1);
  const fresh = ids.filter((id) => !existsSync(acceptorDir(dataDir, id)));
  const started = await Promise.allSettled(
    ids.map((id) => {
      const dir = acceptorDir(dataDir, id);
      return startAcceptor({ clusterId, acceptorId: id, dataDir: dir, host, port: o.basePort === 0 ? 0 : o.basePort + id - 1, init: fresh.includes(id) });
    }),
  );
  const acceptors = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  const closeAll = async () => {
    await Promise.allSettled(acceptors.map((a) => a.close()));
  };
  if (failed) {
    await closeAll();
    // Directories this run initialised hold nothing but an identity and no cluster file names them yet:
    // remove them, so that the next run starts fresh instead of refusing leftovers.
    if (!existsSync(clusterFile)) await Promise.all(fresh.map((id) => rm(acceptorDir(dataDir, id), { recursive: true, force: true })));
    const e = failed.reason;
    if (e instanceof CliFailure && /address in use/.test(e.message)) throw new CliFailure(`${e.message}; pick another --base-port, or --base-port 0 for free ports`, e.exitCode);
    throw e;
  }

  const addresses = acceptors.map((a) => `${a.host}:${a.port}`);
  const acceptorTarget: Target = { addresses, acceptorIds: ids, clusterId, segmentSize, quorum: majority(o.acceptors), security: {}, timeoutMs: 5_000, sequencers: [] };
  let sequencer: DevSequencer;
  try {
    sequencer = await startDevSequencer(acceptorTarget, host, o.basePort === 0 ? 0 : o.basePort + o.acceptors);
  } catch (e) {
    await closeAll();
    throw e;
  }
  const closeEverything = async () => {
    await sequencer.close();
    await closeAll();
  };
  const file = {
    clusterId,
    segmentSize,
    quorum: acceptorTarget.quorum,
    acceptors: acceptors.map((a, k) => ({ id: a.acceptorId, address: addresses[k]!, dataDir: relative(dataDir, a.dataDir) })),
    sequencers: [sequencer.address],
  };
  try {
    const tmp = `${clusterFile}.tmp`;
    await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`);
    await rename(tmp, clusterFile);
  } catch (e) {
    await closeEverything();
    throw operational(`cannot write ${clusterFile}: ${(e as Error).message}`);
  }
  const target: Target = { ...acceptorTarget, sequencers: file.sequencers };
  const stopped = Promise.race(acceptors.map((a) => a.stopped));
  stopped.catch(() => {});
  let closing: Promise<void> | undefined;
  return { clusterId, clusterFile, acceptors, sequencer: sequencer.address, target, stopped, close: () => (closing ??= closeEverything()) };
}

interface DevSequencer {
  readonly address: string;
  close(): Promise<void>;
}

/** The cluster's log sequencer, in this process: a `worm log sequencer` with a fresh owner. */
async function startDevSequencer(target: Target, host: string, port: number): Promise<DevSequencer> {
  const { client } = openClient(target);
  const node = new SequencerNode({ client, owner: `dev-sequencer-${randomUUID()}` });
  let server: SequencerServer;
  try {
    server = await startSequencerServer({ sequencer: node, host, port });
  } catch (e) {
    node.close();
    client.close();
    const msg = (e as Error).message ?? String(e);
    throw operational(`sequencer: cannot listen on ${host}:${port}: ${/in use|EADDRINUSE/i.test(msg) ? "address in use; pick another --base-port, or --base-port 0 for free ports" : msg}`);
  }
  const address = `${host}:${server.port}`;
  node.advertise(address);
  return {
    address,
    async close() {
      await server.close();
      node.close();
      client.close();
    },
  };
}

export interface SelfCheck {
  readonly space: string;
  readonly address: number;
  readonly value: Uint8Array;
}

/** Create space `dev`, capture + write a fresh address, read it back from a client with no cache. */
export async function selfCheck(dev: DevCluster): Promise<SelfCheck> {
  await withClient(dev.target, (c) => c.createSpace(DEV_SPACE));
  let highest = -1;
  for (const a of dev.acceptors) for (const s of a.node.status().spaces) if (s.name === DEV_SPACE) highest = Math.max(highest, s.highestAccepted);
  const value = new TextEncoder().encode(`self-check ${new Date().toISOString()}`);
  for (let address = highest + 1; address < highest + 1 + 8; address++) {
    const wrote = await withClient(dev.target, async (c) => {
      const cap = await c.capture(DEV_SPACE, address);
      if (cap._tag === "Written") return false; // someone else's value: try the next address
      if (cap._tag !== "Captured") throw operational(`self-check: capture of ${DEV_SPACE}[${address}] gave ${cap._tag}`);
      const w = await c.write(cap.capture, address, value);
      if (w._tag !== "Ok") throw operational(`self-check: write of ${DEV_SPACE}[${address}] gave ${w._tag}`);
      return true;
    });
    if (!wrote) continue;
    const r = await withClient(dev.target, (c) => c.read(DEV_SPACE, address), { cache: false });
    if (r._tag !== "Written" || Buffer.compare(r.value, value) !== 0) throw operational(`self-check: read of ${DEV_SPACE}[${address}] gave ${r._tag}, not the value written`);
    return { space: DEV_SPACE, address, value };
  }
  throw operational(`self-check: ${DEV_SPACE}[${highest + 1}..${highest + 8}] were all written by others`);
}

function announce(dev: DevCluster, check: SelfCheck, json: boolean): void {
  const file = displayPath(dev.clusterFile);
  if (json) {
    for (const a of dev.acceptors) printJson({ event: "listening", acceptorId: a.acceptorId, clusterId: dev.clusterId, host: a.host, port: a.port, dataDir: a.dataDir });
    printJson({ event: "ready", clusterId: dev.clusterId, clusterFile: dev.clusterFile, addresses: dev.target.addresses, sequencer: dev.sequencer, selfCheck: { space: check.space, address: check.address, ok: true } });
    return;
  }
  const q = dev.target.quorum;
  printLine(`worm dev: cluster ${dev.clusterId}, ${dev.acceptors.length} acceptors (quorum ${q}), segment size ${dev.target.segmentSize}`);
  printLine(table(["ACCEPTOR", "ADDRESS", "DATA"], dev.acceptors.map((a) => [String(a.acceptorId), `${a.host}:${a.port}`, displayPath(a.dataDir)])));
  printLine(`log sequencer: ${dev.sequencer}`);
  printLine(`cluster file: ${file}`);
  printLine(`self-check passed: wrote ${check.space}[${check.address}] = ${showValue(check.value)} and read it back`);
  printLine("");
  printLine("try:");
  const w = wormCommand();
  printLine(`  ${w} wor write ${DEV_SPACE} ${check.address + 1} --value hello --cluster ${file}`);
  printLine(`  ${w} wor read ${DEV_SPACE} 0 --to ${check.address + 2} --cluster ${file}`);
  printLine(`  ${w} space create orders --cluster ${file}`);
  printLine(`  ${w} log create events --cluster ${file}`);
  printLine(`  ${w} log append events --data hello --cluster ${file}`);
  printLine(`  ${w} log read events --cluster ${file}`);
  printLine(`  ${w} inspect --cluster ${file} --space ${DEV_SPACE}`);
  printLine("");
  printLine("serving; Ctrl-C to stop");
}

export const devCommand = Command.make(
  "dev",
  {
    dataDir: Flag.String("data-dir").pipe(Flag.withDefault(".data/dev"), Flag.withDescription("where the acceptors keep their state")),
    acceptors: Flag.Int("acceptors").pipe(Flag.withDefault(3), Flag.withDescription("how many acceptors")),
    basePort: Flag.Int("base-port").pipe(
      Flag.withDefault(7100),
      Flag.withDescription("acceptor i listens on base-port + i - 1, the log sequencer on the port after the last acceptor's; 0 picks free ports"),
    ),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print JSON lines instead of text")),
  },
  (c) =>
    Effect.acquireUseRelease(
      task(async () => {
        const dev = await startDevCluster({ dataDir: c.dataDir, acceptors: c.acceptors, basePort: c.basePort });
        try {
          return { dev, check: await selfCheck(dev) };
        } catch (e) {
          await dev.close();
          throw e;
        }
      }),
      ({ dev, check }) =>
        Effect.andThen(
          Effect.sync(() => {
            markServing();
            announce(dev, check, c.json);
          }),
          task(() => dev.stopped),
        ),
      ({ dev }) =>
        Effect.promise(async () => {
          await dev.close();
          if (c.json) printJson({ event: "stopped", clusterId: dev.clusterId });
          else printLine("worm dev: stopped");
        }),
    ),
);
