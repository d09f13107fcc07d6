/**
 * `worm cluster recover --lost A,B --id C,D --address ... --accept-data-loss`: forced recovery of a
 * cluster that lost its majority for good (wor/node/reconfigure.ts recoverLostMajority), refused
 * without the flag that names its risk.
 *
 * `worm cluster show`: the configuration that serves the cluster (docs/ARCHITECTURE.md §3.5), found
 * by following the chain from the cluster file, and each acceptor's state in it. `worm cluster
 * replace --acceptor ID --id NEW --address HOST:PORT`: replace an acceptor (a dead or wiped one, or
 * one moving to another host) by a new one started with `worm node --join`, online
 * (wor/node/reconfigure.ts); then rewrite the cluster file for the new configuration.
 */
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { CONFIGURATION_SPACE, type Configuration, decodeConfiguration, describeConfiguration } from "../../wor/core/configuration.ts";
import { configurationOf, rewriteClusterFile } from "../../wor/node/cluster-config.ts";
import { newestConfiguration, recoverLostMajority, replaceAcceptor } from "../../wor/node/reconfigure.ts";
import { parseAddress } from "../../wor/wire/address.ts";
import type { AcceptorStatus } from "../../wor/wire/admin.ts";
import { type Target, connectionFlags, loadCluster, resolveTarget, withClient } from "./cluster.ts";
import { shortReason } from "../../wor/node/grpc-reason.ts";
import { operational, task, toFailure, usage } from "./errors.ts";
import { WorError } from "../../wor/node/client.ts";
import { printJson, printLine, table, wormCommand } from "./output.ts";

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document"));

/** The configuration the target names: the cluster file's acceptors (ids needed) at its epoch. */
async function startOf(target: Target): Promise<Configuration> {
  if (!target.source) throw usage("this command needs the cluster file (--cluster FILE, $WORM_CLUSTER or a context): it names the acceptors by id");
  return configurationOf(await loadCluster(target.source.file));
}

/**
 * Run a reconfiguration (its progress on stderr under --json, so stdout stays one document), then
 * rewrite the cluster file for the configuration it reached and report it.
 */
async function reconfigureAndRecord<D extends { readonly configuration: Configuration }>(
  asJson: boolean,
  target: Target,
  dataDirs: ReadonlyMap<number, string>,
  run: (progress: (line: string) => void) => Promise<D>,
  summary: (done: D, file: string) => string,
): Promise<void> {
  const done = await run((line) => (asJson ? process.stderr.write(`worm: ${line}\n`) : printLine(line)));
  const file = target.source!.file;
  await rewriteClusterFile(file, done.configuration, dataDirs);
  if (asJson) printJson({ ...done, clusterFile: file });
  else printLine(summary(done, file));
}

type Row = { readonly slot: number; readonly id: number; readonly address: string; readonly state: string; readonly epoch?: number };

function stateOf(s: AcceptorStatus | Error | undefined, epoch: number): { state: string; epoch?: number } {
  if (s === undefined) return { state: "not asked" };
  if (s instanceof Error) return { state: `unreachable: ${shortReason(s.message)}` };
  const at = s.configuration?.epoch ?? 0;
  if (s.joining) return { state: s.configuration ? "joining: its state is being copied" : "joining: waiting for 'worm cluster replace'", epoch: at };
  return at < epoch ? { state: `serving, told epoch ${at} (it takes ${epoch} from the next session it refuses)`, epoch: at } : { state: "serving", epoch: at };
}

const show = Command.make("show", { json, conn: connectionFlags }, (c) =>
  task(async () => {
    const target = await resolveTarget(c.conn);
    const start = await startOf(target);
    const found = await newestConfiguration(start, { security: target.security, segmentSize: target.segmentSize, deadlineMs: target.timeoutMs });
    const current = found.configuration;
    const rows: Row[] = current.acceptors.map((m, slot) => ({ slot, id: m.id, address: m.address, ...stateOf(found.statuses.get(m.id), current.epoch) }));
    const chain = current.epoch === 0 ? [] : await withClient({ ...target, addresses: current.acceptors.map((m) => m.address), epoch: current.epoch }, (client) => client.readRange(CONFIGURATION_SPACE, 0, current.epoch));
    const epochs = [...chain.values()].flatMap((r) => {
      if (r._tag !== "Written") return [];
      const d = decodeConfiguration(r.value);
      return d.ok ? [d.value] : [];
    });
    const stale = start.epoch < current.epoch;
    if (c.json) {
      printJson({ epoch: current.epoch, quorum: current.quorum, acceptors: rows, chain: epochs, clusterFile: { path: target.source?.file, epoch: start.epoch, stale } });
      return;
    }
    printLine(`epoch ${current.epoch}, quorum ${current.quorum} of ${current.acceptors.length}`);
    printLine(table(["slot", "id", "address", "state"], rows.map((r) => [String(r.slot), String(r.id), r.address, r.state])));
    for (const e of epochs) printLine(`  chain: ${describeConfiguration(e)}`);
    if (stale) printLine(`the cluster file (${target.source?.file}) names epoch ${start.epoch}: clients follow the newer one when an acceptor refuses them; the file is rewritten by '${wormCommand()} cluster replace'`);
  }),
).pipe(Command.withDescription("Show the configuration serving the cluster (its epoch, acceptors and their state), following the chain from the cluster file"));

