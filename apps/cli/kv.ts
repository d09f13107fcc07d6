/**
 * `worm kv create|serve|move|put|get|del|cas|range|txn|status`: the example KV (docs/ARCHITECTURE.md
 * §4.5) from the command line. `create` writes the KV's partition map (which node serves which
 * range of keys) and creates each partition's log; `serve` runs a node (kv-serve.ts); `move` gives
 * a partition to a node at another address (the next map; that node claims it when it starts); the others
 * reach the nodes the map names, with the cluster file's TLS and token. Keys and values are UTF-8
 * text here; reads are linearizable unless `--stale`; every write prints the revision it made.
 */
import * as Option from "effect/Option";
import { Argument, Command, Flag } from "effect/cli";
import type { KvRecord } from "../kv/core/commands.ts";
import { keyProblem, prefixRange } from "../kv/core/keys.ts";
import { partitionMap } from "../kv/core/partitions.ts";
import { createKv, describeMap, moveKv } from "../kv/node/kv-map.ts";
import { checkSpaceName, connectionFlags, parsePeers, resolveTarget, withClient } from "./cluster.ts";
import { CliFailure, EXIT, task, usage } from "./errors.ts";
import { kvNameFlag, resultOf, withKv } from "./kv-flags.ts";
import { kvServeCommand } from "./kv-serve.ts";
import { kvTxnCommand } from "./kv-txn.ts";
import { kvWatchCommand } from "./kv-watch.ts";
import { json } from "./log-read.ts";
import { printJson, printLine, table } from "./output.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

const keyArg = Argument.String("key").pipe(Argument.withDescription("the key (UTF-8 text)"));
const valueArg = Argument.String("value").pipe(Argument.withDescription("the value (UTF-8 text)"));
const staleFlag = Flag.Boolean("stale").pipe(Flag.withDefault(false), Flag.withDescription("answer from the node's shard now, without reading the log's tail first"));

function checkKey(k: string): string {
  const problem = keyProblem(k);
  if (problem) throw usage(problem);
  return k;
}

/** A record as JSON: its value as text, its revisions. */
export const recordJson = (key: string, r: KvRecord) => ({ key, value: text.decode(r.value), createRevision: r.createRevision, modRevision: r.modRevision, version: r.version });

const create = Command.make(
  "create",
  {
    kv: kvNameFlag,
    nodes: Flag.String("nodes").pipe(Flag.withDescription("host:port of each partition's node, in key order (one partition per node)")),
    split: Flag.optional(Flag.String("split").pipe(Flag.withDescription("the keys where partitions 1.. start, in order, comma-separated (one fewer than --nodes)"))),
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const name = checkSpaceName(c.kv);
      const nodes = parsePeers(c.nodes, "--nodes");
      const splits = Option.match(c.split, { onNone: () => [] as string[], onSome: (s) => s.split(",") });
      if (splits.length !== nodes.length - 1) throw usage(`--split: ${nodes.length} nodes need ${nodes.length - 1} split key${nodes.length === 2 ? "" : "s"} (got ${splits.length})`);
      for (const k of splits) checkKey(k);
      const map = partitionMap(name, 0, nodes, splits);
      const target = await resolveTarget(c.conn);
      const r = await withClient(target, (client) => createKv(client, name, map));
      if (c.json) printJson({ kv: name, created: r.created, map });
      else printLine(`${r.created ? "created" : "already there:"} KV ${name}, ${describeMap(map)}; start each node with 'worm kv serve --kv ${name} --partition K --data-dir DIR' (several in one process: repeat both)`);
    }),
).pipe(Command.withDescription("Create a KV: its partition map (which node serves which keys) and each partition's log; again with the same map is a no-op"));

