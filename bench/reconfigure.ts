/**
 * Changing the acceptors under load (issue 17): three acceptor processes (`worm node`), this process
 * appending to a log with `--in-flight` appends outstanding (an embedded sequencer, as in
 * bench/log.ts). After `--prefill` entries, acceptor 3's process is killed and its data directory
 * wiped, a replacement starts (`worm node --join`) and the reconfigurer (wor/node/reconfigure.ts)
 * replaces 3 by it; after `--after-seconds`, a fifth acceptor is added (4 acceptors, quorum 3); then
 * acceptor 2 is removed (3 acceptors, quorum 2) and its process stopped; then acceptor 1 is killed
 * and the appends go on on the replacement and the added one. One JSON line per phase: appends/s,
 * latency, the longest stall (the longest gap between two acknowledgments); and one per change: its
 * time and what it copied.
 *
 *   node --import tsx bench/reconfigure.ts [--prefill 100000] [--in-flight 64] [--entry-bytes 100] [--after-seconds 3] [--copy-rate N]
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WormLog } from "../apps/log/node/log-client.ts";
import { SequencerNode } from "../apps/log/node/sequencer-node.ts";
import type { Configuration } from "../wor/core/configuration.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { reconfigure } from "../wor/node/reconfigure.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { emit, round, summarize } from "./lib/stats.ts";
import { killAllWormProcesses, startWormProcess } from "./lib/worm-process.ts";

const { values: flags } = parseArgs({
  options: {
    prefill: { type: "string", default: "100000" },
    "in-flight": { type: "string", default: "64" },
    "entry-bytes": { type: "string", default: "100" },
    "after-seconds": { type: "string", default: "3" },
    "copy-rate": { type: "string" },
  },
});
const PREFILL = Number(flags.prefill);
const IN_FLIGHT = Number(flags["in-flight"]);
const AFTER_MS = Number(flags["after-seconds"]) * 1000;
/** The copy's pace (addresses/s), or as fast as it goes. */
const COPY_RATE = flags["copy-rate"] === undefined ? {} : { copyRate: Number(flags["copy-rate"]) };
const CLUSTER = "bench-rc";
const SEGMENT = 4_096;
process.on("exit", killAllWormProcesses);

type Phase = "prefill" | "acceptor 3 down" | "replacing" | "replaced" | "adding" | "added" | "removing" | "removed" | "acceptor 1 down";

const cluster = await startProcessCluster(3, CLUSTER);
const epoch0: Configuration = { epoch: 0, quorum: 2, acceptors: cluster.addresses.map((address, id) => ({ id, address })) };
const client = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses, clusterId: CLUSTER }), acceptors: 3, segmentSize: SEGMENT });
const sequencer = new SequencerNode({ client, owner: "bench-rc" });
await WormLog.create(client, "bench", { segmentSize: SEGMENT });
const log = new WormLog({ client, log: "bench", tokens: sequencer });

const samples = new Map<Phase, { lat: number[]; acks: number[] }>();
let phase: Phase = "prefill";
let stopping = false;
let failed = 0;
let next = 0;
const payload = () => {
  const p = new Uint8Array(Number(flags["entry-bytes"]));
  new DataView(p.buffer).setUint32(0, next++);
  return p;
};
const appender = async () => {
  while (!stopping) {
    const at = phase;
    const t0 = performance.now();
    try {
      await log.append(payload());
      const t = performance.now();
      let s = samples.get(at);
      if (!s) samples.set(at, (s = { lat: [], acks: [] }));
      s.lat.push(t - t0);
      s.acks.push(t);
    } catch {
      failed++;
    }
  }
};
const acked = () => [...samples.values()].reduce((n, s) => n + s.acks.length, 0);
const waitFor = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};

