/**
 * `worm cluster recover --lost A,B --id C,D --address ... --accept-data-loss`: forced recovery of a
 * cluster that lost its majority for good (wor/node/forced-recovery.ts), refused
 * without the flag that names its risk.
 *
 * `worm cluster show`: the configuration that serves the cluster (docs/ARCHITECTURE.md §3.5), found
 * by following the chain from the cluster file, and each acceptor's state in it. `worm cluster
 * replace --acceptor ID --id NEW --address HOST:PORT`: replace an acceptor (a dead or wiped one, or
 * one moving to another host) by a new one started with `worm node --join`, online
 * (wor/node/reconfigure.ts); then rewrite the cluster file for the new configuration. `worm cluster
 * add --id NEW --address HOST:PORT [--quorum Q]` and `worm cluster remove --acceptor ID [--quorum Q]`
 * add a slot or drop one the same way.
 */
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { CONFIGURATION_SPACE, type Configuration, decodeConfiguration, describeConfiguration } from "../../wor/core/configuration.ts";
import { configurationOf, groupOf, rewriteClusterFile } from "../../wor/node/cluster-config.ts";
import { recoverLostMajority } from "../../wor/node/forced-recovery.ts";
import { type MembershipChange, newestConfiguration, reconfigure } from "../../wor/node/reconfigure.ts";
import { parseAddress } from "../../wor/wire/address.ts";
import type { AcceptorStatus } from "../../wor/wire/admin.ts";
import { type Target, connectionFlags, loadCluster, resolveTarget, withClient } from "./cluster.ts";
import { shortReason } from "../../wor/node/grpc-reason.ts";
import { operational, task, toFailure, usage } from "./errors.ts";
import { WorError } from "../../wor/node/client.ts";
import { printJson, printLine, table, wormCommand } from "./output.ts";
import { withDefaultShown } from "./flags.ts";

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document"));

/** `--group G`: the acceptor group a command works on (docs/ARCHITECTURE.md §3.6; default: main). */
const groupOption = Flag.String("group").pipe(withDefaultShown("the acceptor group of the cluster file (main: its own acceptors)", "main"));

/** The configuration the target names for `group`: the cluster file's acceptors (ids needed) at its epoch. */
async function startOf(target: Target, group: string): Promise<Configuration> {
  if (!target.source) throw usage("this command needs the cluster file (--cluster FILE, $WORM_CLUSTER or a context): it names the acceptors by id");
  const config = await loadCluster(target.source.file);
  if (!groupOf(config, group)) throw usage(`--group ${group}: the cluster file names no such group (its groups: ${["main", ...(config.groups ?? []).map((g) => g.name)].join(", ")})`);
  return configurationOf(config, group);
}

/**
 * Run a reconfiguration (its progress on stderr under --json, so stdout stays one document), then
 * rewrite the cluster file for the configuration it reached and report it.
 */
async function reconfigureAndRecord<D extends { readonly configuration: Configuration }>(
  asJson: boolean,
  target: Target,
  group: string,
  dataDirs: ReadonlyMap<number, string>,
  run: (progress: (line: string) => void) => Promise<D>,
  summary: (done: D, file: string) => string,
): Promise<void> {
  const done = await run((line) => (asJson ? process.stderr.write(`worm: ${line}\n`) : printLine(line)));
  const file = target.source!.file;
  await rewriteClusterFile(file, done.configuration, dataDirs, group);
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

const show = Command.make("show", { group: groupOption, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const target = await resolveTarget(c.conn);
    const start = await startOf(target, c.group);
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
      printJson({ group: c.group, epoch: current.epoch, quorum: current.quorum, acceptors: rows, chain: epochs, clusterFile: { path: target.source?.file, epoch: start.epoch, stale } });
      return;
    }
    printLine(`${c.group === "main" ? "" : `group ${c.group}: `}epoch ${current.epoch}, quorum ${current.quorum} of ${current.acceptors.length}`);
    printLine(table(["slot", "id", "address", "state"], rows.map((r) => [String(r.slot), String(r.id), r.address, r.state])));
    for (const e of epochs) printLine(`  chain: ${describeConfiguration(e)}`);
    if (stale) printLine(`the cluster file (${target.source?.file}) names epoch ${start.epoch}: clients follow the newer one when an acceptor refuses them; the file is rewritten by '${wormCommand()} cluster replace|add|remove'`);
  }),
).pipe(Command.withDescription("Show the configuration serving the cluster (its epoch, acceptors and their state), following the chain from the cluster file"));

