/**
 * `worm dev`: a local cluster of N acceptors on classic-level storage under a data directory, and a
 * log sequencer for it (`worm log` uses it by default: consecutive appends land in consecutive
 * slots): all in this process (dev-cluster.ts), or with `--processes` each in its own process
 * (dev-processes.ts), so that one can be stopped and started again. The first run initialises each
 * acceptor's identity; later runs reuse them (and the cluster id, from `<data-dir>/cluster.json`).
 * Writes the cluster file (naming the sequencer), runs a self-check over gRPC (create space `dev`,
 * capture + write + read one register with the cache off), prints a status table (acceptors and
 * sequencer: address, process, state, data; with --processes again whenever a state changes) and
 * serves until SIGINT/SIGTERM, then stops everything it started. With `--kv` it also creates the
 * example KV `kv` and runs a node for each of its partitions (dev-kv.ts), and the self-check puts
 * and gets a key in each partition.
 */
import * as Effect from "effect/Effect";
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { describeMap } from "../kv/node/kv-map.ts";
import { type Target, withClient } from "./cluster.ts";
import { type DevRunning, type StatusRow, displayPath, startDevCluster } from "./dev-cluster.ts";
import { DEV_KV, DEV_KV_PARTITIONS, type KvSelfCheck, kvSelfCheck } from "./dev-kv.ts";
import { restartCommand, startDevProcesses } from "./dev-processes.ts";
import { operational, task } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";
import { printJson, printLine, showValue, table, wormCommand } from "./output.ts";
import { markServing } from "./run.ts";
import { acceptorStatuses, answered } from "./statuses.ts";

const DEV_SPACE = "dev";

export interface SelfCheck {
  readonly space: string;
  readonly address: number;
  readonly value: Uint8Array;
}

/** Create space `dev`, capture + write a fresh address, read it back from a client with no cache. */
export async function selfCheck(target: Target): Promise<SelfCheck> {
  await withClient(target, (c) => c.createSpace(DEV_SPACE));
  let highest = -1;
  for (const s of answered(await acceptorStatuses(target))) for (const x of s.spaces) if (x.name === DEV_SPACE) highest = Math.max(highest, x.highestAccepted);
  const value = new TextEncoder().encode(`self-check ${new Date().toISOString()}`);
  for (let address = highest + 1; address < highest + 1 + 8; address++) {
    const wrote = await withClient(target, async (c) => {
      const cap = await c.capture(DEV_SPACE, address);
      if (cap._tag === "Written") return false; // someone else's value: try the next address
      if (cap._tag !== "Captured") throw operational(`self-check: capture of ${DEV_SPACE}[${address}] gave ${cap._tag}`);
      const w = await c.write(cap.capture, address, value);
      if (w._tag !== "Ok") throw operational(`self-check: write of ${DEV_SPACE}[${address}] gave ${w._tag}`);
      return true;
    });
    if (!wrote) continue;
    const r = await withClient(target, (c) => c.read(DEV_SPACE, address), { cache: false });
    if (r._tag !== "Written" || Buffer.compare(r.value, value) !== 0) throw operational(`self-check: read of ${DEV_SPACE}[${address}] gave ${r._tag}, not the value written`);
    return { space: DEV_SPACE, address, value };
  }
  throw operational(`self-check: ${DEV_SPACE}[${highest + 1}..${highest + 8}] were all written by others`);
}

function statusTable(rows: readonly StatusRow[]): string {
  return table(
    ["PROCESS", "ADDRESS", "PID", "STATE", "DATA"],
    rows.map((r) => [r.role, r.address, r.pid === undefined ? "-" : String(r.pid), r.state, r.data]),
  );
}

