/**
 * Run one acceptor on a data directory (docs/ARCHITECTURE.md §3.3): open its classic-level storage,
 * load (or, for a new acceptor, initialise) its identity, and serve it over gRPC. Used by `worm node`
 * (one acceptor per process) and `worm dev` (several in one process). A directory that must not
 * start (no identity without `init`, another acceptor's, damaged) is refused: a wiped or damaged
 * acceptor forgot promises and accepted values, and rejoining under its old id could let a second
 * value be chosen.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { AcceptorNode, IdentityRefused, damagedRefusal } from "./acceptor-node.ts";
import { type ServerTls, startAcceptorServer } from "./grpc-server.ts";
import type { SessionBudgetLimits } from "./session-budget.ts";
import { StorageDamaged } from "./storage.ts";
import { LevelStorage } from "./storage-level.ts";
import { AcceptorStartFailure } from "./start-failure.ts";

export { AcceptorStartFailure };

export interface AcceptorSpec {
  readonly clusterId: string;
  readonly acceptorId: number;
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly init: boolean;
  /** Initialise a new data directory as a replacement that serves only its installer until a reconfiguration activates it (docs/ARCHITECTURE.md §3.5). */
  readonly join?: boolean;
  readonly tls?: ServerTls;
  readonly token?: string;
  readonly budget?: Partial<SessionBudgetLimits>;
  /** Estimated bytes of addresses kept in memory (default `CACHE_LIMITS.bytesMax`, address-cache.ts). */
  readonly cacheBytesMax?: number;
  readonly onSessionClosed?: (peer: string, reason: string) => void;
}

export interface RunningAcceptor {
  readonly acceptorId: number;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly node: AcceptorNode;
  /** Rejects if the acceptor stopped on its own (a storage failure); never resolves otherwise. */
  readonly stopped: Promise<never>;
  close(): Promise<void>;
}

/** Open the storage, load (or initialise) the identity, and serve. Cleans up after itself on failure;
 *  a failure to start is an `AcceptorStartFailure`. */
export async function startAcceptor(spec: AcceptorSpec): Promise<RunningAcceptor> {
  const who = `acceptor ${spec.acceptorId} of cluster ${spec.clusterId}`;
  const init = spec.init || spec.join === true;
  if (!init && !existsSync(spec.dataDir)) throw refusedDataDir(who, spec.dataDir, spec.acceptorId);
  await mkdir(spec.dataDir, { recursive: true });
  let storage: LevelStorage;
  try {
    storage = await LevelStorage.open(spec.dataDir);
  } catch (e) {
    if (e instanceof StorageDamaged) throw refusedDamaged(who, spec.dataDir, damagedRefusal(e));
    const why = String((e as { cause?: unknown }).cause ?? (e as Error).message);
    if (/lock/i.test(why)) throw new AcceptorStartFailure("inUse", `${who}: the data directory ${spec.dataDir} is in use by another process`);
    throw new AcceptorStartFailure("cannotOpen", `${who}: cannot open the data directory ${spec.dataDir}: ${why}`);
  }
  let node: AcceptorNode;
  try {
    const identity = { clusterId: spec.clusterId, acceptorId: spec.acceptorId };
    node = await AcceptorNode.open({ storage, identity, init, join: spec.join === true, nextTurn: setImmediate, ...(spec.cacheBytesMax !== undefined ? { cacheBytesMax: spec.cacheBytesMax } : {}) });
  } catch (e) {
    await storage.close().catch(() => {});
    if (e instanceof IdentityRefused && e.reason === "noIdentity") throw refusedDataDir(who, spec.dataDir, spec.acceptorId);
    if (e instanceof IdentityRefused && e.reason === "damaged") throw refusedDamaged(who, spec.dataDir, e);
    if (e instanceof IdentityRefused) throw new AcceptorStartFailure("refused", `refusing to start ${who}: ${e.message}`);
    throw e;
  }
  let fail: (e: unknown) => void = () => {};
  const stopped = new Promise<never>((_, reject) => {
    fail = reject;
  });
  stopped.catch(() => {}); // observed by whoever waits on it; never an unhandled rejection
  try {
    const server = await startAcceptorServer({
      node,
      host: spec.host,
      port: spec.port,
      ...(spec.tls ? { tls: spec.tls } : {}),
      ...(spec.token ? { token: spec.token } : {}),
      ...(spec.budget ? { budget: spec.budget } : {}),
      ...(spec.onSessionClosed ? { onSessionClosed: spec.onSessionClosed } : {}),
      onStopped: (reason) => fail(new AcceptorStartFailure("stopped", `${who} stopped after a storage failure: ${(reason as Error)?.message ?? String(reason)}`)),
    });
    return { acceptorId: spec.acceptorId, host: spec.host, port: server.port, dataDir: spec.dataDir, node, stopped, close: () => server.close() };
  } catch (e) {
    await node.close().catch(() => {});
    const msg = (e as Error).message ?? String(e);
    throw new AcceptorStartFailure("cannotListen", `${who}: cannot listen on ${spec.host}:${spec.port}: ${/in use|EADDRINUSE/i.test(msg) ? "address in use" : msg}`);
  }
}

function refusedDataDir(who: string, dataDir: string, acceptorId: number): AcceptorStartFailure {
  return new AcceptorStartFailure(
    "refused",
    `refusing to start ${who}: ${dataDir} holds no acceptor state. For a new acceptor, start it once with --init. ` +
      "If this acceptor's data was wiped or lost, it must not rejoin under its old id: it forgot its promises and accepted values, " +
      "which could let a second value be chosen; replace it with a new acceptor id: start one with 'worm node --id NEW --join', " +
      `then run 'worm cluster replace --acceptor ${acceptorId} --id NEW --address HOST:PORT' (docs/OPERATIONS.md §6).`,
  );
}

function refusedDamaged(who: string, dataDir: string, refusal: IdentityRefused): AcceptorStartFailure {
  return new AcceptorStartFailure("refused", `refusing to start ${who} on ${dataDir}: ${refusal.message}`);
}
