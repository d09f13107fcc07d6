// The peer of bench/logplayer.ts (issue 13): NATS JetStream 2.9 (3 servers, R3 file stream) delivering
// the same workload exactly once to the same number of shard processes. Plain ESM JavaScript: our
// package.json does not depend on NATS, so the client is imported from the peers harness's
// node_modules (WORM_PEERS: that harness's compare.sh or its directory), and its nats-cluster.sh starts
// the servers (data under a temporary NATS_DIR, removed at the end).
//
// - Publish: entries of --entry-bytes, entry i to subject lp.s<i mod 2> (the shard), each with a msgID
//   (JetStream's duplicate window makes a retried publish land once), open-loop at --rate (at most
//   --in-flight outstanding); an entry's acknowledgement is its publish's PubAck (stored on a quorum).
// - Shards: each its own process with a durable pull consumer on its subject (explicit ack), batching
//   self-clocked like ours (what arrived during the last write is the next batch), persisting each
//   batch's rows AND the last applied stream sequence in one synced classic-level write (the repo's
//   classic-level), and only then acking each message with ackAck() (the double ack: the server
//   confirms it recorded the ack). Apply times are taken right after the synced write, on the
//   machine-wide monotonic clock, as bench/lib/apply-times-hook.ts does in our shards.
// - Exactly once at the shard: the consumer delivers a subject's messages in stream order, and a
//   redelivery (an ack lost or late) is of a message the shard already received in that order, so the
//   shard drops every message at or below the stream sequence its last synced write recorded.
//
// JSON lines like ours, with "peer": logplayer.delivery_delay, logplayer.sweep_step, logplayer.max_sustained_rate.
//   WORM_PEERS=/path/to/peers node_modules/.bin/node bench/peers/nats-delivery.mjs [--rate 10000] [--seconds 5] [--sweep true]
import { fork, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const PEER = "nats-jetstream-2.9-R3";
const SERVERS = ["127.0.0.1:4221", "127.0.0.1:4222", "127.0.0.1:4223"];
const STREAM = "LP";
const SHARDS = 2;
/** Messages a shard's consumer may hold unacknowledged (ours: PLAYER_DEFAULTS.window, 8,192 items). */
const WINDOW = 8192;
const TICK_MS = 5;
const FLUSH_MS = 100;
const POLL_MS = 100;
const DRAIN_MS_MIN = 10_000;
const STOP_GRACE_MS = 5_000;
const SELF = fileURLToPath(import.meta.url);

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The process runs (Linux: exists and is not a zombie). */
const running = (pid) => {
  if (pid === undefined) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

/** The harness's directory from WORM_PEERS (its compare.sh, or the directory itself). */
function peersDir() {
  const p = process.env.WORM_PEERS;
  if (!p) throw new Error("set WORM_PEERS to the peers harness (its compare.sh or its directory)");
  const abs = resolve(p);
  return statSync(abs).isDirectory() ? abs : dirname(abs);
}

/** The NATS client, from the harness's node_modules. */
async function natsClient(dir) {
  const require = createRequire(join(dir, "package.json"));
  const load = async (name) => {
    try {
      return await import(pathToFileURL(require.resolve(name)).href);
    } catch (e) {
      throw new Error(`${name} is not installed in ${dir} (run its setup.sh): ${e.message}`);
    }
  };
  const transport = await load("@nats-io/transport-node");
  const js = await load("@nats-io/jetstream");
  return { connect: transport.connect ?? transport.default.connect, jetstream: js.jetstream, jetstreamManager: js.jetstreamManager, AckPolicy: js.AckPolicy };
}

function summarize(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 1000) / 1000;
  const at = (q) => r(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN);
  return { n: s.length, p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: r(s[s.length - 1] ?? Number.NaN) };
}

// ---- a shard process: node nats-delivery.mjs shard <index> <db dir> <peers dir> <max ms>
async function shard([index, dbDir, dir, maxMs]) {
  const { ClassicLevel } = await import("classic-level");
  const db = new ClassicLevel(dbDir, { keyEncoding: "utf8", valueEncoding: "view" });
  await db.open();
  const saved = await db.get("state");
  let applied = saved === undefined ? 0 : JSON.parse(new TextDecoder().decode(saved)).seq;
  const nats = await natsClient(dir);
  const nc = await nats.connect({ servers: SERVERS });
  const consumer = await nats.jetstream(nc).consumers.get(STREAM, `lp-s${index}`);
  const messages = await consumer.consume({ max_messages: WINDOW });
  let times = [];
  const flush = () => {
    if (times.length > 0 && process.connected) process.send({ times: Float64Array.from(times) });
    times = [];
  };
  const flusher = setInterval(flush, FLUSH_MS);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    messages.stop();
  };
  process.on("disconnect", stop);
  process.on("message", (m) => m === "stop" && stop());
  setTimeout(stop, Number(maxMs)).unref();

  let queue = [];
  let writing;
  const write = async () => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      const rows = [];
      let last = applied;
      for (const m of batch) {
        if (m.seq <= last) continue; // a redelivery: applied already (the comment at the top)
        rows.push({ type: "put", key: `row:${String(m.seq).padStart(16, "0")}`, value: m.data });
        last = m.seq;
      }
      if (rows.length > 0) {
        rows.push({ type: "put", key: "state", value: new TextEncoder().encode(JSON.stringify({ seq: last })) });
        await db.batch(rows, { sync: true });
        applied = last;
        const t = nowMs();
        for (const r of rows) if (r.key !== "state") times.push(new DataView(r.value.buffer, r.value.byteOffset).getUint32(0), t);
      }
      // Persisted: now ack, each with the server's confirmation (not awaited before the next write).
      Promise.all(batch.map((m) => m.ackAck())).catch((e) => process.stderr.write(`nats shard ${index}: an ack failed: ${e.message}\n`));
    }
    writing = undefined;
  };
  process.send({ ready: true });
  for await (const m of messages) {
    queue.push(m);
    writing ??= write();
  }
  await writing;
  clearInterval(flusher);
  flush();
  await nc.close();
  await db.close();
}

