/**
 * Replacing an acceptor under load (issue 17): three acceptor processes (`worm node`), this process
 * appending to a log with `--in-flight` appends outstanding (an embedded sequencer, as in
 * bench/log.ts). After `--prefill` entries, acceptor 3's process is killed and its data directory
 * wiped, a replacement starts (`worm node --join`) and the reconfigurer (wor/node/reconfigure.ts)
 * replaces 3 by it; then acceptor 1 is killed and the appends go on for `--after-seconds` on 2 and
 * the replacement. One JSON line per phase: appends/s, latency, the longest stall (the longest gap
 * between two acknowledgments); and one for the replacement: its time and what it copied.
 *
 *   node --import tsx bench/reconfigure.ts [--prefill 100000] [--in-flight 64] [--entry-bytes 100] [--after-seconds 3]
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WormLog } from "../apps/log/node/log-client.ts";
import { SequencerNode } from "../apps/log/node/sequencer-node.ts";
import type { Configuration } from "../wor/core/configuration.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { replaceAcceptor } from "../wor/node/reconfigure.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { emit, round, summarize } from "./lib/stats.ts";
import { killAllWormProcesses, startWormProcess } from "./lib/worm-process.ts";

const { values: flags } = parseArgs({
  options: {
    prefill: { type: "string", default: "100000" },
    "in-flight": { type: "string", default: "64" },
    "entry-bytes": { type: "string", default: "100" },
    "after-seconds": { type: "string", default: "3" },
  },
});
const PREFILL = Number(flags.prefill);
const IN_FLIGHT = Number(flags["in-flight"]);
const AFTER_MS = Number(flags["after-seconds"]) * 1000;
const CLUSTER = "bench-rc";
const SEGMENT = 4_096;
process.on("exit", killAllWormProcesses);

type Phase = "prefill" | "acceptor 3 down" | "replacing" | "replaced" | "acceptor 1 down";

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
let replaced: Awaited<ReturnType<typeof replaceAcceptor>> | undefined;
try {
  await waitFor(() => acked() >= PREFILL);
  enter("acceptor 3 down");
  process.kill(cluster.pid(2), "SIGKILL");
  await rm(join(cluster.dir, "a2"), { recursive: true, force: true });
  const fresh = await startWormProcess(["node", "--id", "3", "--join", "--listen", "127.0.0.1:0", "--cluster-id", CLUSTER, "--data-dir", join(cluster.dir, "a3")], { what: "the replacement" });
  enter("replacing");
  replaced = await replaceAcceptor({ start: epoch0, security: { clusterId: CLUSTER }, retired: 2, by: { id: 3, address: `127.0.0.1:${fresh.ready.port as number}` }, segmentSize: SEGMENT, deadlineMs: 30_000 });
  enter("replaced");
  await new Promise((r) => setTimeout(r, AFTER_MS));
  enter("acceptor 1 down");
  process.kill(cluster.pid(0), "SIGKILL");
  await new Promise((r) => setTimeout(r, AFTER_MS));
  stopping = true;
  await Promise.all(load);
  await fresh.stop();
} finally {
  stopping = true;
  sequencer.close();
  client.close();
  await cluster.stop();
}

const ended = performance.now();
const order: Phase[] = ["prefill", "acceptor 3 down", "replacing", "replaced", "acceptor 1 down"];
let previousAck: number | undefined;
for (const [k, p] of order.entries()) {
  const s = samples.get(p) ?? { lat: [], acks: [] };
  const from = started.get(p)!;
  const to = started.get(order[k + 1]!) ?? ended;
  const acks = [...s.acks].sort((a, b) => a - b);
  let stall = acks.length > 0 ? acks[0]! - (previousAck ?? from) : to - from;
  for (let i = 1; i < acks.length; i++) stall = Math.max(stall, acks[i]! - acks[i - 1]!);
  if (acks.length > 0) previousAck = acks[acks.length - 1];
  emit({ bench: "reconfigure.phase", phase: p, acceptors: 3, in_flight: IN_FLIGHT, secs: round((to - from) / 1000), appends_per_s: round(s.acks.length / ((to - from) / 1000), 0), longest_stall_ms: round(stall), ...summarize(s.lat) });
}
emit({ bench: "reconfigure.replace", acceptors: 3, entries_before: PREFILL, ms: replaced?.ms, spaces: replaced?.spaces, addresses_copied: replaced?.addresses, appends_failed: failed });
