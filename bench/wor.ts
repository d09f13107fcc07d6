/**
 * Register-layer benchmarks (issue: foundation). Three acceptor processes on classic-level with
 * synced group commit; one client process over gRPC streams. Prints one JSON line per measurement.
 *
 *   npm run bench -- [--n 20000] [--concurrency 64] [--value-bytes 100]
 */
import { parseArgs } from "node:util";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { WorClient } from "../wor/node/client.ts";
import type { Capture } from "../wor/core/results.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { closedLoop, emit, round, summarize } from "./lib/stats.ts";

const { values: flags } = parseArgs({
  options: {
    n: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    "value-bytes": { type: "string", default: "100" },
    "seq-n": { type: "string", default: "2000" },
  },
});
const N = Number(flags.n);
const C = Number(flags.concurrency);
const SEQ = Number(flags["seq-n"]);
const value = new Uint8Array(Number(flags["value-bytes"])).fill(7);
const SEGMENT = 1 << 16;

const cluster = await startProcessCluster(3);
const client = (cacheEntriesMax = 100_000) =>
  new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: 3, segmentSize: SEGMENT, cacheEntriesMax });

async function captured(c: WorClient, space: string, from: number, to: number): Promise<Capture> {
  const r = await c.captureRange(space, from, to);
  if (r._tag !== "Captured") throw new Error(`capture of [${from}, ${to}): ${r._tag}`);
  return r.capture;
}

function check(tag: string): void {
  if (tag !== "Ok") throw new Error(`write: ${tag}`);
}

try {
  const w = client();
  await w.createSpace("bench");
  // Warm up connections and the JIT.
  const warm = await captured(w, "bench", 0, 1000);
  for (let i = 0; i < 1000; i++) check((await w.write(warm, i, value))._tag);

  // 1. Sequential writes, one client, on a range-captured segment (phase 2 only: one round trip).
  {
    const cap = await captured(w, "bench", 1000, 1000 + SEQ);
    const { lat, secs } = await closedLoop(SEQ, 1, async (i) => check((await w.write(cap, 1000 + i, value))._tag));
    emit({ bench: "wor.write.sequential", acceptors: 3, value_bytes: value.length, ...summarize(lat), ops_per_s: round(SEQ / secs, 0) });
  }

  // 2. Writes with C in flight, 3 acceptors, fsync before ack.
  const base = 100_000;
  {
    const cap = await captured(w, "bench", base, base + N);
    const { lat, secs } = await closedLoop(N, C, async (i) => check((await w.write(cap, base + i, value))._tag));
    emit({ bench: "wor.write.concurrent", acceptors: 3, in_flight: C, value_bytes: value.length, ...summarize(lat), ops_per_s: round(N / secs, 0) });
  }

  // 3. Reads of written values, cache off (each read asks the acceptors).
  {
    const r = client(0);
    const { lat, secs } = await closedLoop(N, C, async (i) => {
      const got = await r.read("bench", base + i);
      if (got._tag !== "Written") throw new Error(`read: ${got._tag}`);
    });
    emit({ bench: "wor.read.concurrent", acceptors: 3, in_flight: C, cache: false, ...summarize(lat), ops_per_s: round(N / secs, 0) });
    r.close();
  }

  // 4. Capture + write (two rounds) per address, sequential.
  {
    const from = 10_000_000;
    const { lat } = await closedLoop(SEQ / 2, 1, async (i) => {
      const cap = await captured(w, "bench", from + i, from + i + 1);
      check((await w.write(cap, from + i, value))._tag);
    });
    emit({ bench: "wor.capture_write.sequential", acceptors: 3, ...summarize(lat) });
  }
  w.close();
} finally {
  await cluster.stop();
}