const load = Array.from({ length: IN_FLIGHT }, appender);
const started = new Map<Phase, number>([["prefill", performance.now()]]);
const enter = (p: Phase) => {
  phase = p;
  started.set(p, performance.now());
};
const changes: { readonly change: string; readonly done: Awaited<ReturnType<typeof reconfigure>> }[] = [];
const settle = () => new Promise((r) => setTimeout(r, AFTER_MS));
const joiner = (id: number) => startWormProcess(["node", "--id", String(id), "--join", "--listen", "127.0.0.1:0", "--cluster-id", CLUSTER, "--data-dir", join(cluster.dir, `a${id}`)], { what: `new acceptor ${id}` });
const change = async (what: string, start: Configuration, c: Parameters<typeof reconfigure>[0]["change"]) => {
  const done = await reconfigure({ start, security: { clusterId: CLUSTER }, change: c, segmentSize: SEGMENT, deadlineMs: 30_000, ...COPY_RATE });
  changes.push({ change: what, done });
  return done.configuration;
};
const joined: Awaited<ReturnType<typeof joiner>>[] = [];
try {
  await waitFor(() => acked() >= PREFILL);
  enter("acceptor 3 down");
  process.kill(cluster.pid(2), "SIGKILL");
  await rm(join(cluster.dir, "a2"), { recursive: true, force: true });
  joined.push(await joiner(3));
  enter("replacing");
  const epoch1 = await change("replace", epoch0, { kind: "replace", retired: 2, by: { id: 3, address: `127.0.0.1:${joined[0]!.ready.port as number}` } });
  enter("replaced");
  await settle();
  joined.push(await joiner(4));
  enter("adding");
  const epoch2 = await change("add", epoch1, { kind: "add", by: { id: 4, address: `127.0.0.1:${joined[1]!.ready.port as number}` } });
  enter("added");
  await settle();
  enter("removing");
  await change("remove", epoch2, { kind: "remove", retired: 1 });
  process.kill(cluster.pid(1), "SIGTERM");
  enter("removed");
  await settle();
  enter("acceptor 1 down");
  process.kill(cluster.pid(0), "SIGKILL");
  await settle();
  stopping = true;
  await Promise.all(load);
  for (const j of joined) await j.stop();
} finally {
  stopping = true;
  sequencer.close();
  client.close();
  await cluster.stop();
}

const ended = performance.now();
const order: Phase[] = ["prefill", "acceptor 3 down", "replacing", "replaced", "adding", "added", "removing", "removed", "acceptor 1 down"];
const acceptorsIn: Record<Phase, number> = { prefill: 3, "acceptor 3 down": 3, replacing: 3, replaced: 3, adding: 3, added: 4, removing: 4, removed: 3, "acceptor 1 down": 3 };
let previousAck: number | undefined;
for (const [k, p] of order.entries()) {
  const s = samples.get(p) ?? { lat: [], acks: [] };
  const from = started.get(p)!;
  const to = started.get(order[k + 1]!) ?? ended;
  const acks = [...s.acks].sort((a, b) => a - b);
  let stall = acks.length > 0 ? acks[0]! - (previousAck ?? from) : to - from;
  for (let i = 1; i < acks.length; i++) stall = Math.max(stall, acks[i]! - acks[i - 1]!);
  if (acks.length > 0) previousAck = acks[acks.length - 1];
  emit({ bench: "reconfigure.phase", phase: p, acceptors: acceptorsIn[p], in_flight: IN_FLIGHT, secs: round((to - from) / 1000), appends_per_s: round(s.acks.length / ((to - from) / 1000), 0), longest_stall_ms: round(stall), ...summarize(s.lat) });
}
for (const { change: c, done } of changes) {
  emit({ bench: `reconfigure.${c}`, ...(COPY_RATE.copyRate !== undefined ? { copy_rate: COPY_RATE.copyRate } : {}), epoch: done.configuration.epoch, acceptors: done.configuration.acceptors.length, quorum: done.configuration.quorum, entries_before: PREFILL, ms: done.ms, spaces: done.spaces, addresses_copied: done.addresses });
}
emit({ bench: "reconfigure.appends", acked: acked(), appends_failed: failed });