function announce(dev: DevRunning, check: SelfCheck, kvCheck: KvSelfCheck | undefined, json: boolean, processes: boolean): void {
  const file = displayPath(dev.clusterFile);
  if (json) {
    for (const a of dev.acceptors) printJson({ event: "listening", acceptorId: a.acceptorId, clusterId: dev.clusterId, host: a.host, port: a.port, dataDir: a.dataDir, pid: a.pid });
    printJson({
      event: "ready",
      clusterId: dev.clusterId,
      clusterFile: dev.clusterFile,
      addresses: dev.target.addresses,
      ...(dev.target.groups ? { groups: dev.target.groups.map((g) => ({ name: g.name, addresses: g.acceptors.map((a) => a.address) })) } : {}),
      sequencer: dev.sequencer,
      ...(dev.kv && kvCheck ? { kv: { name: DEV_KV, partitions: dev.kv.partitions, selfCheck: { keys: kvCheck.map((x) => x.key), ok: true } } } : {}),
      selfCheck: { space: check.space, address: check.address, ok: true },
      processes: dev.status(),
    });
    return;
  }
  const where = processes ? "one process each" : "in this process";
  const groups = dev.target.groups ?? [];
  const grouped = groups.length > 0 ? ` in ${groups.length + 1} groups (main: ${dev.target.acceptorIds.join(", ")}; ${groups.map((g) => `${g.name}: ${g.acceptors.map((a) => a.id).join(", ")}`).join("; ")})` : "";
  const kv = dev.kv ? `, KV ${DEV_KV} (${dev.kv.partitions.length} partition${dev.kv.partitions.length === 1 ? "" : "s"}, a node each)` : "";
  printLine(`worm dev: cluster ${dev.clusterId}, ${dev.acceptors.length} acceptors${grouped} (quorum ${dev.target.quorum}), a log sequencer${kv}, ${where}; segment size ${dev.target.segmentSize}`);
  printLine(statusTable(dev.status()));
  printLine(`cluster file: ${file}`);
  printLine(`self-check passed: wrote ${check.space}[${check.address}] = ${showValue(check.value)} and read it back`);
  if (dev.kv && kvCheck) {
    printLine(`KV ${DEV_KV}: ${describeMap(dev.kv)}`);
    printLine(`KV self-check passed: put ${kvCheck.map((x) => `${x.key} (partition ${x.partition}, revision ${x.revision})`).join(", ")} and got ${kvCheck.length === 1 ? "it" : "each"} back`);
  }
  printLine("");
  const w = wormCommand();
  printLine(`try (or, instead of --cluster: export WORM_CLUSTER=${file}, or '${w} context save dev ${file}' and '${w} context use dev'):`);
  printLine(`  ${w} wor write ${DEV_SPACE} ${check.address + 1} --value hello --cluster ${file}`);
  printLine(`  ${w} wor read ${DEV_SPACE} 0 --to ${check.address + 2} --cluster ${file}`);
  printLine(`  ${w} space create orders --cluster ${file}`);
  printLine(`  ${w} log create events --cluster ${file}`);
  printLine(`  ${w} log append events --data hello --cluster ${file}`);
  printLine(`  ${w} log read events --cluster ${file}`);
  if (groups.length > 0) printLine(`  ${w} log create clicks --group ${groups[0]!.name} --cluster ${file}      # or --stripe main,${groups[0]!.name}`);
  printLine(`  ${w} space list --cluster ${file}`);
  printLine(`  ${w} inspect --cluster ${file} --space ${DEV_SPACE}`);
  if (dev.kv) {
    printLine(`  ${w} kv put greeting hello --cluster ${file}`);
    printLine(`  ${w} kv get greeting --cluster ${file}`);
    printLine(`  ${w} kv range --cluster ${file}`);
    printLine(`  ${w} kv status --cluster ${file}`);
  }
  if (processes) printLine(`stop one with 'kill PID' (or pause it: 'kill -STOP PID'); the table is printed again when a process stops or starts`);
  printLine("");
  printLine("serving; Ctrl-C to stop");
}

/** With --processes: a process stopped, paused, or came back. */
function reportChange(dev: DevRunning | undefined, rows: readonly StatusRow[], changed: readonly StatusRow[], json: boolean): void {
  if (json) {
    printJson({ event: "status", processes: rows });
    return;
  }
  printLine("");
  for (const r of changed) {
    const again = dev && r.state.startsWith("stopped") ? `; start it again with: ${restartCommand(dev, r.role)}` : "";
    printLine(`worm dev: ${r.role} (${r.address}) is ${r.state}${again}`);
  }
  printLine(statusTable(rows));
}

export const devCommand = Command.make(
  "dev",
  {
    dataDir: Flag.String("data-dir").pipe(withDefaultShown("where the acceptors (and the KV nodes) keep their state", ".data/dev")),
    acceptors: Flag.Int("acceptors").pipe(withDefaultShown("how many acceptors (in each group)", 3)),
    groups: Flag.Int("groups").pipe(withDefaultShown("acceptor groups besides the main one (g1, g2, ...), for spaces placed on them: 'worm log create NAME --group g1'", 0)),
    basePort: Flag.Int("base-port").pipe(
      withDefaultShown("acceptor i listens on base-port + i - 1, the log sequencer on the port after the last acceptor's, then the groups' acceptors, then the KV nodes (--kv); 0 picks free ports", 7100),
    ),
    kv: Flag.Boolean("kv").pipe(
      Flag.withDescription(`also create the example KV '${DEV_KV}' and run a node for each of its partitions; try 'worm kv put greeting hello'`),
      Flag.withDefault(false),
    ),
    kvPartitions: Flag.optional(
      Flag.Int("kv-partitions").pipe(Flag.withDescription(`the KV's partitions, 1..${DEV_KV_PARTITIONS.max}, cut evenly over a..z; implies --kv (default: ${DEV_KV_PARTITIONS.default})`)),
    ),
    processes: Flag.Boolean("processes").pipe(
      Flag.withDescription("run each acceptor ('worm node'), the sequencer ('worm log sequencer') and each KV node ('worm kv serve') as its own process, so that one can be stopped"),
      Flag.withDefault(false),
    ),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print JSON lines instead of text")),
  },
  (c) =>
    Effect.acquireUseRelease(
      task(async () => {
        const kvPartitions = c.kv || Option.isSome(c.kvPartitions) ? Option.getOrElse(c.kvPartitions, () => DEV_KV_PARTITIONS.default) : undefined;
        // A partition moved away by `worm kv move`: its node here refuses from now on.
        const kvMoved = (partition: number, why: string) => (c.json ? printJson({ event: "moved", kv: DEV_KV, partition, why }) : printLine(`worm dev: KV ${DEV_KV}: ${why}`));
        const options = { dataDir: c.dataDir, acceptors: c.acceptors, groups: c.groups, basePort: c.basePort, kvMoved, ...(kvPartitions !== undefined ? { kvPartitions } : {}) };
        let running: DevRunning | undefined;
        const dev = c.processes ? await startDevProcesses(options, (rows, changed) => reportChange(running, rows, changed, c.json)) : await startDevCluster(options);
        try {
          const check = await selfCheck(dev.target);
          const kvCheck = dev.kv ? await kvSelfCheck(dev.target, dev.kv) : undefined;
          running = dev;
          return { dev, check, kvCheck };
        } catch (e) {
          await dev.close();
          throw e;
        }
      }),
      ({ dev, check, kvCheck }) =>
        Effect.andThen(
          Effect.sync(() => {
            markServing();
            announce(dev, check, kvCheck, c.json, c.processes);
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