const move = Command.make(
  "move",
  {
    kv: kvNameFlag,
    partition: Flag.Int("partition").pipe(Flag.withDescription("the partition to move")),
    to: Flag.String("to").pipe(Flag.withDescription("host:port of its new node")),
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const name = checkSpaceName(c.kv);
      const to = parsePeers(c.to, "--to");
      if (to.length !== 1) throw usage(`--to: one host:port (got ${to.length})`);
      const target = await resolveTarget(c.conn);
      const r = await withClient(target, (client) => moveKv(client, name, c.partition, to[0]!));
      const was = r.from.partitions.find((p) => p.id === c.partition)!.node;
      if (c.json) printJson({ kv: name, partition: c.partition, from: was, to: to[0], map: r.to });
      else {
        printLine(
          `moved partition ${c.partition} of KV ${name} from ${was} to ${to[0]} (map epoch ${r.to.epoch}); a standby there ('worm kv serve --listen ${to[0]}') takes over by itself, else start its node there with 'worm kv serve --kv ${name} --partition ${c.partition} --data-dir DIR' (a new directory: it fills from the partition's log). The node at ${was} serves it until the new one claims it, then refuses`,
        );
      }
    }),
).pipe(Command.withDescription("Move a partition to a node at another address: the KV's next map; the node started there claims the partition, and the old node stops serving it"));

const put = Command.make("put", { key: keyArg, value: valueArg, kv: kvNameFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const key = checkKey(c.key);
    const r = resultOf(await withKv(c.conn, c.kv, (kv) => kv.put(key, utf8.encode(c.value))), true);
    if (c.json) printJson({ key, revision: r.revision, previous: r.prev ? recordJson(key, r.prev) : null });
    else printLine(`put ${key} (revision ${r.revision}; previous: ${r.prev ? JSON.stringify(text.decode(r.prev.value)) : "none"})`);
  }),
).pipe(Command.withDescription("Put a value at a key; prints the revision it made and the value it replaced"));

const get = Command.make("get", { key: keyArg, stale: staleFlag, kv: kvNameFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const key = checkKey(c.key);
    const r = resultOf(await withKv(c.conn, c.kv, (kv) => kv.get(key, { stale: c.stale })), false);
    if (c.json) printJson({ key, record: r.record ? recordJson(key, r.record) : null, revision: r.revision });
    else printLine(r.record ? text.decode(r.record.value) : "(none)");
  }),
).pipe(Command.withDescription("Read a key's value: linearizable unless --stale; (none) when absent"));

const del = Command.make("del", { key: keyArg, kv: kvNameFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const key = checkKey(c.key);
    const r = resultOf(await withKv(c.conn, c.kv, (kv) => kv.delete(key)), true);
    if (c.json) printJson({ key, deleted: r.prev !== undefined, revision: r.revision, previous: r.prev ? recordJson(key, r.prev) : null });
    else printLine(r.prev ? `deleted ${key} (revision ${r.revision})` : `${key} was not there (revision ${r.revision})`);
  }),
).pipe(Command.withDescription("Delete a key; prints the revision after it"));

const cas = Command.make(
  "cas",
  {
    key: keyArg,
    value: valueArg,
    expect: Flag.optional(Flag.String("expect").pipe(Flag.withDescription("set only if the key holds this value"))),
    expectAbsent: Flag.Boolean("expect-absent").pipe(Flag.withDefault(false), Flag.withDescription("set only if the key is absent")),
    expectRevision: Flag.optional(Flag.Int("expect-revision").pipe(Flag.withDescription("set only if the key's last write made this revision (its modRevision)"))),
    kv: kvNameFlag,
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const key = checkKey(c.key);
      const given = [Option.isSome(c.expect), c.expectAbsent, Option.isSome(c.expectRevision)].filter(Boolean).length;
      if (given !== 1) throw usage("give exactly one of --expect VALUE, --expect-absent, --expect-revision N");
      const expected = Option.isSome(c.expect) ? { value: utf8.encode(c.expect.value) } : c.expectAbsent ? { value: null } : { modRevision: Option.getOrThrow(c.expectRevision) };
      const r = resultOf(await withKv(c.conn, c.kv, (kv) => kv.compareAndSet(key, expected, utf8.encode(c.value))), true);
      if (c.json) printJson({ key, succeeded: r.succeeded, revision: r.revision, current: r.current ? recordJson(key, r.current) : null });
      if (r.succeeded) {
        if (!c.json) printLine(`set ${key} (revision ${r.revision})`);
        return;
      }
      const now = r.current ? `${key} holds ${JSON.stringify(text.decode(r.current.value))} (modRevision ${r.current.modRevision})` : `${key} is absent`;
      throw new CliFailure(`not set: ${now}`, EXIT.refused);
    }),
).pipe(Command.withDescription("Compare-and-set: put a value only if the key holds what one of --expect, --expect-absent, --expect-revision says (exit 3 when not)"));

