/**
 * LogPlayer delivery delay (issue 13): three acceptor processes on classic-level, the log's
 * sequencer embedded in this process, two shards (classic-level, synced writes) and the player in
 * this process over gRPC. Appends are issued open-loop at `--rate` entries/s (at most `--in-flight`
 * outstanding) for `--seconds`; the delay of an entry is from its append's acknowledgement to the
 * moment its shard's write holding it is synced. One JSON line.
 *
 *   node_modules/.bin/tsx bench/logplayer.ts [--rate 10000] [--seconds 5] [--in-flight 512] [--entry-bytes 100]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WormLog } from "../apps/log/node/log-client.ts";
import { SequencerNode } from "../apps/log/node/sequencer-node.ts";
import { LogPlayer } from "../apps/logplayer/node/player.ts";
import { type ShardServer, startShardServer } from "../apps/logplayer/node/shard-server.ts";
import { ShardStore } from "../apps/logplayer/node/shard-store.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { emit, round, summarize } from "./lib/stats.ts";

const { values: flags } = parseArgs({
  options: {
    rate: { type: "string", default: "10000" },
    seconds: { type: "string", default: "5" },
    "in-flight": { type: "string", default: "512" },
    "entry-bytes": { type: "string", default: "100" },
  },
});
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const IN_FLIGHT = Number(flags["in-flight"]);
const ENTRY_BYTES = Number(flags["entry-bytes"]);
const SHARDS = 2;
/** Appends are issued in ticks of this many milliseconds. */
const TICK_MS = 5;

const cluster = await startProcessCluster(3, "bench-lp");
const dir = await mkdtemp(join(tmpdir(), "bench-lp-"));
const clients: WorClient[] = [];
const client = (): WorClient => {
  const c = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: 3, segmentSize: 4096 });
  clients.push(c);
  return c;
};
const stores: ShardStore[] = [];
const servers: ShardServer[] = [];
let sequencer: SequencerNode | undefined;
let player: LogPlayer | undefined;

try {
  /** log position → when its shard's write holding it was synced. */
  const durableAt = new Map<number, number>();
  for (let s = 0; s < SHARDS; s++) {
    const store = await ShardStore.open(join(dir, `s${s}`));
    const write = store.write.bind(store);
    store.write = async (w) => {
      const receipt = await write(w);
      const now = performance.now();
      for (const r of w.rows) durableAt.set(r.position, now);
      return receipt;
    };
    stores.push(store);
    servers.push(await startShardServer({ store }));
  }
  await WormLog.create(client(), "bench");
  sequencer = new SequencerNode({ client: client(), owner: "bench-lp" });
  const log = new WormLog({ client: client(), log: "bench", tokens: sequencer });
  for (let i = 0; i < 200; i++) await log.append(new Uint8Array(ENTRY_BYTES).fill(i)); // warm up
  const reader = client();
  player = await LogPlayer.start({ client: reader, log: new WormLog({ client: reader, log: "bench" }), group: "bench-player", shards: servers.map((s) => `127.0.0.1:${s.port}`) });

  const ackedAt = new Map<number, number>();
  let issued = 0;
  let inFlight = 0;
  let skipped = 0;
  const total = Math.round(RATE * SECONDS);
  const t0 = performance.now();
  const appends: Promise<void>[] = [];
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
    for (; issued < due; issued++) {
      if (inFlight >= IN_FLIGHT) {
        skipped++;
        continue;
      }
      inFlight++;
      const payload = new Uint8Array(ENTRY_BYTES);
      new DataView(payload.buffer).setUint32(0, issued);
      appends.push(
        log.append(payload).then((a) => {
          inFlight--;
          ackedAt.set(a.slot, performance.now());
        }),
      );
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  await Promise.all(appends);
  const secs = (performance.now() - t0) / 1000;
  const deadline = performance.now() + 30_000;
  while ([...ackedAt.keys()].some((p) => !durableAt.has(p)) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const delays = [...ackedAt].filter(([p]) => durableAt.has(p)).map(([p, t]) => Math.max(0, durableAt.get(p)! - t));
  emit({
    bench: "logplayer.delivery_delay",
    shards: SHARDS,
    entry_bytes: ENTRY_BYTES,
    rate_target_per_s: RATE,
    rate_per_s: round(ackedAt.size / secs, 0),
    skipped_at_in_flight_cap: skipped,
    undelivered: ackedAt.size - delays.length,
    ...summarize(delays),
  });
} finally {
  player?.stop();
  sequencer?.close();
  for (const s of servers) await s.close();
  for (const s of stores) await s.close();
  for (const c of clients) c.close();
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
