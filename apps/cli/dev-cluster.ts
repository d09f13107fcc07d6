/**
 * `worm dev`'s cluster: its layout under the data directory (acceptor i in `acceptor-i`, the cluster
 * file `cluster.json`, the cluster id reused from it on later runs), and the in-process mode: N
 * acceptors on classic-level storage and a log sequencer, all in this process (with --kv, the KV's
 * nodes too: dev-kv.ts). The other mode, one process each, is dev-processes.ts; both give the
 * command a `DevRunning`.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { majority } from "../../paxos/quorum.ts";
import { CLUSTER_LIMITS, type GroupEntry } from "../../wor/node/cluster-config.ts";
import { parseAddress } from "../../wor/wire/address.ts";
import { type RunningAcceptor, startAcceptor } from "../../wor/node/run-acceptor.ts";
import type { PartitionMap } from "../kv/core/partitions.ts";
import { SequencerNode } from "../log/node/sequencer-node.ts";
import { type SequencerServer, startSequencerServer } from "../log/node/sequencer-server.ts";
import { DEFAULT_SEGMENT_SIZE, type Target, loadCluster, openClient } from "./cluster.ts";
import { DEV_KV_PARTITIONS, type DevKvNodes, ensureDevKv, startDevKvNodes } from "./dev-kv.ts";
import { CliFailure, operational, usage } from "./errors.ts";

export interface DevOptions {
  readonly dataDir: string;
  readonly acceptors: number;
  /** Acceptor groups besides the main one (docs/ARCHITECTURE.md §3.6): g1..gN, each of `acceptors`
   *  acceptors with ids 100·k + 1.., listening after the sequencer. */
  readonly groups?: number;
  /** Acceptor i (1-based) listens on basePort + i - 1, the sequencer on the next port; 0: any free ports. */
  readonly basePort: number;
  readonly host?: string;
  /** With `--kv`: the partitions of KV `kv` (dev-kv.ts), a node each, listening after the acceptors. */
  readonly kvPartitions?: number;
  /** A KV partition served here moved away (`worm kv move`): why its node refuses from now on. */
  readonly kvMoved?: (partition: number, why: string) => void;
}

/** One row of `worm dev`'s status table. */
export interface StatusRow {
  /** "acceptor 2", "sequencer". */
  readonly role: string;
  readonly address: string;
  readonly pid: number | undefined;
  /** "up", "not answering", "stopped (signal SIGKILL)", ... */
  readonly state: string;
  readonly data: string;
}

/** A running dev cluster, whichever the mode. */
export interface DevRunning {
  readonly clusterId: string;
  readonly clusterFile: string;
  /** The acceptors and the sequencer, as the cluster file names them. */
  readonly target: Target;
  readonly sequencer: string;
  /** With --kv: the KV's map (its nodes run). */
  readonly kv?: PartitionMap;
  readonly acceptors: readonly { readonly acceptorId: number; readonly host: string; readonly port: number; readonly dataDir: string; readonly pid: number }[];
  /** Each acceptor and the sequencer, as they are now. */
  status(): StatusRow[];
  /** Rejects when the cluster stops on its own (in this process: an acceptor failed); never resolves. */
  readonly stopped: Promise<never>;
  close(): Promise<void>;
}

/** What a run starts from: the data directory's cluster id and segment size, and which acceptors are new. */
export interface DevLayout {
  readonly dataDir: string;
  readonly clusterFile: string;
  readonly host: string;
  readonly clusterId: string;
  readonly segmentSize: number;
  readonly ids: readonly number[];
  /** The configuration the acceptors are (docs/ARCHITECTURE.md §3.5): 0 until `worm cluster replace` moved it on. */
  readonly epoch: number;
  /** The other acceptor groups: each its name, acceptor ids and epoch. */
  readonly groups: readonly { readonly name: string; readonly ids: readonly number[]; readonly epoch: number }[];
  /** Every acceptor: the main group's, then each group's in order. */
  readonly allIds: readonly number[];
  /** Acceptors with no directory yet, in a new cluster: they start with --init. */
  readonly fresh: readonly number[];
  /** The port acceptor `id` asks for (0: any), and the sequencer's. */
  port(id: number): number;
  readonly sequencerPort: number;
  /** --base-port (0: any free ports); KV node k listens on basePort + kvOffset + k, after every acceptor and the sequencer. */
  readonly basePort: number;
  readonly kvOffset: number;
  /** The KV's partitions (0: no KV). */
  readonly kvPartitions: number;
}

