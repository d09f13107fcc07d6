/**
 * `worm kv serve`: run KV nodes (apps/kv/node/kv-node.ts) until SIGINT/SIGTERM, one for each
 * `--partition`, on the `--data-dir` given in the same place: its partition's storage shard on that
 * store, the KV API on the same port (the map's address for the partition), the LogPlayer that
 * delivers the partition's log to the shard, and an embedded sequencer for the log (the node is its
 * only writer). With the cluster file's TLS, token and id, as every server of the cluster. A failed
 * write to a store ends the verb (exit 1); restarted on its stores, each node resumes from what it
 * made durable. With `--listen` at an address the map does not name for the partition, a standby
 * (kv-standby.ts): it follows the partition's log and serves once a move names that address.
 *
 * The nodes of one process share one register client (one stream to each acceptor): the appends
 * their partitions make in one turn reach each acceptor in one message and one synced write. On a
 * small machine that is most of what a partition costs (apps/kv/README.md, "Where the time goes").
 */
import { resolve } from "node:path";
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import type { Partition } from "../kv/core/partitions.ts";
import { type ConnectionInput, checkSpaceName, connectionFlags, openClient } from "./cluster.ts";
import { usage } from "./errors.ts";
import { kvNameFlag, mapOf } from "./kv-flags.ts";
import { type NodeEvents, type ProcessShared, startKvServing } from "./kv-node-serving.ts";
import { startStandbyServing } from "./kv-standby.ts";
import { parseListen } from "./node.ts";
import { printJson } from "./output.ts";
import { serveUntilStopped } from "./serving.ts";

interface Serving {
  readonly name: string;
  /** Each node's listening line (a standby's until it serves). */
  readonly lines: () => Record<string, unknown>[];
  readonly partitions: readonly number[];
  readonly close: () => Promise<void>;
  readonly failed: Promise<never>;
}

/** Why `--partition` and `--data-dir` do not pair up (one of each per node, distinct), or undefined. */
function servedProblem(partitions: readonly number[], dataDirs: readonly string[]): string | undefined {
  if (partitions.length !== dataDirs.length) return `${partitions.length} --partition and ${dataDirs.length} --data-dir: give one --data-dir for each --partition, in the same order`;
  const twice = partitions.find((k, i) => partitions.indexOf(k) !== i);
  if (twice !== undefined) return `--partition ${twice} is given twice`;
  const dirs = dataDirs.map((d) => resolve(d));
  const shared = dirs.findIndex((d, i) => dirs.indexOf(d) !== i);
  if (shared >= 0) return `--data-dir ${dataDirs[shared]} is given for two partitions: each partition's node has a store of its own`;
  return undefined;
}

async function start(c: { readonly kv: string; readonly partition: readonly number[]; readonly dataDir: readonly string[]; readonly listen: Option.Option<string>; readonly conn: ConnectionInput }): Promise<Serving> {
  const name = checkSpaceName(c.kv);
  const problem = servedProblem(c.partition, c.dataDir);
  if (problem) throw usage(problem);
  const listen = Option.getOrUndefined(c.listen);
  if (listen !== undefined && c.partition.length !== 1) throw usage("--listen names one node's address: give one --partition with it");
  const { map, target } = await mapOf(c.conn, name);
  const partitions = c.partition.map((k) => {
    const p = map.partitions.find((x) => x.id === k);
    if (!p) throw usage(`--partition ${k}: KV ${name} has partitions ${map.partitions.map((x) => x.id).join(", ")}`);
    return p;
  });
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  // Handled once it serves (the verb ends with it); a node failing while the next one starts is
  // not an unhandled rejection meanwhile.
  failed.catch(() => {});
  const standbyAt = listen !== undefined && parseListen(listen) && listen !== partitions[0]!.node ? listen : undefined;
  const other = map.partitions.find((x) => x.node === standbyAt);
  if (other) throw usage(`--listen ${standbyAt}: the KV's map names it for partition ${other.id}`);
  const { client } = openClient(target);
  const shared: ProcessShared = { client, participants: new Map() };
  const hear = (p: Partition): NodeEvents => ({ player: (e) => printJson({ player: e, partition: p.id }), moved: (why) => printJson({ event: "moved", partition: p.id, why }) });
  if (standbyAt !== undefined) {
    const p = partitions[0]!;
    const standby = await startStandbyServing(target, shared, name, map, p, standbyAt, c.dataDir[0]!, fail, hear(p)).catch((e: unknown) => {
      client.close();
      throw e;
    });
    const close = async () => {
      await standby.close();
      client.close();
    };
    return { name, lines: () => [standby.fields()], partitions: [p.id], close, failed };
  }
  // Started side by side: each node's restart scan runs while the others start.
  const started = await Promise.allSettled(partitions.map(async (p, i) => ({ partition: p, running: await startKvServing(target, shared, name, map, p, c.dataDir[i]!, fail, hear(p)) })));
  const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const close = async () => {
    await Promise.allSettled(nodes.map((n) => n.running.close()));
    client.close();
  };
  const refused = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (refused) {
    await close();
    throw refused.reason;
  }
  const lines = () => nodes.map(({ partition: p, running: r }) => ({ kv: name, partition: p.id, address: p.node, port: r.node.port, applied: r.store.applied, revision: r.store.revision }));
  return { name, lines, partitions: partitions.map((p) => p.id), close, failed };
}

export const kvServeCommand = Command.make(
  "serve",
  {
    kv: kvNameFlag,
    partition: Flag.Int("partition").pipe(
      Flag.atLeast(1),
      Flag.withDescription("a partition to serve (its address is in the KV's map); repeatable: one process serves them all, over one client to the acceptors"),
    ),
    dataDir: Flag.String("data-dir").pipe(Flag.atLeast(1), Flag.withDescription("the node's store (created on first use); with several --partition, one --data-dir each, in the same order")),
    listen: Flag.optional(
      Flag.String("listen").pipe(
        Flag.withDescription("host:port of this node; if the map names another node for the partition, a standby: it follows the partition's log and serves once 'worm kv move' names this address"),
      ),
    ),
    conn: connectionFlags,
  },
  (c) =>
    serveUntilStopped({
      start: () => start(c),
      listening: (s) => s.lines(),
      failed: (s) => s.failed,
      close: (s) => s.close(),
      stopped: (s) => s.partitions.map((id) => ({ kv: s.name, partition: id })),
    }),
).pipe(
  Command.withDescription(
    "Run KV nodes (each a partition's shard, its player and its API) until SIGINT/SIGTERM; prints a JSON line for each when it serves",
  ),
);
