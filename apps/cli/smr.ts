/**
 * `worm smr create|serve|propose|read|status`: the replicated state machine (docs/ARCHITECTURE.md
 * §4.2) from the command line, with the map as its state machine. `serve` runs a replica
 * (smr-serve.ts); the other verbs talk to any replica of `--replicas` (a follower forwards to the
 * leader), with the cluster file's TLS and token (smr-flags.ts `replicaFlags`): `propose` applies `put KEY VALUE` or `delete KEY` once (with `--key CLIENT:SEQ` a retry
 * is answered with the first result), `read` gets a key (linearizable, or `--stale`), `status`
 * shows each replica's role, leader, applied position and checkpoints.
 */
import * as Option from "effect/Option";
import { Argument, Command, Flag } from "effect/cli";
import { MAP_LIMITS, type MapCommand, mapMachine } from "../smr/core/map-machine.ts";
import { SmrClient, SmrError } from "../smr/node/smr-client.ts";
import { checkSpaceName, connectionFlags, resolveTarget, withClient } from "./cluster.ts";
import { CliFailure, EXIT, task, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";
import { json } from "./log-read.ts";
import { printJson, printLine, table } from "./output.ts";
import { reportCreate } from "./space.ts";
import { type ReplicaFlagsInput, replicaFlags, resolveReplicas, smrNameArg } from "./smr-flags.ts";
import { smrServeCommand } from "./smr-serve.ts";

const timeoutFlag = Flag.optional(Flag.Int("timeout").pipe(Flag.withDescription("milliseconds a request may take, retries at other replicas included (default 15000)")));

const utf8 = new TextEncoder();
const text = new TextDecoder();
const show = (v: Uint8Array | null): string | null => (v === null ? null : text.decode(v));

/** A request's failure as the CLI's: an unknown outcome exits 4, bad input 2, expired 3. A replica
 *  that refused the token (wor/node/grpc-serving.ts `unauthenticated`) is told how to give it. */
function failure(e: unknown): unknown {
  if (!(e instanceof SmrError)) return e;
  const exit = e.code === "timeout" ? EXIT.unknown : e.code === "invalid" || e.code === "tooLarge" ? EXIT.usage : e.code === "expired" ? EXIT.refused : EXIT.operational;
  const hint = /wrong cluster token$/.test(e.message) ? " (the replicas check the cluster's token: give its cluster file with --cluster, or --token)" : "";
  return new CliFailure(`${e.message}${hint}`, exit);
}

type MapClient = SmrClient<MapCommand, Uint8Array | null, { key: string }, Uint8Array | null>;

async function withSmr<T>(verb: string, name: string, to: ReplicaFlagsInput, timeout: Option.Option<number>, f: (c: MapClient, replicas: readonly string[]) => Promise<T>, clientId?: string): Promise<T> {
  const ms = Option.getOrUndefined(timeout);
  if (ms !== undefined && (!Number.isSafeInteger(ms) || ms < 1)) throw usage("--timeout must be a positive number of milliseconds");
  const { replicas, security } = await resolveReplicas(verb, to);
  const c = new SmrClient(mapMachine, { ...security, smr: checkSpaceName(name), replicas, ...(clientId ? { clientId } : {}), ...(ms ? { timeoutMs: ms, attemptTimeoutMs: Math.min(ms, 2_000) } : {}) });
  try {
    return await f(c, replicas);
  } catch (e) {
    throw failure(e);
  } finally {
    c.close();
  }
}

const key = (k: string): string => {
  const n = utf8.encode(k).length;
  if (n === 0 || n > MAP_LIMITS.keyBytesMax) throw usage(`a key is 1..${MAP_LIMITS.keyBytesMax} bytes (got ${n})`);
  return k;
};

const create = Command.make("create", { name: smrNameArg, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const smr = checkSpaceName(c.name);
    const target = await resolveTarget(c.conn);
    const r = await withClient(target, (client) => client.createSpace(smr, { kind: "smr", segmentSize: target.segmentSize }));
    reportCreate("replicated state machine", smr, "smr", target, r, c.json);
  }),
).pipe(Command.withDescription("Create a replicated state machine (its log's space); creating an existing one is a no-op"));

