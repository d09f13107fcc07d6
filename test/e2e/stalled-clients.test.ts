/**
 * Clients that send requests and never read the replies (issue: one such session took an acceptor
 * from 315 to 643 MB, four to 1.5 GB, and nothing was ever closed or given back). Against a real
 * `worm node` with small session budgets, raw grpc-js sessions ask for large reads and stop reading
 * their replies. The node must stop reading their requests (its RSS stays bounded), close each with
 * RESOURCE_EXHAUSTED once it has stayed backed up past the deadline (and say why on stdout), keep
 * serving a well-behaved client meanwhile, and come back near its baseline RSS once they are gone.
 *
 * RSS is read from /proc/<pid>/status. The node runs without --expose-gc, so its garbage goes only
 * when V8 decides to collect: after the stalled clients leave, the well-behaved client keeps
 * working (as any live cluster does) and the test waits up to `RECOVERY_MS` for RSS to fall within
 * `RECOVERY_TOLERANCE_MB` of the baseline.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import type { ClientFrame } from "../../wor/core/frames.ts";
import { encodeClientFrames } from "../../wor/wire/codec.ts";
import { makeAcceptorClient } from "../../wor/wire/service.ts";
import type { WorClient } from "../../wor/node/client.ts";
import { type NodeHandle, Procs, client, startNode, tempDir, text } from "./harness.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

const MiB = 1 << 20;
const SPACE = "big";
/** 256 addresses of 4 KiB: one read of all of them is a reply of about 1 MiB. */
const ADDRESSES = 256;
const VALUE_BYTES = 4096;
const LIMITS = { sessionBytesMax: 8 * MiB, allSessionsBytesMax: 24 * MiB, backedUpMsMax: 3_000 };
/**
 * RSS over the baseline while the stalled sessions hold on, sustained: the 90th percentile of the
 * samples taken every 50 ms. Seen: 0-90 MB (mostly garbage V8 has not collected yet); before the
 * session budget, one stalled session took the node from 176 to 963 MB within 18 s, climbing all
 * the way. The peak is reported, not bounded: with the test suite running beside it on 2 cores, one
 * run in four or so saw a spike to 460-530 MB (a sample or two, gone by the next; V8's collection
 * starved of CPU is the likely cause, not pinned down).
 */
const STALL_GROWTH_MAX_MB = 200;
/**
 * After they leave, RSS must come within this of the baseline within `RECOVERY_MS`. What a closed
 * session held is garbage then, but only V8's next full collection frees it (a forced gc brings the
 * node back to its baseline to the megabyte); seen left over before one: 0-90 MB.
 */
const RECOVERY_MS = 20_000;
const RECOVERY_TOLERANCE_MB = 128;

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/** A session that keeps asking for every address and never reads an answer. */
function stalledSession(address: string) {
  // Its own connection, like a separate client process.
  const c = new makeAcceptorClient(address, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS, "grpc.use_local_subchannel_pool": 1 });
  const call = c.session();
  // Paused after grpc-js took its first reply: once its buffer of 16 replies is full it stops reading
  // the HTTP/2 stream, and flow control holds the rest at the acceptor.
  call.pause();
  call.read(0);
  const startedAt = performance.now();
  const closed = new Promise<{ error: grpc.ServiceError; afterMs: number }>((resolve) => call.on("error", (error: grpc.ServiceError) => resolve({ error, afterMs: performance.now() - startedAt })));
  let id = 1;
  const reads = (): ClientFrame[] => Array.from({ length: 16 }, () => ({ id: id++, kind: "request", request: { kind: "read", space: SPACE, from: 0, to: ADDRESSES } }));
  const pump = setInterval(() => {
    if (call.writableLength < 16) call.write(encodeClientFrames(reads()));
  }, 5);
  void closed.then(() => clearInterval(pump));
  return {
    closed,
    leave() {
      clearInterval(pump);
      call.cancel();
      c.close();
    },
  };
}

/**
 * A well-behaved client's work while others stall, timed: a write at a fresh address, a read of it,
 * and a read of every large value (the same reads the stalled sessions ask for).
 */
async function serve(c: WorClient, next: { index: number }, until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (!until()) {
    const at = performance.now();
    const index = next.index++;
    const cap = await c.capture(SPACE, index);
    assert.equal(cap._tag, "Captured");
    if (cap._tag === "Captured") assert.equal((await c.write(cap.capture, index, text(`ok-${index}`)))._tag, "Ok");
    assert.equal((await c.read(SPACE, index))._tag, "Written");
    const all = await c.readRange(SPACE, 0, ADDRESSES);
    assert.equal(all.get(ADDRESSES - 1)?._tag, "Written");
    latencies.push(performance.now() - at);
    await sleep(20);
  }
  return latencies;
}

interface Figures {
  readonly stalled: number;
  readonly baselineMb: number;
  readonly sustainedMb: number;
  readonly peakMb: number;
  readonly afterMb: number;
  readonly closedAfterMs: readonly number[];
  readonly slowestServedMs: number;
}