export const acceptorDir = (dataDir: string, id: number) => join(dataDir, `acceptor-${id}`);

/** Groups `worm dev --groups` runs at most. */
const DEV_GROUPS_MAX = 4;

/** A path as the user would type it: relative below the working directory, absolute elsewhere. */
export function displayPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r === "" || r.startsWith("..") ? p : r;
}

/** Check the options and read what an earlier run left in the data directory. */
export async function devLayout(o: DevOptions): Promise<DevLayout> {
  if (!Number.isSafeInteger(o.acceptors) || o.acceptors < 1 || o.acceptors > CLUSTER_LIMITS.acceptorsMax) {
    throw usage(`--acceptors must be 1..${CLUSTER_LIMITS.acceptorsMax} (got ${o.acceptors})`);
  }
  const groupCount = o.groups ?? 0;
  if (!Number.isSafeInteger(groupCount) || groupCount < 0 || groupCount > DEV_GROUPS_MAX) throw usage(`--groups must be 0..${DEV_GROUPS_MAX} (got ${groupCount})`);
  const kvPartitions = o.kvPartitions ?? 0;
  if (o.kvPartitions !== undefined && (!Number.isSafeInteger(kvPartitions) || kvPartitions < 1 || kvPartitions > DEV_KV_PARTITIONS.max)) {
    throw usage(`--kv-partitions must be 1..${DEV_KV_PARTITIONS.max} (got ${kvPartitions})`);
  }
  const kvOffset = o.acceptors * (1 + groupCount) + 1;
  const portsNeeded = kvOffset + kvPartitions;
  if (!Number.isSafeInteger(o.basePort) || o.basePort < 0 || o.basePort + portsNeeded > 65_535) {
    throw usage(`--base-port must be 0 or a port such that all ${portsNeeded} ports (acceptors, the sequencer${kvPartitions > 0 ? " and the KV nodes" : ""}) fit below 65536`);
  }
  const dataDir = resolve(o.dataDir);
  const clusterFile = join(dataDir, "cluster.json");
  let clusterId: string;
  let segmentSize = DEFAULT_SEGMENT_SIZE;
  let ids = Array.from({ length: o.acceptors }, (_, k) => k + 1);
  let epoch = 0;
  let groups = Array.from({ length: groupCount }, (_, g) => ({ name: `g${g + 1}`, ids: Array.from({ length: o.acceptors }, (_, k) => 100 * (g + 1) + k + 1), epoch: 0 }));
  /** A reconfigured cluster's acceptors listen where its configuration says (the chain holds their addresses). */
  let ports: ReadonlyMap<number, number> | undefined;
  if (existsSync(clusterFile)) {
    const config = await loadCluster(clusterFile);
    if (config.acceptors.length !== o.acceptors) {
      throw usage(`${dataDir} holds a cluster of ${config.acceptors.length} acceptors; run with --acceptors ${config.acceptors.length} or use another --data-dir`);
    }
    const had = config.groups?.length ?? 0;
    if (had !== groupCount) throw usage(`${dataDir} holds a cluster with ${had} group${had === 1 ? "" : "s"} besides the main one; run with --groups ${had} or use another --data-dir`);
    clusterId = config.clusterId;
    segmentSize = config.segmentSize;
    ids = config.acceptors.map((a) => a.id);
    epoch = config.epoch;
    groups = (config.groups ?? []).map((g) => ({ name: g.name, ids: g.acceptors.map((a) => a.id), epoch: g.epoch }));
    // A reconfigured group's acceptors listen where its configuration says.
    const moved = [...(epoch > 0 ? config.acceptors : []), ...(config.groups ?? []).flatMap((g) => (g.epoch > 0 ? g.acceptors : []))];
    if (moved.length > 0) ports = new Map(moved.map((a) => [a.id, a.port]));
    // The cluster exists: an acceptor without its directory lost its data, and must not come back under its id.
    const lost = [...ids, ...groups.flatMap((g) => g.ids)].filter((id) => !existsSync(acceptorDir(dataDir, id)));
    if (lost.length > 0) {
      throw usage(
        `acceptor ${lost.join(", ")} of ${dataDir} has no data directory: a wiped acceptor must not rejoin under its old id (it forgot what it promised and accepted). ` +
          "Replace it while the others run ('worm node --id NEW --join', then 'worm cluster replace'; docs/OPERATIONS.md §6), or remove the whole data directory to start a new cluster",
      );
    }
  } else {
    const leftovers = existsSync(dataDir) ? (await readdir(dataDir)).filter((n) => n.startsWith("acceptor-")) : [];
    if (leftovers.length > 0) throw usage(`${dataDir} holds acceptor data (${leftovers.join(", ")}) but no cluster.json; remove the directory or use another --data-dir`);
    clusterId = `dev-${randomBytes(4).toString("hex")}`;
  }
  await mkdir(dataDir, { recursive: true });
  const allIds = [...ids, ...groups.flatMap((g) => g.ids)];
  /** Main acceptor k at base + k, the sequencer next, then each group's acceptors in order. */
  const slotOf = (id: number) => {
    const k = allIds.indexOf(id);
    return k < ids.length ? k : k + 1;
  };
  return {
    dataDir,
    clusterFile,
    host: o.host ?? "127.0.0.1",
    clusterId,
    segmentSize,
    ids,
    epoch,
    groups,
    allIds,
    fresh: existsSync(clusterFile) ? [] : allIds,
    port: (id) => ports?.get(id) ?? (o.basePort === 0 ? 0 : o.basePort + slotOf(id)),
    sequencerPort: o.basePort === 0 ? 0 : o.basePort + o.acceptors,
    basePort: o.basePort,
    kvOffset,
    kvPartitions,
  };
}