const propose = Command.make(
  "propose",
  {
    name: smrNameArg,
    command: Argument.String("command").pipe(Argument.variadic(), Argument.withDescription("put KEY VALUE | delete KEY")),
    key: Flag.optional(Flag.String("key").pipe(Flag.withDescription("idempotency key CLIENT:SEQ: a retry with the same key is applied once and answered with the first result"))),
    to: replicaFlags,
    timeout: timeoutFlag,
    json,
  },
  (c) =>
    task(async () => {
      const [op, k, value, ...rest] = c.command;
      let command: MapCommand;
      if (op === "put" && k !== undefined && value !== undefined && rest.length === 0) command = { op: "put", key: key(k), value: utf8.encode(value) };
      else if (op === "delete" && k !== undefined && value === undefined) command = { op: "delete", key: key(k) };
      else throw usage(`a command is 'put KEY VALUE' or 'delete KEY' (got ${JSON.stringify(c.command.join(" "))})`);
      const idem = Option.map(c.key, (t) => {
        const at = t.lastIndexOf(":");
        const seq = Number(t.slice(at + 1));
        if (at <= 0 || !/^\d+$/.test(t.slice(at + 1)) || !Number.isSafeInteger(seq)) throw usage(`--key must be CLIENT:SEQ (got ${JSON.stringify(t)})`);
        return { client: t.slice(0, at), seq };
      });
      const r = await withSmr("propose", c.name, c.to, c.timeout, (s) => s.propose(command, Option.isSome(idem) ? idem.value.seq : 0), Option.getOrUndefined(Option.map(idem, (i) => i.client)));
      if (c.json) printJson({ previous: show(r.result), position: r.position });
      else printLine(`${command.op === "put" ? "put" : "deleted"} (previous: ${show(r.result) ?? "none"}; applied below position ${r.position})`);
    }),
).pipe(Command.withDescription("Apply a map command once through any replica: put KEY VALUE or delete KEY; prints the previous value"));

const read = Command.make(
  "read",
  {
    name: smrNameArg,
    key: Argument.String("key").pipe(Argument.withDescription("the key to read")),
    stale: Flag.Boolean("stale").pipe(Flag.withDefault(false), Flag.withDescription("answer from the replica's state now, without the read-index round")),
    to: replicaFlags,
    timeout: timeoutFlag,
    json,
  },
  (c) =>
    task(async () => {
      const r = await withSmr("read", c.name, c.to, c.timeout, (s) => s.read({ key: key(c.key) }, { stale: c.stale }));
      if (c.json) printJson({ key: c.key, value: show(r.answer), position: r.position });
      else printLine(show(r.answer) ?? "(none)");
    }),
).pipe(Command.withDescription("Read a key of the map through any replica: linearizable (read index) unless --stale"));

const statusTimeoutFlag = Flag.Int("timeout").pipe(withDefaultShown("milliseconds each replica has to answer", 2_000));

const status = Command.make("status", { name: smrNameArg, to: replicaFlags, timeout: statusTimeoutFlag, json }, (c) =>
  task(async () => {
    let refused = 0;
    const failed = (address: string, e: Error) => {
      if (e instanceof SmrError && e.code === "invalid") refused++;
      return { address, error: e.message };
    };
    const rows = await withSmr("status", c.name, c.to, Option.some(c.timeout), (s, addresses) =>
      Promise.all(addresses.map((a, i) => s.status(i).then((st) => ({ address: a, ...st }), (e: Error) => failed(a, e)))),
    );
    const silent = rows.filter((r) => "error" in r);
    // JSON or a table, a replica that did not answer is a failure, after what the others said: exit
    // 2 if one refused this client as misconfigured (another cluster, TLS on one end only), else 1.
    const failure =
      refused > 0
        ? new CliFailure(`${refused} of ${rows.length} replicas refused this client (its row says why)`, EXIT.usage)
        : silent.length > 0
          ? new CliFailure(`${silent.length} of ${rows.length} replicas did not answer`, EXIT.operational)
          : undefined;
    if (c.json) {
      printJson({ smr: c.name, replicas: rows });
      if (failure) throw failure;
      return;
    }
    const cell = (r: (typeof rows)[number], f: (s: Exclude<typeof r, { error: string }>) => string) => ("error" in r ? "" : f(r));
    printLine(
      table(
        ["replica", "role", "leader", "applied", "tail", "checkpoint", "catching up", "error"],
        rows.map((r) => [r.address, cell(r, (s) => s.role), cell(r, (s) => s.leader ?? ""), cell(r, (s) => String(s.applied)), cell(r, (s) => String(s.tail ?? "")), cell(r, (s) => String(s.checkpoint ?? "")), cell(r, (s) => (s.catchingUp ? "yes" : "")), "error" in r ? r.error : ""]),
      ),
    );
    if (failure) throw failure;
  }),
).pipe(Command.withDescription("Show each replica's role, leader, applied position, tail, latest checkpoint"));

export const smrCommand = Command.make("smr").pipe(
  Command.withDescription("Replicated state machines (the map): create one, serve a replica, propose, read, status"),
  Command.withSubcommands([create, smrServeCommand, propose, read, status]),
);