async function stallRound(node: NodeHandle, good: WorClient, next: { index: number }, stalled: number): Promise<Figures> {
  const pid = node.proc.child.pid!;
  const address = `127.0.0.1:${node.port}`;
  // The baseline: the highest RSS while the well-behaved client alone works for a while.
  let baselineMb = 0;
  const warmUntil = performance.now() + 2_000;
  await serve(good, next, () => {
    baselineMb = Math.max(baselineMb, rssMb(pid));
    return performance.now() > warmUntil;
  });
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rssMb(pid)), 50);
  try {
    const closedLinesBefore = node.proc.jsonLines().filter((l) => l.event === "sessionClosed").length;
    const sessions = Array.from({ length: stalled }, () => stalledSession(address));
    let allClosed = false;
    const served = serve(good, next, () => allClosed);
    const closed = await Promise.race([
      Promise.all(sessions.map((s) => s.closed)),
      sleep(LIMITS.backedUpMsMax + 15_000, undefined, { ref: false }),
    ]);
    allClosed = true;
    const latencies = await served;
    for (const s of sessions) s.leave();
    clearInterval(sampler);
    const sorted = [...samples, baselineMb].sort((a, b) => a - b);
    const peakMb = sorted[sorted.length - 1]!;
    const sustainedMb = sorted[Math.floor(0.9 * (sorted.length - 1))]!;
    assert.ok(closed, `the stalled sessions were not closed within ${LIMITS.backedUpMsMax + 15_000} ms (peak RSS ${peakMb.toFixed(0)} MB, baseline ${baselineMb.toFixed(0)} MB)`);
    for (const { error, afterMs } of closed) {
      assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED, `closed with ${error.code}: ${error.details}`);
      assert.ok(afterMs >= LIMITS.backedUpMsMax, `closed after ${afterMs} ms, before the deadline`);
    }
    const lines = node.proc.jsonLines().filter((l) => l.event === "sessionClosed").slice(closedLinesBefore);
    assert.equal(lines.length, stalled, "the node says which sessions it closed");
    for (const l of lines) assert.match(String(l.reason), /left \d+ bytes of replies unread for \d+ ms \(limits: 8388608 bytes per session, 25165824 across sessions/);
    assert.ok(latencies.length > 0, "the well-behaved client was served");
    const slowestServedMs = Math.max(...latencies);
    assert.ok(slowestServedMs < 3_000, `a well-behaved operation took ${slowestServedMs.toFixed(0)} ms`);
    assert.ok(sustainedMb - baselineMb < STALL_GROWTH_MAX_MB, `RSS grew from ${baselineMb.toFixed(0)} to ${sustainedMb.toFixed(0)} MB (90th percentile; peak ${peakMb.toFixed(0)} MB) while ${stalled} sessions stalled`);

    // They left: RSS comes back near the baseline while the node goes on serving.
    let afterMb = rssMb(pid);
    const deadline = performance.now() + RECOVERY_MS;
    let recovered = false;
    await serve(good, next, () => {
      afterMb = rssMb(pid);
      recovered = afterMb - baselineMb < RECOVERY_TOLERANCE_MB;
      return recovered || performance.now() > deadline;
    });
    assert.ok(recovered, `RSS stayed at ${afterMb.toFixed(0)} MB for ${RECOVERY_MS} ms after the stalled clients left (baseline ${baselineMb.toFixed(0)} MB)`);
    return { stalled, baselineMb, sustainedMb, peakMb, afterMb, closedAfterMs: closed.map((c) => Math.round(c.afterMs)), slowestServedMs };
  } finally {
    clearInterval(sampler);
  }
}

test("sessions that never read are paused, closed with RESOURCE_EXHAUSTED past the deadline, and their memory comes back", { timeout: 150_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const args = ["--session-bytes-max", String(LIMITS.sessionBytesMax), "--all-sessions-bytes-max", String(LIMITS.allSessionsBytesMax), "--backed-up-ms-max", String(LIMITS.backedUpMsMax)];
  // glibc keeps freed heap pages mapped unless the free space at its top passes this threshold: set
  // low, RSS follows what the node holds rather than what the allocator kept (the flake this test had).
  const node = await startNode(procs, { id: 1, dataDir: join(dir, "a1"), clusterId: "stall", args, env: { MALLOC_TRIM_THRESHOLD_: String(128 * 1024) } });
  const good = client(t, [`127.0.0.1:${node.port}`], { cache: false, proposerId: 5 });
  await good.createSpace(SPACE);
  const cap = await good.captureRange(SPACE, 0, ADDRESSES);
  assert.equal(cap._tag, "Captured");
  if (cap._tag === "Captured") {
    const entries = Array.from({ length: ADDRESSES }, (_, index) => ({ index, value: new Uint8Array(VALUE_BYTES).fill(index & 0xff) }));
    for (const r of (await good.writeMany(cap.capture, entries)).values()) assert.equal(r._tag, "Ok");
  }
  const next = { index: ADDRESSES };
  for (const stalled of [1, 4]) {
    const f = await stallRound(node, good, next, stalled);
    t.diagnostic(
      `${stalled} stalled: RSS baseline ${f.baselineMb.toFixed(0)} MB, sustained ${f.sustainedMb.toFixed(0)} MB, peak ${f.peakMb.toFixed(0)} MB, after ${f.afterMb.toFixed(0)} MB; ` +
        `closed after ${f.closedAfterMs.join(", ")} ms; slowest well-behaved operation ${f.slowestServedMs.toFixed(0)} ms`,
    );
  }
  assert.ok(node.proc.running, "the node is still up");
});
