/** Acceptors over real gRPC and classic-level, and clients of a configuration, for the
 *  reconfiguration tests (reconfigure.test.ts, membership-change.test.ts). */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Configuration } from "../../wor/core/configuration.ts";
import { AcceptorNode } from "../../wor/node/acceptor-node.ts";
import { WorClient } from "../../wor/node/client.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { type AcceptorServer, startAcceptorServer } from "../../wor/node/grpc-server.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { stablePorts } from "../ports.ts";

export const CLUSTER = "rc";
const dirs: string[] = [];
const servers: AcceptorServer[] = [];
const clients: WorClient[] = [];
/** Close every client and acceptor started here, and remove their directories (each file's `after`). */
export async function closeAll(): Promise<void> {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

export interface Running {
  readonly id: number;
  readonly dir: string;
  readonly address: string;
  readonly server: AcceptorServer;
  readonly node: AcceptorNode;
}

/** An acceptor on a new data directory, or (`again`) restarted on its directory and port. */
export async function acceptor(id: number, o: { join?: boolean; again?: Running } = {}): Promise<Running> {
  const dir = o.again?.dir ?? (await mkdtemp(join(tmpdir(), `wor-reconf-${id}-`)));
  if (!o.again) dirs.push(dir);
  const node = await AcceptorNode.open({ storage: await LevelStorage.open(dir), identity: { clusterId: CLUSTER, acceptorId: id }, init: !o.again, join: o.join, checkInvariants: true });
  const server = await startAcceptorServer({ node, port: o.again?.server.port ?? (await stablePorts(1))[0]! });
  servers.push(server);
  return { id, dir, address: `127.0.0.1:${server.port}`, server, node };
}

export function client(c: Configuration, roundTimeoutMs = 5_000): WorClient {
  const w = new WorClient({ transport: grpcTransport({ addresses: c.acceptors.map((m) => m.address), epoch: c.epoch, clusterId: CLUSTER }), acceptors: c.acceptors.length, segmentSize: 64, roundTimeoutMs });
  clients.push(w);
  return w;
}

export const value = (i: number) => new TextEncoder().encode(`value ${i}`);
