/**
 * The verbs of `worm`, one entry each: the name, the line `worm --help` shows, and how to load the
 * command tree. A verb's module is imported only when that verb runs (or for `--completions`), so a
 * command pays only for what it uses: `worm --help` loads no gRPC, storage engine or checker.
 *
 * A new app adds its verbs here: one entry whose `load` imports its module under apps/cli
 * (apps/cli/README.md, "Adding a verb").
 */
import type { Command } from "effect/cli";

export interface Verb {
  readonly name: string;
  /** The verb's line in `worm --help`, and the description of its command. */
  readonly description: string;
  readonly load: () => Promise<Command.Command.Any>;
}

export const VERBS: readonly Verb[] = [
  {
    name: "dev",
    description: "Run a local cluster (acceptors and a log sequencer; --groups N: acceptor groups; --kv: the example KV's nodes; --processes: one process each), self-check it, print its status, and serve until Ctrl-C",
    load: async () => (await import("./dev.ts")).devCommand,
  },
  {
    name: "node",
    description: "Run one acceptor on durable storage until SIGINT/SIGTERM; prints a JSON line with its port when it listens",
    load: async () => (await import("./node.ts")).nodeCommand,
  },
  {
    name: "inspect",
    description: "Show spaces, trim marks, segments, logs (tail, holes, streams) and, per address, each acceptor's promised/accepted/committed state",
    load: async () => (await import("./inspect.ts")).inspectCommand,
  },
  { name: "wor", description: "Write-once registers: capture, write, read, trim, allocate", load: async () => (await import("./wor.ts")).worCommand },
  { name: "space", description: "Spaces: create one, list them (kind, segment size, segments, trim mark)", load: async () => (await import("./space.ts")).spaceCommand },
  {
    name: "log",
    description: "The shared log: create, append, read, tail, subscribe, trim, and run a sequencer",
    load: async () => (await import("./log.ts")).logCommand,
  },
  {
    name: "smr",
    description: "Replicated state machines (the map): create one, serve a replica, propose, read, status",
    load: async () => (await import("./smr.ts")).smrCommand,
  },
  {
    name: "txn",
    description: "WormTX transactions: create a transaction space, show a transaction's votes and outcome, resolve one past its deadline, list those in doubt",
    load: async () => (await import("./txn.ts")).txnCommand,
  },
  {
    name: "kv",
    description: "The example KV: create one, serve a node, put, get, del, cas, range, txn, watch, status",
    load: async () => (await import("./kv.ts")).kvCommand,
  },
  {
    name: "shard",
    description: "LogPlayer shards: serve one on its store, read its rows",
    load: async () => (await import("./logplayer-shard.ts")).shardCommand,
  },
  {
    name: "logplayer",
    description: "LogPlayer: play a log to storage shards exactly once and in order; show the shards' progress",
    load: async () => (await import("./logplayer.ts")).logplayerCommand,
  },
  {
    name: "cluster",
    description: "The cluster's configuration: show it (epoch, acceptors, their state); replace a dead or wiped acceptor without stopping service",
    load: async () => (await import("./reconfigure.ts")).clusterCommand,
  },
  {
    name: "context",
    description: "Named clusters: save a cluster file under a name, use it by default, list them",
    load: async () => (await import("./context.ts")).contextCommand,
  },
  { name: "check", description: "The verifier: model checker and deterministic simulator", load: async () => (await import("./check.ts")).checkCommand },
];