/** Directories this run initialised hold nothing but an identity, and no cluster file names them
 *  yet: after a failed start they are removed, so that the next run starts fresh instead of refusing leftovers. */
export async function removeFresh(layout: DevLayout): Promise<void> {
  if (!existsSync(layout.clusterFile)) await Promise.all(layout.fresh.map((id) => rm(acceptorDir(layout.dataDir, id), { recursive: true, force: true })));
}

/** The target of the acceptors at `addresses` (every acceptor's, in `layout.allIds` order; no TLS, no token: a local cluster). */
export function devTarget(layout: DevLayout, addresses: readonly string[], sequencers: readonly string[]): Target {
  const at = (id: number) => addresses[layout.allIds.indexOf(id)]!;
  // Addresses the acceptors reported listening on: always "host:port".
  const entry = (id: number) => ({ id, ...(parseAddress(at(id)) as Exclude<ReturnType<typeof parseAddress>, string>), dataDir: relative(layout.dataDir, acceptorDir(layout.dataDir, id)) });
  const groups: GroupEntry[] = layout.groups.map((g) => ({ name: g.name, quorum: majority(g.ids.length), epoch: g.epoch, acceptors: g.ids.map(entry) }));
  return {
    addresses: layout.ids.map(at),
    epoch: layout.epoch,
    acceptorIds: layout.ids,
    clusterId: layout.clusterId,
    segmentSize: layout.segmentSize,
    quorum: majority(layout.ids.length),
    security: {},
    timeoutMs: 5_000,
    sequencers,
    ...(groups.length > 0 ? { groups } : {}),
  };
}