/** Make `change` (its progress printed), then rewrite the cluster file; a missing quorum points at the forced recovery. */
async function change(
  c: { readonly json: boolean; readonly group: string; readonly copyRate?: Option.Option<number> },
  target: Target,
  change: MembershipChange,
  dataDirs: ReadonlyMap<number, string>,
  summary: (ms: number, spaces: number, addresses: number) => string,
): Promise<void> {
  const start = await startOf(target, c.group);
  const copyRate = copyRateOf(c.copyRate);
  await reconfigureAndRecord(
    c.json,
    target,
    c.group,
    dataDirs,
    (progress) =>
      reconfigure({ start, security: target.security, change, segmentSize: target.segmentSize, deadlineMs: Math.max(target.timeoutMs, 10_000), progress, ...copyRate }).catch((e: unknown) => {
        // Fewer than a quorum answer: the safe path cannot choose; a majority lost for good has the forced one.
        if (e instanceof WorError && (e.code === "unavailable" || e.code === "timeout") && !e.message.includes("the new acceptor")) {
          throw operational(`${toFailure(e).message}; if the acceptors that do not answer are lost for good, see 'worm cluster recover'`);
        }
        throw e;
      }),
    (done, file) => `${summary(done.ms, done.spaces, done.addresses)}; ${file} now names ${describeConfiguration(done.configuration)}`,
  );
}

/** The new acceptor `--id` at `--address` (its data directory, when given, for the cluster file). */
function newAcceptor(id: number, address: string, dataDir: Option.Option<string>): { readonly by: { readonly id: number; readonly address: string }; readonly dataDirs: Map<number, string> } {
  const parsed = parseAddress(address);
  if (typeof parsed === "string") throw usage(`--address ${parsed}`);
  if (!Number.isSafeInteger(id) || id < 0 || id > 2 ** 31 - 1) throw usage(`--id must be an integer from 0 to ${2 ** 31 - 1} (got ${id})`);
  const dir = Option.getOrUndefined(dataDir);
  return { by: { id, address: parsed.address }, dataDirs: new Map(dir ? [[id, dir]] : []) };
}

const newId = Flag.Int("id").pipe(Flag.withDescription("the new acceptor's id: never used in this cluster before"));
const newAddress = Flag.String("address").pipe(Flag.withDescription("host:port of the new acceptor, already running 'worm node --join'"));
const newDataDir = Flag.optional(Flag.String("data-dir").pipe(Flag.withDescription("the new acceptor's data directory, recorded in the cluster file")));
const quorumFlag = Flag.optional(Flag.Int("quorum").pipe(Flag.withDescription("the quorum of the new configuration (default: a majority)")));
const copyRateFlag = Flag.optional(
  Flag.Int("copy-rate").pipe(Flag.withDescription("addresses per second the copy to the new acceptor takes at most (default: as fast as it goes; lower leaves the clients more of the acceptors, and takes longer)")),
);

/** `--copy-rate N`, checked. */
function copyRateOf(flag: Option.Option<number> | undefined): { readonly copyRate?: number } {
  const rate = flag === undefined ? undefined : Option.getOrUndefined(flag);
  if (rate === undefined) return {};
  if (!Number.isSafeInteger(rate) || rate < 1) throw usage(`--copy-rate must be a positive number of addresses per second (got ${rate})`);
  return { copyRate: rate };
}

const replace = Command.make("replace", { acceptor: Flag.Int("acceptor").pipe(Flag.withDescription("the id of the acceptor that leaves (dead, wiped, or moving)")), id: newId, address: newAddress, dataDir: newDataDir, copyRate: copyRateFlag, group: groupOption, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const target = await resolveTarget(c.conn);
    const { by, dataDirs } = newAcceptor(c.id, c.address, c.dataDir);
    await change(c, target, { kind: "replace", retired: c.acceptor, by }, dataDirs, (ms, spaces, addresses) => `replaced acceptor ${c.acceptor} by ${c.id} in ${ms} ms (${spaces} spaces, ${addresses} addresses copied)`);
  }),
).pipe(
  Command.withDescription(
    "Replace an acceptor by a new one (started with 'worm node --join'), online: choose the next configuration, fence the old one, copy the state, activate; then rewrite the cluster file",
  ),
);

