/**
 * Shared-log benchmarks (issue 4). Three acceptor processes on classic-level with synced group
 * commit, the sequencer embedded (single-writer mode: token free, one write round) or in its own
 * process (`worm log sequencer`: token round trip + write round), appenders in this process over
 * gRPC streams. One JSON line per measurement; the concurrent one says the CPU microseconds this
 * process and each acceptor spent per append (bench/lib/cpu-time.ts).
 *
 *   npm run bench:log -- [--n 20000] [--concurrency 64] [--entry-bytes 100] [--seq-n 2000] [--remote true]
 */
import { parseArgs } from "node:util";
import { WormLog } from "../apps/log/node/log-client.ts";
import { RemoteTokenSource } from "../apps/log/node/remote-tokens.ts";
import { SequencerNode } from "../apps/log/node/sequencer-node.ts";
import type { TokenSource } from "../apps/log/node/token-source.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { CpuMeter } from "./lib/cpu-time.ts";
import { startSequencerProcess, writeClusterFile } from "./lib/sequencer.ts";
import { closedLoop, emit, round, summarize } from "./lib/stats.ts";

const { values: flags } = parseArgs({
  options: {
    n: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    "entry-bytes": { type: "string", default: "100" },
    "seq-n": { type: "string", default: "2000" },
    remote: { type: "string", default: "true" },
  },
});
const N = Number(flags.n);
const C = Number(flags.concurrency);
const SEQ = Number(flags["seq-n"]);
const entry = new Uint8Array(Number(flags["entry-bytes"])).fill(7);
const SEGMENT = 4096;

const cluster = await startProcessCluster(3, "bench-log");
const clients: WorClient[] = [];
const client = (): WorClient => {
  const c = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: 3, segmentSize: SEGMENT });
  clients.push(c);
  return c;
};
const closers: (() => unknown)[] = [];

/** Sequential appends, then `C` in flight, then the subscribe delivery delay, for one sequencer mode. */
async function measure(mode: string, log: WormLog, subscriberLog: WormLog): Promise<void> {
  for (let i = 0; i < 500; i++) await log.append(entry); // warm up connections and the JIT
  {
    const { lat, secs } = await closedLoop(SEQ, 1, async () => void (await log.append(entry)));
    emit({ bench: "log.append.sequential", sequencer: mode, acceptors: 3, entry_bytes: entry.length, ...summarize(lat), ops_per_s: round(SEQ / secs, 0) });
  }
  {
    const roles = new Map<string, number | "self">([["appender", "self"], ...[0, 1, 2].map((i) => [`acceptor${i}`, cluster.pid(i)] as const)]);
    const meter = await CpuMeter.start(roles);
    const { lat, secs } = await closedLoop(N, C, async () => void (await log.append(entry)));
    const cpu = await meter.perOp(N);
    emit({ bench: "log.append.concurrent", sequencer: mode, acceptors: 3, in_flight: C, entry_bytes: entry.length, ...summarize(lat), ops_per_s: round(N / secs, 0), cpu_us_per_append: cpu });
  }
  {
    // Delivery delay: acknowledged → a subscriber (its own client) has it, at C in flight.
    const from = await log.tail();
    const acked = new Map<number, number>();
    const seen = new Map<number, number>();
    const total = Math.min(N, 10_000);
    const sub = (async () => {
      for await (const s of subscriberLog.subscribe(from)) {
        seen.set(s.slot, performance.now());
        if (seen.size >= total) break;
      }
    })();
    const { secs } = await closedLoop(total, C, async () => {
      const a = await log.append(entry);
      acked.set(a.slot, performance.now());
    });
    await sub;
    const delays = [...acked].map(([slot, t]) => Math.max(0, (seen.get(slot) ?? Number.NaN) - t));
    emit({ bench: "log.subscribe.delivery_delay", sequencer: mode, in_flight: C, rate_per_s: round(total / secs, 0), ...summarize(delays) });
  }
}

try {
  const admin = client();
  await WormLog.create(admin, "embedded");
  const embedded = new SequencerNode({ client: client(), owner: "bench-embedded" });
  closers.push(() => embedded.close());
  await measure("embedded", new WormLog({ client: client(), log: "embedded", tokens: embedded }), new WormLog({ client: client(), log: "embedded" }));

  if (flags.remote === "true") {
    await WormLog.create(admin, "remote");
    const seq = await startSequencerProcess(await writeClusterFile(cluster, "bench-log", SEGMENT));
    closers.push(() => seq.stop());
    const tokens: TokenSource = new RemoteTokenSource({ addresses: [seq.address] });
    closers.push(() => tokens.close());
    await measure("process", new WormLog({ client: client(), log: "remote", tokens }), new WormLog({ client: client(), log: "remote" }));
  }
} finally {
  for (const c of closers.reverse()) await c();
  for (const c of clients) c.close();
  await cluster.stop();
}