const range = Command.make(
  "range",
  {
    from: Argument.optional(Argument.String("from").pipe(Argument.withDescription("the first key (default: the start of the key space)"))),
    to: Argument.optional(Argument.String("to").pipe(Argument.withDescription("the key after the last (default: the end of the key space)"))),
    prefix: Flag.optional(Flag.String("prefix").pipe(Flag.withDescription("every key that starts with this (instead of FROM and TO)"))),
    limit: Flag.optional(Flag.Int("limit").pipe(Flag.withDescription("at most this many keys (default 10000)"))),
    stale: staleFlag,
    kv: kvNameFlag,
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      if (Option.isSome(c.prefix) && (Option.isSome(c.from) || Option.isSome(c.to))) throw usage("give --prefix or FROM [TO], not both");
      const from = Option.getOrElse(c.from, () => "");
      const to = Option.getOrUndefined(c.to);
      const r = resultOf(
        await withKv(c.conn, c.kv, (kv) =>
          kv.range(Option.isSome(c.prefix) ? prefixRange(c.prefix.value) : { from, ...(to !== undefined ? { to } : {}) }, { stale: c.stale, ...(Option.isSome(c.limit) ? { limit: c.limit.value } : {}) }),
        ),
        false,
      );
      if (c.json) {
        printJson({ found: r.found.map(([k, rec]) => recordJson(k, rec)), more: r.more });
        return;
      }
      printLine(table(["KEY", "VALUE", "MOD REVISION", "VERSION"], r.found.map(([k, rec]) => [k, text.decode(rec.value), String(rec.modRevision), String(rec.version)])));
      if (r.more) printLine("(more: raise --limit, or start after the last key)");
    }),
).pipe(Command.withDescription("List the keys of a range (or --prefix) in key order, with their values and revisions"));

const status = Command.make("status", { kv: kvNameFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const rows = await withKv(c.conn, c.kv, async (kv, map) => (await kv.status()).map((s, i) => ({ partition: map.partitions[i]!, s })));
    const silent = rows.filter((r) => !r.s.ok).length;
    if (c.json) printJson({ kv: c.kv, partitions: rows.map(({ partition: p, s }) => ({ partition: p.id, node: p.node, log: p.log, ...(s.ok ? { status: s.value } : { error: s.failure.message }) })) });
    else {
      printLine(
        table(
          ["PARTITION", "FROM", "NODE", "LOG", "APPLIED", "REVISION", "KEYS", "LOCKED", "IN DOUBT", "ERROR"],
          rows.map(({ partition: p, s }) => [
            String(p.id),
            p.from === "" ? "(start)" : p.from,
            p.node,
            p.log,
            ...(s.ok ? [s.value.applied, s.value.revision, s.value.keys, s.value.lockedKeys, s.value.inDoubt].map(String) : ["", "", "", "", ""]),
            s.ok ? "" : s.failure.message,
          ]),
        ),
      );
    }
    if (silent > 0) throw new CliFailure(`${silent} of ${rows.length} nodes did not answer`, EXIT.operational);
  }),
).pipe(Command.withDescription("Show each partition's node: how far its shard applied the partition's log, its revision and keys"));

export const kvCommand = Command.make("kv").pipe(
  Command.withDescription("The example KV: create one, serve a node, move a partition, put, get, del, cas, range, txn, watch, status"),
  Command.withSubcommands([create, kvServeCommand, move, put, get, del, cas, range, kvTxnCommand, kvWatchCommand, status]),
);