const add = Command.make("add", { id: newId, address: newAddress, dataDir: newDataDir, quorum: quorumFlag, copyRate: copyRateFlag, group: groupOption, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const target = await resolveTarget(c.conn);
    const { by, dataDirs } = newAcceptor(c.id, c.address, c.dataDir);
    const quorum = Option.getOrUndefined(c.quorum);
    await change(c, target, { kind: "add", by, ...(quorum !== undefined ? { quorum } : {}) }, dataDirs, (ms, spaces, addresses) => `added acceptor ${c.id} in ${ms} ms (${spaces} spaces, ${addresses} addresses copied)`);
  }),
).pipe(
  Command.withDescription(
    "Add an acceptor (started with 'worm node --join'), online: choose the next configuration with it in a new slot, fence, copy the state to it, activate; then rewrite the cluster file",
  ),
);

const remove = Command.make("remove", { acceptor: Flag.Int("acceptor").pipe(Flag.withDescription("the id of the acceptor that leaves")), quorum: quorumFlag, group: groupOption, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const target = await resolveTarget(c.conn);
    const quorum = Option.getOrUndefined(c.quorum);
    await change(c, target, { kind: "remove", retired: c.acceptor, ...(quorum !== undefined ? { quorum } : {}) }, new Map(), (ms) => `removed acceptor ${c.acceptor} in ${ms} ms`);
  }),
).pipe(
  Command.withDescription(
    "Remove an acceptor, online: choose the next configuration without it, fence (it is retired and serves no one again); then rewrite the cluster file. Stop it afterwards",
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
    copyRate: copyRateFlag,
    acceptDataLoss: Flag.Boolean("accept-data-loss").pipe(
      Flag.withDefault(false),
      Flag.withDescription("required: values chosen only by the lost acceptors are gone, and their addresses may be written again"),
    ),
    group: groupOption,
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
      const start = await startOf(target, c.group);
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
        c.group,
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
            ...copyRateOf(c.copyRate),
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

const groups = Command.make("groups", { json, conn: connectionFlags }, (c) =>
  task(async () => {
    const target = await resolveTarget(c.conn);
    const names = ["main", ...(target.groups ?? []).map((g) => g.name)];
    const rows = await Promise.all(
      names.map(async (group) => {
        const found = await newestConfiguration(await startOf(target, group), { security: target.security, segmentSize: target.segmentSize, deadlineMs: target.timeoutMs });
        const current = found.configuration;
        const up = current.acceptors.filter((m) => { const s = found.statuses.get(m.id); return s !== undefined && !(s instanceof Error); }).length;
        return { group, epoch: current.epoch, quorum: current.quorum, acceptors: current.acceptors.map((m) => ({ id: m.id, address: m.address })), answering: up };
      }),
    );
    if (c.json) {
      printJson({ groups: rows });
      return;
    }
    printLine(table(["GROUP", "EPOCH", "QUORUM", "ACCEPTORS", "ANSWERING"], rows.map((r) => [r.group, String(r.epoch), `${r.quorum} of ${r.acceptors.length}`, r.acceptors.map((m) => `${m.id}@${m.address}`).join(", "), String(r.answering)])));
    printLine(`a space lives in one group, chosen when it is created ('${wormCommand()} space create NAME --group G', '${wormCommand()} log create NAME --group G'); each group is reconfigured on its own (--group G)`);
  }),
).pipe(Command.withDescription("List the cluster's acceptor groups: each one's configuration (epoch, quorum, acceptors) and how many of its acceptors answer"));

export const clusterCommand = Command.make("cluster").pipe(
  Command.withDescription("The cluster's configuration: show it; replace, add or remove an acceptor without stopping service; recover from a lost majority; list its acceptor groups (--group G works on one)"),
  Command.withSubcommands([show, groups, replace, add, remove, recover]),
);