/** Write (or rewrite) the cluster file, atomically. */
export async function writeClusterFile(layout: DevLayout, target: Target): Promise<void> {
  const file = {
    clusterId: layout.clusterId,
    segmentSize: layout.segmentSize,
    quorum: target.quorum,
    acceptors: layout.ids.map((id, k) => ({ id, address: target.addresses[k]!, dataDir: relative(layout.dataDir, acceptorDir(layout.dataDir, id)) })),
    ...(layout.epoch > 0 ? { epoch: layout.epoch } : {}),
    ...(target.groups
      ? {
          groups: Object.fromEntries(
            target.groups.map((g) => [g.name, { quorum: g.quorum, ...(g.epoch > 0 ? { epoch: g.epoch } : {}), acceptors: g.acceptors.map((a) => ({ id: a.id, address: a.address, dataDir: a.dataDir })) }]),
          ),
        }
      : {}),
    ...(target.sequencers.length > 0 ? { sequencers: target.sequencers } : {}),
  };
  try {
    const tmp = `${layout.clusterFile}.tmp`;
    await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`);
    await rename(tmp, layout.clusterFile);
  } catch (e) {
    throw operational(`cannot write ${layout.clusterFile}: ${(e as Error).message}`);
  }
}

/** "…; pick another --base-port, or --base-port 0 for free ports" on a port in use. */
export const portHint = (message: string): string => (/in use|EADDRINUSE/i.test(message) ? `${message}; pick another --base-port, or --base-port 0 for free ports` : message);

/** The in-process mode: start the acceptors and the sequencer here, and write the cluster file. */
export async function startDevCluster(o: DevOptions): Promise<DevRunning> {
  const layout = await devLayout(o);
  const started = await Promise.allSettled(
    layout.allIds.map((id) =>
      startAcceptor({ clusterId: layout.clusterId, acceptorId: id, dataDir: acceptorDir(layout.dataDir, id), host: layout.host, port: layout.port(id), init: layout.fresh.includes(id) }),
    ),
  );
  const acceptors = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  const closeAll = async () => {
    await Promise.allSettled(acceptors.map((a) => a.close()));
  };
  if (failed) {
    await closeAll();
    await removeFresh(layout);
    const e = failed.reason;
    if (e instanceof CliFailure) throw new CliFailure(portHint(e.message), e.exitCode);
    throw e;
  }
  const addresses = acceptors.map((a) => `${a.host}:${a.port}`);
  let sequencer: DevSequencer;
  try {
    sequencer = await startDevSequencer(devTarget(layout, addresses, []), layout.host, layout.sequencerPort);
  } catch (e) {
    await closeAll();
    throw e;
  }
  let kv: { readonly map: PartitionMap; readonly nodes: DevKvNodes } | undefined;
  const closeEverything = async () => {
    await kv?.nodes.close();
    await sequencer.close();
    await closeAll();
  };
  const target = devTarget(layout, addresses, [sequencer.address]);
  try {
    await writeClusterFile(layout, target);
    if (layout.kvPartitions > 0) {
      const map = await ensureDevKv(layout, target);
      kv = { map, nodes: await startDevKvNodes(target, map, layout.dataDir, o.kvMoved) };
    }
  } catch (e) {
    await closeEverything();
    throw e;
  }
  const stopped = Promise.race([...acceptors.map((a) => a.stopped), ...(kv ? [kv.nodes.stopped] : [])]);
  stopped.catch(() => {});
  let closing: Promise<void> | undefined;
  const rows = (): StatusRow[] => [
    ...acceptors.map((a: RunningAcceptor, k) => ({ role: `acceptor ${a.acceptorId}`, address: addresses[k]!, pid: process.pid, state: "up", data: displayPath(a.dataDir) })),
    { role: "sequencer", address: sequencer.address, pid: process.pid, state: "up", data: "" },
    ...(kv?.nodes.rows() ?? []),
  ];
  return {
    clusterId: layout.clusterId,
    clusterFile: layout.clusterFile,
    target,
    sequencer: sequencer.address,
    ...(kv ? { kv: kv.map } : {}),
    acceptors: acceptors.map((a) => ({ acceptorId: a.acceptorId, host: a.host, port: a.port, dataDir: a.dataDir, pid: process.pid })),
    status: rows,
    stopped,
    close: () => (closing ??= closeEverything()),
  };
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
    server = await startSequencerServer({ sequencer: node, host, port, ...(target.clusterId ? { clusterId: target.clusterId } : {}) });
  } catch (e) {
    node.close();
    client.close();
    throw operational(portHint(`sequencer: cannot listen on ${host}:${port}: ${/in use|EADDRINUSE/i.test(String(e)) ? "address in use" : ((e as Error).message ?? String(e))}`));
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
