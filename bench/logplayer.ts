/**
 * LogPlayer delivery delay (issue 13), every part in its own process as the product runs them:
 * three acceptors (`worm node`, classic-level, synced), two shards (`worm shard serve`, one synced
 * classic-level batch per write) and the player (`worm logplayer run`); this process only appends
 * (the log's sequencer embedded: single-writer mode, as in bench/log.ts) and observes.
 *
 * An entry's delay runs from its append's acknowledgement (taken here) to the moment the shard's
 * synced write holding it completed (taken in the shard's process by bench/lib/apply-times-hook.ts,
 * preloaded into the real `worm shard serve`); both on the machine-wide monotonic clock
 * (bench/lib/apply-times.ts). Appends are issued open-loop at a fixed rate (at most `--in-flight`
 * outstanding; the rest are counted as skipped).
 *
 * JSON lines: `logplayer.delivery_delay` at `--rate` for `--seconds`, and `logplayer.cpu`: the CPU
 * microseconds each process spent per entry in that measurement (its drain included; bench/lib/cpu-time.ts)
 * and their total; then (unless `--sweep false`)
 * one `logplayer.sweep_step` per rate from `--sweep-from`, times `--sweep-factor` (1.25) up to `--sweep-max`, each for
 * `--step-seconds`, until a step does not keep up (an append found `--in-flight` appends outstanding,
 * i.e. the log fell behind the rate; an entry was not applied within the drain bound; or the delay
 * p99 exceeded `--keep-up-p99-ms`: the shards' backlog grew); and
 * `logplayer.max_sustained_rate`: the last target rate that kept up. With `--stages true`, the hook
 * also times when the player's subscription handed it each entry and when its batch reached the
 * shard, and `logplayer.delivery_stages` splits the main measurement's delay into those legs. The peer in the same shape:
 * bench/peers/nats-delivery.mjs (bench/compare.sh runs both).
 *
 *   npx tsx bench/logplayer.ts [--rate 10000] [--seconds 5] [--sweep true] [--step-seconds 5] [--stages false]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WormLog } from "../apps/log/node/log-client.ts";
import { SequencerNode } from "../apps/log/node/sequencer-node.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { CpuMeter } from "./lib/cpu-time.ts";
import { APPLY_TIMES_ENV, ApplyTimes, OFFER_TIMES_ENV, RECEIVE_TIMES_ENV, nowMs } from "./lib/apply-times.ts";
import { type ProcessCluster, startProcessCluster } from "./lib/cluster.ts";
import { writeClusterFile } from "./lib/sequencer.ts";
import { emit as emitLine, round, summarize } from "./lib/stats.ts";
import { type WormProcess, killAllWormProcesses, startWormProcess } from "./lib/worm-process.ts";

const { values: flags } = parseArgs({
  options: {
    rate: { type: "string", default: "10000" },
    seconds: { type: "string", default: "5" },
    "in-flight": { type: "string", default: "4096" },
    "entry-bytes": { type: "string", default: "100" },
    sweep: { type: "string", default: "true" },
    "sweep-from": { type: "string", default: "5000" },
    "sweep-max": { type: "string", default: "160000" },
    "sweep-factor": { type: "string", default: "1.25" },
    "step-seconds": { type: "string", default: "5" },
    "keep-up-p99-ms": { type: "string", default: "500" },
    "run-max-seconds": { type: "string", default: "600" },
    stages: { type: "string", default: "false" },
  },
});
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const IN_FLIGHT = Number(flags["in-flight"]);
const ENTRY_BYTES = Number(flags["entry-bytes"]);
const KEEP_UP_P99_MS = Number(flags["keep-up-p99-ms"]);
if (!(Number(flags["sweep-factor"]) > 1)) throw new Error(`--sweep-factor must be above 1, not ${flags["sweep-factor"]}`);
const SHARDS = 2;
const SEGMENT = 4096;
/** Appends are issued in ticks of this many milliseconds. */
const TICK_MS = 5;
/** How often the apply-times files are read while draining. */
const POLL_MS = 100;
/** After the last append, every entry must be applied within this (or the step's length, if longer). */
const DRAIN_MS_MIN = 10_000;
const HOOK = new URL("./lib/apply-times-hook.ts", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The whole run is bounded: past `--run-max-seconds`, or on SIGINT/SIGTERM, everything is stopped. */
const stopping = new AbortController();
const abort = (why: string) => {
  if (stopping.signal.aborted) return;
  process.stderr.write(`bench/logplayer.ts: ${why}; stopping\n`);
  process.exitCode = 1;
  stopping.abort();
  killAllWormProcesses();
};
/** A stopped run reports nothing (its numbers would be of a cut-short measurement). */
const emit = (record: Record<string, unknown>) => stopping.signal.aborted || emitLine(record);
const watchdog = setTimeout(() => abort(`ran past --run-max-seconds ${flags["run-max-seconds"]}`), Number(flags["run-max-seconds"]) * 1000);
watchdog.unref();
process.once("SIGINT", () => abort("SIGINT"));
process.once("SIGTERM", () => abort("SIGTERM"));
process.once("exit", killAllWormProcesses);

let cluster: ProcessCluster | undefined;
const dir = await mkdtemp(join(tmpdir(), "bench-lp-"));
const clients: WorClient[] = [];
const procs: WormProcess[] = [];
const readers: ApplyTimes[] = [];
/** With --stages: when the player was offered each position, when a shard received it. */
const stageReaders: { offered?: ApplyTimes; received: ApplyTimes[] } = { received: [] };
const STAGES = flags.stages === "true";
let sequencer: SequencerNode | undefined;

interface Phase {
  readonly achieved: number;
  readonly skipped: number;
  readonly undelivered: number;
  readonly delays: number[];
  /** slot → when its append was acknowledged. */
  readonly ackedAt: ReadonlyMap<number, number>;
  /** The appends' own latency (issue → acknowledged), p99. */
  readonly appendP99: number;
}

try {
  cluster = await startProcessCluster(3, "bench-lp");
  const clusterFile = await writeClusterFile(cluster, "bench-lp", SEGMENT);
  const client = (): WorClient => {
    const c = new WorClient({ transport: grpcTransport({ addresses: cluster!.addresses }), acceptors: 3, segmentSize: SEGMENT });
    clients.push(c);
    return c;
  };
  await WormLog.create(client(), "bench");
  const shards: string[] = [];
  for (let s = 0; s < SHARDS; s++) {
    const times = join(dir, `s${s}.times`);
    const received = join(dir, `s${s}.received`);
    const env = { [APPLY_TIMES_ENV]: times, ...(STAGES ? { [RECEIVE_TIMES_ENV]: received } : {}) };
    const p = await startWormProcess(["shard", "serve", "--dir", join(dir, `s${s}`), "--listen", "127.0.0.1:0"], { what: `shard ${s}`, preload: HOOK, env });
    procs.push(p);
    shards.push(`127.0.0.1:${p.ready.port as number}`);
    readers.push(await ApplyTimes.open(times));
    if (STAGES) stageReaders.received.push(await ApplyTimes.open(received));
  }
  const offered = join(dir, "player.offered");
  const playerProbe = STAGES ? { preload: HOOK, env: { [OFFER_TIMES_ENV]: offered } } : {};
  procs.push(await startWormProcess(["logplayer", "run", "--log", "bench", "--shards", shards.join(","), "--cluster", clusterFile], { what: "player", ready: (l) => l.event === "playing", ...playerProbe }));
  if (STAGES) stageReaders.offered = await ApplyTimes.open(offered);
  sequencer = new SequencerNode({ client: client(), owner: "bench-lp" });
  const log = new WormLog({ client: client(), log: "bench", tokens: sequencer });
  let next = 0; // the bench's entry number, in each payload (so entries differ and spread over the shards)
  const payload = () => {
    const p = new Uint8Array(ENTRY_BYTES);
    new DataView(p.buffer).setUint32(0, next++);
    return p;
  };
  const appliedAt = (slot: number): number | undefined => {
    for (const r of readers) {
      const t = r.at.get(slot);
      if (t !== undefined) return t;
    }
    return undefined;
  };

  /** Append at `rate` for `seconds`, then wait until every acknowledged entry is applied (or the drain bound). */
  const phase = async (rate: number, seconds: number): Promise<Phase> => {
    const ackedAt = new Map<number, number>();
    const appendMs: number[] = [];
    const appends: Promise<void>[] = [];
    let issued = 0;
    let inFlight = 0;
    let skipped = 0;
    const total = Math.round(rate * seconds);
    const t0 = performance.now();
    while (issued < total && !stopping.signal.aborted) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      for (; issued < due; issued++) {
        if (inFlight >= IN_FLIGHT) {
          skipped++;
          continue;
        }
        inFlight++;
        const issuedAt = nowMs();
        appends.push(
          log.append(payload()).then((a) => {
            inFlight--;
            const t = nowMs();
            ackedAt.set(a.slot, t);
            appendMs.push(t - issuedAt);
          }),
        );
      }
      await sleep(TICK_MS);
    }
    await Promise.all(appends);
    const secs = (performance.now() - t0) / 1000;
    const drainEnd = performance.now() + Math.max(DRAIN_MS_MIN, seconds * 1000);
    const missing = () => [...ackedAt.keys()].some((slot) => appliedAt(slot) === undefined);
    for (;;) {
      await Promise.all(readers.map((r) => r.poll()));
      if (!missing() || performance.now() > drainEnd || stopping.signal.aborted) break;
      await sleep(POLL_MS);
    }
    const delays: number[] = [];
    for (const [slot, t] of ackedAt) {
      const applied = appliedAt(slot);
      if (applied !== undefined) delays.push(Math.max(0, applied - t));
    }
    return { achieved: ackedAt.size / secs, skipped, undelivered: ackedAt.size - delays.length, delays, ackedAt, appendP99: summarize(appendMs).p99_ms };
  };
  const shape = { shards: SHARDS, entry_bytes: ENTRY_BYTES, processes: "acceptors x3, shards x2, player: each its own" };

  await phase(1000, 1); // warm up connections, the JIT, the player's streams
  const roles = new Map<string, number | "self">([["appender", "self"], ...[0, 1, 2].map((i) => [`acceptor${i}`, cluster!.pid(i)] as const), ...procs.map((p, i) => [i < SHARDS ? `shard${i}` : "player", p.pid] as const)]);
  const meter = await CpuMeter.start(roles);
  const main = await phase(RATE, SECONDS);
  const cpu = await meter.perOp(main.ackedAt.size);
  emit({ bench: "logplayer.delivery_delay", ...shape, rate_target_per_s: RATE, rate_per_s: round(main.achieved, 0), skipped_at_in_flight_cap: main.skipped, append_p99_ms: main.appendP99, undelivered: main.undelivered, ...summarize(main.delays) });
  emit({ bench: "logplayer.cpu", ...shape, rate_target_per_s: RATE, entries: main.ackedAt.size, cpu_us_per_entry: cpu });

  if (STAGES) {
    // The probes flush every 100 ms: one more poll after that, then split each delivered entry's delay.
    await sleep(2 * POLL_MS);
    const { offered: o, received: r } = stageReaders;
    await Promise.all([o!, ...r].map((x) => x.poll()));
    const receivedAt = (slot: number) => r.map((x) => x.at.get(slot)).find((t) => t !== undefined);
    const legs = { ack_to_player: [] as number[], player_to_shard: [] as number[], shard_to_durable: [] as number[] };
    for (const [slot, acked] of main.ackedAt) {
      const [offer, receive, applied] = [o!.at.get(slot), receivedAt(slot), appliedAt(slot)];
      if (offer === undefined || receive === undefined || applied === undefined) continue;
      legs.ack_to_player.push(offer - acked);
      legs.player_to_shard.push(receive - offer);
      legs.shard_to_durable.push(applied - receive);
    }
    const leg = (ms: number[]) => {
      const { n, p50_ms, p99_ms } = summarize(ms);
      return { n, p50_ms, p99_ms };
    };
    emit({ bench: "logplayer.delivery_stages", ...shape, rate_target_per_s: RATE, ack_to_player: leg(legs.ack_to_player), player_to_shard: leg(legs.player_to_shard), shard_to_durable: leg(legs.shard_to_durable) });
  }

  if (flags.sweep === "true") {
    let kept = 0;
    for (let rate = Number(flags["sweep-from"]); rate <= Number(flags["sweep-max"]) && !stopping.signal.aborted; rate = Math.round((rate * Number(flags["sweep-factor"])) / 100) * 100) {
      const p = await phase(rate, Number(flags["step-seconds"]));
      const s = summarize(p.delays);
      const keptUp = p.skipped === 0 && p.undelivered === 0 && s.p99_ms <= KEEP_UP_P99_MS;
      emit({ bench: "logplayer.sweep_step", ...shape, rate_target_per_s: rate, rate_per_s: round(p.achieved, 0), skipped_at_in_flight_cap: p.skipped, append_p99_ms: p.appendP99, undelivered: p.undelivered, ...s, kept_up: keptUp });
      if (!keptUp) break;
      kept = rate;
    }
    emit({ bench: "logplayer.max_sustained_rate", ...shape, rate_per_s: kept, keep_up: `no append skipped at the in-flight cap (${IN_FLIGHT}), all delivered, p99 <= ${KEEP_UP_P99_MS} ms`, step_seconds: Number(flags["step-seconds"]) });
  }
} finally {
  sequencer?.close();
  for (const p of procs.reverse()) await p.stop();
  for (const r of [...readers, ...stageReaders.received, ...(stageReaders.offered ? [stageReaders.offered] : [])]) await r.close();
  for (const c of clients) c.close();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