const replace = Command.make(
  "replace",
  {
    acceptor: Flag.Int("acceptor").pipe(Flag.withDescription("the id of the acceptor that leaves (dead, wiped, or moving)")),
    id: Flag.Int("id").pipe(Flag.withDescription("the new acceptor's id: never used in this cluster before")),
    address: Flag.String("address").pipe(Flag.withDescription("host:port of the new acceptor, already running 'worm node --join'")),
    dataDir: Flag.optional(Flag.String("data-dir").pipe(Flag.withDescription("the new acceptor's data directory, recorded in the cluster file"))),
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const target = await resolveTarget(c.conn);
      const start = await startOf(target);
      const address = parseAddress(c.address);
      if (typeof address === "string") throw usage(`--address ${address}`);
      if (!Number.isSafeInteger(c.id) || c.id < 0 || c.id > 2 ** 31 - 1) throw usage(`--id must be an integer from 0 to ${2 ** 31 - 1} (got ${c.id})`);
      const dataDir = Option.getOrUndefined(c.dataDir);
      await reconfigureAndRecord(
        c.json,
        target,
        new Map(dataDir ? [[c.id, dataDir]] : []),
        (progress) =>
          replaceAcceptor({
            start,
            security: target.security,
            retired: c.acceptor,
            by: { id: c.id, address: address.address },
            segmentSize: target.segmentSize,
            deadlineMs: Math.max(target.timeoutMs, 10_000),
            progress,
          }).catch((e: unknown) => {
            // Fewer than a quorum answer: the safe path cannot choose; a majority lost for good has the forced one.
            if (e instanceof WorError && (e.code === "unavailable" || e.code === "timeout")) {
              throw operational(`${toFailure(e).message}; if the acceptors that do not answer are lost for good, see 'worm cluster recover'`);
            }
            throw e;
          }),
        (done, file) =>
          `replaced acceptor ${c.acceptor} by ${c.id} in ${done.ms} ms (${done.spaces} spaces, ${done.addresses} addresses copied); ${file} now names epoch ${done.configuration.epoch}`,
      );
    }),
).pipe(
  Command.withDescription(
    "Replace an acceptor by a new one (started with 'worm node --join'), online: choose the next configuration, fence the old one, copy the state, activate; then rewrite the cluster file",
  ),
);

const ids = (flag: string, text: string): number[] =>
  text.split(",").map((x) => {
    const n = Number(x.trim());
    if (!Number.isSafeInteger(n) || n < 0 || n > 2 ** 31 - 1) throw usage(`${flag} takes acceptor ids separated by commas (got ${JSON.stringify(x)})`);
    return n;
  });

const recover = Command.make(
  "recover",
  {
    lost: Flag.String("lost").pipe(Flag.withDescription("the acceptors lost for good, by id (comma-separated): their disks are gone and they must never start again")),
    id: Flag.String("id").pipe(Flag.withDescription("the new acceptors' ids, in the same order (comma-separated)")),
    address: Flag.String("address").pipe(Flag.withDescription("their host:port, in the same order (comma-separated), each running 'worm node --join'")),
    dataDir: Flag.optional(Flag.String("data-dir").pipe(Flag.withDescription("their data directories, in the same order, recorded in the cluster file"))),
    acceptDataLoss: Flag.Boolean("accept-data-loss").pipe(
      Flag.withDefault(false),
      Flag.withDescription("required: values chosen only by the lost acceptors are gone, and their addresses may be written again"),
    ),
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      if (!c.acceptDataLoss) {
        throw usage(
          "a forced recovery rebuilds the cluster from the acceptors that remain, fewer than a quorum: values chosen only by the lost ones are gone (and their addresses may be written again), and a lost acceptor that comes back with its data could choose values of its own. Make sure the lost ones can never start again (wipe them), then run this again with --accept-data-loss",
        );
      }
      const target = await resolveTarget(c.conn);
      const start = await startOf(target);
      const lost = ids("--lost", c.lost);
      const newIds = ids("--id", c.id);
      const addresses = c.address.split(",").map((a) => {
        const p = parseAddress(a.trim());
        if (typeof p === "string") throw usage(`--address ${p}`);
        return p.address;
      });
      const dirs = Option.getOrUndefined(c.dataDir)?.split(",");
      if (newIds.length !== lost.length || addresses.length !== lost.length || (dirs && dirs.length !== lost.length)) throw usage("--lost, --id, --address (and --data-dir) name as many acceptors each");
      await reconfigureAndRecord(
        c.json,
        target,
        new Map(dirs ? newIds.map((id, k) => [id, dirs[k]!.trim()] as const) : []),
        (progress) =>
          recoverLostMajority({
            start,
            security: target.security,
            lost,
            by: newIds.map((id, k) => ({ id, address: addresses[k]! })),
            segmentSize: target.segmentSize,
            deadlineMs: Math.max(target.timeoutMs, 10_000),
            progress,
          }),
        (done, file) =>
          `recovered: epoch ${done.configuration.epoch} (${done.spaces} spaces, ${done.addresses} addresses copied from the survivors) in ${done.ms} ms; ${file} names it`,
      );
    }),
).pipe(
  Command.withDescription(
    "Forced recovery of a cluster that lost its majority for good: new acceptors (started with 'worm node --join') take the lost ones' slots, copied from the survivors alone; refused without --accept-data-loss",
  ),
);

export const clusterCommand = Command.make("cluster").pipe(
  Command.withDescription("The cluster's configuration: show it; replace an acceptor (a dead or wiped one) without stopping service; recover from a lost majority"),
  Command.withSubcommands([show, replace, recover]),
);