// ---- the bench: cluster, stream, consumers, shard processes, publisher
async function main() {
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
    },
  });
  const IN_FLIGHT = Number(flags["in-flight"]);
  const ENTRY_BYTES = Number(flags["entry-bytes"]);
  const KEEP_UP_P99_MS = Number(flags["keep-up-p99-ms"]);
  if (!(Number(flags["sweep-factor"]) > 1)) throw new Error(`--sweep-factor must be above 1, not ${flags["sweep-factor"]}`);
  const runMaxMs = Number(flags["run-max-seconds"]) * 1000;
  const dir = peersDir();
  const nats = await natsClient(dir);
  const natsDir = mkdtempSync(join(tmpdir(), "bench-nats-"));
  const dbDir = mkdtempSync(join(tmpdir(), "bench-nats-shards-"));
  const cluster = (verb) => spawnSync("bash", [join(dir, "nats-cluster.sh"), verb], { env: { ...process.env, NATS_DIR: natsDir }, stdio: ["ignore", "ignore", "inherit"], timeout: 30_000 });
  const children = [];
  let cleaned = false;
  /** Synchronous, so it also runs from an `exit` handler: kill what is left, stop the servers, remove the data. */
  const cleanUp = () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    const pids = [1, 2, 3].map((n) => {
      try {
        return Number(readFileSync(join(natsDir, `n${n}.pid`), "utf8"));
      } catch {
        return undefined;
      }
    });
    cluster("stop");
    // nats-cluster.sh stop only signals: wait (bounded) until the servers have exited, so the ports are free after us.
    for (let waited = 0; waited < STOP_GRACE_MS && pids.some(running); waited += 100) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    rmSync(natsDir, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
  };
  process.once("exit", cleanUp);
  let aborted = false;
  const abort = (why) => {
    if (aborted) return;
    aborted = true;
    process.stderr.write(`nats-delivery: ${why}; stopping\n`);
    process.exitCode = 1;
    for (const c of children) c.kill("SIGKILL");
  };
  const watchdog = setTimeout(() => abort(`ran past --run-max-seconds ${flags["run-max-seconds"]}`), runMaxMs);
  watchdog.unref();
  process.once("SIGINT", () => abort("SIGINT"));
  process.once("SIGTERM", () => abort("SIGTERM"));

  if (cluster("start").status !== 0) throw new Error("nats-cluster.sh start failed");
  const nc = await nats.connect({ servers: SERVERS });
  try {
    const jsm = await nats.jetstreamManager(nc);
    for (let t = 0; ; t++) {
      try {
        await jsm.streams.add({ name: STREAM, subjects: ["lp.>"], num_replicas: 3, storage: "file", duplicate_window: 120e9 });
        break;
      } catch (e) {
        if (t > 30) throw e;
        await sleep(500);
      }
    }
    for (let s = 0; s < SHARDS; s++) {
      await jsm.consumers.add(STREAM, { durable_name: `lp-s${s}`, filter_subject: `lp.s${s}`, ack_policy: nats.AckPolicy.Explicit, max_ack_pending: WINDOW, ack_wait: 30e9 });
    }
    /** entry → when its shard's synced write holding it completed. */
    const appliedAt = new Map();
    const exited = [];
    for (let s = 0; s < SHARDS; s++) {
      const child = fork(SELF, ["shard", String(s), join(dbDir, `s${s}`), dir, String(runMaxMs)], { serialization: "advanced" });
      children.push(child);
      child.on("error", (e) => process.stderr.write(`nats shard ${s}: ${e.message}\n`));
      exited.push(new Promise((r) => child.once("exit", r)));
      await new Promise((ready, fail) => {
        child.on("message", (m) => {
          if (m.ready) ready();
          if (m.times) for (let i = 0; i < m.times.length; i += 2) appliedAt.set(m.times[i], m.times[i + 1]);
        });
        child.once("exit", (code) => fail(new Error(`nats shard ${s} exited with ${code} before it was ready`)));
      });
    }
    const js = nats.jetstream(nc);
    let next = 0;

    const phase = async (rate, seconds) => {
      const ackedAt = new Map();
      const appendMs = [];
      const publishes = [];
      let issued = 0;
      let inFlight = 0;
      let skipped = 0;
      const total = Math.round(rate * seconds);
      const t0 = performance.now();
      while (issued < total && !aborted) {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
        for (; issued < due; issued++) {
          if (inFlight >= IN_FLIGHT) {
            skipped++;
            continue;
          }
          inFlight++;
          const i = next++;
          const data = new Uint8Array(ENTRY_BYTES);
          new DataView(data.buffer).setUint32(0, i);
          const issuedAt = nowMs();
          publishes.push(
            js.publish(`lp.s${i % SHARDS}`, data, { msgID: `e${i}` }).then(() => {
              inFlight--;
              const t = nowMs();
              ackedAt.set(i, t);
              appendMs.push(t - issuedAt);
            }),
          );
        }
        await sleep(TICK_MS);
      }
      await Promise.all(publishes);
      const secs = (performance.now() - t0) / 1000;
      const drainEnd = performance.now() + Math.max(DRAIN_MS_MIN, seconds * 1000);
      while ([...ackedAt.keys()].some((i) => !appliedAt.has(i)) && performance.now() < drainEnd && !aborted) await sleep(POLL_MS);
      const delays = [];
      for (const [i, t] of ackedAt) if (appliedAt.has(i)) delays.push(Math.max(0, appliedAt.get(i) - t));
      return { achieved: ackedAt.size / secs, skipped, undelivered: ackedAt.size - delays.length, delays, appendP99: summarize(appendMs).p99_ms };
    };
    /** A stopped run reports nothing (its numbers would be of a cut-short measurement). */
    const emit = (o) => aborted || process.stdout.write(`${JSON.stringify({ peer: PEER, ...o })}\n`);
    const shape = { shards: SHARDS, entry_bytes: ENTRY_BYTES, processes: "nats-server x3, shards x2: each its own" };

    await phase(1000, 1); // warm up
    const RATE = Number(flags.rate);
    const m = await phase(RATE, Number(flags.seconds));
    emit({ bench: "logplayer.delivery_delay", ...shape, rate_target_per_s: RATE, rate_per_s: Math.round(m.achieved), skipped_at_in_flight_cap: m.skipped, append_p99_ms: m.appendP99, undelivered: m.undelivered, ...summarize(m.delays) });
    if (flags.sweep === "true") {
      let kept = 0;
      for (let rate = Number(flags["sweep-from"]); rate <= Number(flags["sweep-max"]) && !aborted; rate = Math.round((rate * Number(flags["sweep-factor"])) / 100) * 100) {
        const p = await phase(rate, Number(flags["step-seconds"]));
        const s = summarize(p.delays);
        const keptUp = p.skipped === 0 && p.undelivered === 0 && s.p99_ms <= KEEP_UP_P99_MS;
        emit({ bench: "logplayer.sweep_step", ...shape, rate_target_per_s: rate, rate_per_s: Math.round(p.achieved), skipped_at_in_flight_cap: p.skipped, append_p99_ms: p.appendP99, undelivered: p.undelivered, ...s, kept_up: keptUp });
        if (!keptUp) break;
        kept = rate;
      }
      emit({ bench: "logplayer.max_sustained_rate", ...shape, rate_per_s: kept, keep_up: `no publish skipped at the in-flight cap (${IN_FLIGHT}), all delivered, p99 <= ${KEEP_UP_P99_MS} ms`, step_seconds: Number(flags["step-seconds"]) });
    }
    for (const c of children) if (c.connected) c.send("stop", () => {}); // one already gone: its exit is awaited below
    const grace = setTimeout(() => {
      for (const c of children) c.kill("SIGKILL");
    }, STOP_GRACE_MS);
    await Promise.all(exited);
    clearTimeout(grace);
  } finally {
    await nc.close();
    clearTimeout(watchdog);
    cleanUp();
  }
}

if (process.argv[2] === "shard") await shard(process.argv.slice(3));
else await main();
